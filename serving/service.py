"""The riskscan BentoML service: ``riskscan serve`` starts it on port 3000.

API endpoints (BentoML ``@bentoml.api``, JSON, bearer token in ``Authorization``):

* ``POST /score``: score cases with the scan's champion, with exact TreeSHAP explanations; every case
  is logged before the answer leaves. Machine-to-machine: roles ``systeem`` (the case-management
  system) and ``admin`` only; enforcement staff (``handhaving``) get 403.
* ``POST /outcome``: record an investigation's result against a ``request_id``.
* ``POST /reload``: reload the champions (admin).

The contract of ``/score`` with its caller: the answer holds the score, the threshold, the control flag
and the explanation. The calling system uses them to route the case (a signal or a control case goes to
the worklist) and keeps them for audit, and **never shows any of them to the investigator**: the random
control sample is only a fair measure of the model if staff cannot tell a control case from a signal and
investigate both alike (``serving/web/_worklist.py`` says what the staff pages show instead). The control
flag stays in the decision log and is visible to the committee and admin (``GET /cases``).

``GET /cases`` and the web pages (``/ui/...``) are a FastAPI app mounted in the same service. BentoML's
own ``/healthz``, ``/livez`` and ``/readyz`` and the OpenAPI document ``/docs.json`` need no token;
``/metrics`` needs the admin role. Every request first passes :class:`serving.gate.Gate`: overload
(503 with ``Retry-After``), method (405 with ``Allow``), the token (401/403, before the body is read),
the body size (413) and the strict request models of :mod:`serving.requests` (422, each field named).
Both answer errors through one table (serving/http_errors.py): a refusal gets its status and a JSON body
that says what was wrong; only a bug ends in a 500, with its traceback in the server log and not in the
answer.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Final, cast

import bentoml
from starlette.responses import JSONResponse, Response

from riskscan.jsonio import json_safe
from serving.auth import Authenticator, check_role
from serving.evidence import ServiceAnchors, anchor_interval
from serving.gate import CALLER, VALIDATED, Gate, positive_int_env
from serving.http_errors import answer
from serving.runtime import ScanRuntime
from serving.tokens import TokenRecord
from serving.web import build_app

log = logging.getLogger("riskscan.serving")
web_app = build_app()

WORKERS_ENV = "RISKSCAN_SERVE_WORKERS"


def _workers() -> int:
    """Worker processes: RISKSCAN_SERVE_WORKERS, default 1.

    More workers are safe for the decision log (each appends under the store's append lock, which reads
    the last link inside the write transaction, so the chain stays linear across processes) and share
    one control key, but ``POST /reload`` reaches only the worker that receives it; the others notice a
    withdrawal within ``REFRESH_SECONDS``. On the 2-core development machine a second worker did not
    help: the load generator and other jobs already use the second core (benchmarks/bench_serving.py
    ``--workers 2``: 164 req/s and p99 89 ms against 187 req/s and p99 72 ms with one).
    """
    return positive_int_env(WORKERS_ENV, 1)


#: What Starlette's ``JSONResponse`` writes (compact, UTF-8, no NaN), with the encoder built once.
_ENCODE: Final = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


def _json(body: dict[str, Any]) -> Response:
    """An API answer as a finished response, which BentoML sends as it is (with the context's status).

    Returned as a dict, BentoML would validate it against the annotation, build that annotation's JSON
    schema again to pick a media type, and serialize it through pydantic: 0.22 ms of CPU for each ``/score``
    answer (measured in-process on the 2-core machine; this takes 0.01 ms). The annotations
    therefore say ``Any``; the documented answers are in serving/openapi.py, not derived from them.

    The answer is built of plain Python values, so it is encoded as it is; only one that holds something
    JSON cannot say (a NaN, a numpy value, a date) is made JSON-safe first (:func:`json_safe`), which
    walks the whole answer: the same bytes either way, and the walk cost 0.01-0.02 ms a ``/score`` answer.
    """
    try:
        content = _ENCODE(body)
    except (TypeError, ValueError):
        content = _ENCODE(json_safe(body))
    return Response(content.encode("utf-8"), media_type=JSONResponse.media_type)


def _from_gate(ctx: bentoml.Context, key: str) -> Any:
    """What the gate left in the request's state under ``key`` (:mod:`serving.gate`), or None without it."""
    return ctx.request.scope.get("state", {}).get(key)


def _fail(ctx: bentoml.Context, error: Exception, route: str) -> Response:
    """The table's answer to ``error``: its status and headers on the response, its JSON body returned."""
    ctx.response.status_code, body, headers = answer(error, f"POST {route}")
    for name, value in headers.items():
        ctx.response.headers[name] = value
    return _json(body)


@bentoml.asgi_app(web_app, path="/")
@bentoml.service(
    name="riskscan",
    traffic={"timeout": 60, "concurrency": 64},
    workers=_workers(),
    http={"port": 3000},
    # BentoML's request metrics label by raw path (unbounded); serving/metrics.py counts instead.
    metrics={"enabled": False, "namespace": "bentoml_service"},
)
class RiskScan:
    def __init__(self) -> None:
        self.runtime = ScanRuntime()
        self.auth = Authenticator(self.runtime.store)
        web_app.state.runtime = self.runtime
        web_app.state.auth = self.auth
        # Each worker anchors the evidence heads when they moved (serving/evidence.py); a daemon thread.
        self.anchors = ServiceAnchors(self.runtime.store.engine, anchor_interval()).start()
        log.info("riskscan serving: %s", self.runtime.status())

    @bentoml.on_shutdown
    def _anchor_at_shutdown(self) -> None:
        """A worker that stops anchors the heads a last time, so its newest rows are not left unanchored."""
        self.anchors.stop()

    def __is_ready__(self) -> bool:
        """BentoML's ``/readyz``: not ready while the evidence database cannot be reached (nothing could be
        logged, so nothing could be scored); ready again as soon as it answers, without a restart."""
        return self.runtime.store.reachable()

    def _guard(self, ctx: bentoml.Context, action: str) -> TokenRecord:
        """The caller's token, if its role may do ``action``; the identity evidence is recorded under.

        The gate authenticated the request before its body was read and left the token's record in the
        request's state (:data:`serving.gate.CALLER`): its role is checked again here, the token not
        looked up again. Without it (the gate not in front) the token is authenticated here."""
        caller = _from_gate(ctx, CALLER)
        if isinstance(caller, TokenRecord):
            return check_role(caller, action)
        token = self.auth.token_from_header(ctx.request.headers.get("authorization"))
        return self.auth.require(token, action)

    @bentoml.api(route="/score")
    def score(self, scan: str, cases: list[dict[str, Any]], ctx: bentoml.Context, top_n: int = 5) -> Any:
        """Score cases. Each result: score (calibrated probability), signal, control, explanation
        (exact TreeSHAP contributions in log-odds, Dutch labels), base_value, model. A signal selects a
        case for investigation; it is not a decision."""
        try:
            self._guard(ctx, "score")
            validated = getattr(_from_gate(ctx, VALIDATED), "cases", None)
            return _json(self.runtime.score(scan, cases, top_n, validated=validated))
        except Exception as error:
            return _fail(ctx, error, "/score")

    @bentoml.api(route="/outcome")
    def outcome(
        self,
        request_id: str,
        violation: bool,
        hoor_en_wederhoor: bool,
        investigator: str,
        ctx: bentoml.Context,
        sanction: str | None = None,
        notes: str = "",
    ) -> Any:
        """Record the result of an investigation. A violation needs hoor en wederhoor first. The outcome
        is recorded under the caller's token; ``investigator`` is only the name shown."""
        try:
            caller = self._guard(ctx, "outcome")
            record = self.runtime.store.record_outcome(
                recorded_by=caller,
                request_id=request_id,
                violation=violation,
                sanction=sanction,
                hoor_en_wederhoor=hoor_en_wederhoor,
                investigator=investigator,
                notes=notes,
            )
            return _json({"outcome": record.as_dict()})
        except Exception as error:
            return _fail(ctx, error, "/outcome")

    @bentoml.api(route="/reload")
    def reload(self, ctx: bentoml.Context) -> Any:
        """Reload every scan's champion (after a promotion or withdrawal). Admin only."""
        try:
            self._guard(ctx, "reload")
            return _json({"scans": self.runtime.reload()})
        except Exception as error:
            return _fail(ctx, error, "/reload")


# Every request passes the gate first: overload, method, token, body size, strict body (serving/gate.py).
cast("bentoml.Service[Any]", RiskScan).add_asgi_middleware(Gate, authenticator=lambda: web_app.state.auth)
