"""Scoring cases with a champion: calibrated score, signal, random-control draw and exact explanation.

Shared by the BentoML service (one case per request) and the batch job (a whole caseload), so both
produce the same result for the same case.

The random control sample is drawn per case with a keyed hash: ``draw = HMAC-SHA256(key, scan|case_id)``
read as a number in [0, 1), and the case is a control case when ``draw < share``. The draw is logged with
every score. Keyed, because staff must not be able to predict which cases are controls; deterministic,
because an auditor holding the key can recompute every draw and prove the sample was random.
"""

from __future__ import annotations

import functools
import hashlib
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from features.register import FeatureRegister, default_register
from models.scorer import ScanModel
from riskscan import home
from riskscan.errors import InvalidInput

SIGNAL_NOTICE_NL = (
    "Een signaal is een selectie voor onderzoek, geen besluit. Een medewerker beoordeelt de zaak en neemt pas "
    "een besluit na hoor en wederhoor."
)
SIGNAL_NOTICE_EN = (
    "A signal selects a case for investigation; it is not a decision. A person decides, "
    "after hearing the client."
)
CONTROL_KEY_ENV = "RISKSCAN_CONTROL_KEY"
SMALL_REQUEST = 64  # cases; up to this many are scored on RISKSCAN_PREDICT_THREADS threads (default 1)
PREDICT_THREADS_ENV = "RISKSCAN_PREDICT_THREADS"


@functools.cache
def small_request_threads() -> int:
    """LightGBM threads for a request of at most ``SMALL_REQUEST`` cases: ``RISKSCAN_PREDICT_THREADS``,
    default 1; 0 is LightGBM's own default (an OpenMP team over every core).

    One, because a second OpenMP thread doubles the CPU of a one-row predict and, when the other core is
    busy, turns 0.1 ms into 3-4 ms; a setting, so the default can be measured against the alternative
    (benchmarks/bench_serving.py serves both). Read once per process.
    """
    value = os.environ.get(PREDICT_THREADS_ENV, "1")
    if not value.isdigit():
        raise InvalidInput(
            f"{PREDICT_THREADS_ENV} must be a whole number of threads (0 = LightGBM's default), got {value!r}",
            field=PREDICT_THREADS_ENV,
            value=value,
        )
    return int(value)


def control_key() -> bytes:
    """The secret key of the control draw: RISKSCAN_CONTROL_KEY, else a key file made once in the home folder."""
    configured = os.environ.get(CONTROL_KEY_ENV)
    if configured:
        return configured.encode("utf-8")
    path: Path = home.home() / "control.key"
    if not path.exists():
        # Created in one step (O_EXCL), complete or not at all: several service workers start at once,
        # and two keys would make their draws disagree. A worker that loses the race reads the winner's.
        partial = path.with_name(f".control.key.{os.getpid()}.{secrets.token_hex(4)}")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(secrets.token_hex(32))
        try:
            os.link(partial, path)  # fails if another process made the key first
        except FileExistsError:
            pass
        finally:
            partial.unlink()
    return path.read_text(encoding="utf-8").strip().encode("utf-8")


@functools.lru_cache(maxsize=16)
def _hmac_states(key: bytes, scan: str) -> tuple[Any, Any]:
    """HMAC-SHA256 (RFC 2104) of ``key`` with the ``scan|`` prefix already absorbed: the inner and outer
    hash states, to be copied per case. Half the cost of ``hmac.new`` per draw (the batch job draws one
    per case, so a million per run); the result is the same (a test checks it against ``hmac``)."""
    block = hashlib.sha256().block_size
    if len(key) > block:
        key = hashlib.sha256(key).digest()
    key = key.ljust(block, b"\0")
    inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
    inner.update(f"{scan}|".encode())
    outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))
    return inner, outer


def control_draw(key: bytes, scan: str, case_id: str) -> float:
    """``HMAC-SHA256(key, scan|case_id)``, its first 8 bytes read as a number in [0, 1)."""
    inner_state, outer_state = _hmac_states(key, scan)
    inner = inner_state.copy()
    inner.update(case_id.encode())
    outer = outer_state.copy()
    outer.update(inner.digest())
    return int.from_bytes(outer.digest()[:8], "big") / 2**64


def control_draws(key: bytes, scan: str, case_ids: Iterable[str]) -> np.ndarray:
    """:func:`control_draw` of many cases, in one loop without a call per case (the batch job draws a
    million); the same numbers (a test checks both)."""
    inner_state, outer_state = _hmac_states(key, scan)
    from_bytes, scale = int.from_bytes, 2**64
    draws = []
    for case_id in case_ids:
        inner = inner_state.copy()
        inner.update(case_id.encode())
        outer = outer_state.copy()
        outer.update(inner.digest())
        draws.append(from_bytes(outer.digest()[:8], "big") / scale)
    return np.array(draws, dtype=np.float64)


@dataclass(frozen=True)
class ModelRef:
    """Which model produced a score, and what allowed it to be served."""

    name: str
    version: str
    audit_sha256: str | None
    decision_id: int | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "version": self.version,
            "audit_sha256": self.audit_sha256,
            "decision_id": self.decision_id,
        }


@dataclass
class ScoredCase:
    case_id: str
    inputs: dict[str, Any]
    score: float
    signal: bool
    control: bool
    control_draw: float
    explanation: list[dict[str, Any]]
    base_value: float | None
    margin: float
    rest_contribution: float | None  # the sum of contributions not listed (top_n), so the parts add up
    margin_scale: str  # the model's: the units of margin, base value and contributions


def explanation_entries(
    model: ScanModel, record: dict[str, Any], contributions: np.ndarray, top_n: int, register: FeatureRegister
) -> list[dict[str, Any]]:
    """Contributions sorted by absolute size, with the register's Dutch label and a Dutch sentence."""
    order = np.argsort(-np.abs(contributions), kind="stable")
    if top_n > 0:
        order = order[:top_n]
    names = model.encoded_names
    entries = []
    for index, contribution in zip(order.tolist(), contributions[order].tolist(), strict=True):
        name = names[index]
        column = register[name]
        value = record[name]
        shown = column.display_value(value)
        direction = "verhoogt" if contribution > 0 else ("verlaagt" if contribution < 0 else "verandert niet")
        entries.append(
            {
                "feature": name,
                "label": column.label,
                "value": value,
                "display_value": shown,
                "contribution": contribution,
                "sentence": f"{column.label}: {shown} {direction} de score",
            }
        )
    return entries


def score_records(
    model: ScanModel,
    records: Sequence[dict[str, Any]],
    *,
    control_share: float,
    key: bytes,
    top_n: int = 5,
    register: FeatureRegister | None = None,
) -> list[ScoredCase]:
    """Score validated cases, each with its explanation."""
    register = register or default_register()
    encoded = model.encode_records(list(records))
    # A few rows: one thread by default (small_request_threads says why); a caseload: every core.
    threads = small_request_threads() if len(records) <= SMALL_REQUEST else 0
    margin = model.raw_margin(encoded, num_threads=threads)
    scores = model.calibration.apply(margin)
    contributions, base_values = model.explain(encoded, num_threads=threads)
    inputs = model.features.names
    results = []
    for row, record in enumerate(records):
        case_id = str(record["case_id"])
        draw = control_draw(key, model.scan, case_id)
        control = draw < control_share
        own = contributions[row]
        explanation = explanation_entries(model, record, own, top_n, register)
        base_value = float(base_values[row])
        rest = float(own.sum() - sum(e["contribution"] for e in explanation))
        results.append(
            ScoredCase(
                case_id=case_id,
                inputs={name: record[name] for name in inputs},
                score=float(scores[row]),
                signal=bool(scores[row] >= model.threshold or control),
                control=control,
                control_draw=draw,
                explanation=explanation,
                base_value=base_value,
                margin=float(margin[row]),
                rest_contribution=rest,
                margin_scale=model.margin_scale,
            )
        )
    return results


def result_json(case: ScoredCase, request_id: str, model_ref: ModelRef, threshold: float) -> dict[str, Any]:
    """The public JSON of one scored case."""
    return {
        "case_id": case.case_id,
        "request_id": request_id,
        "score": case.score,
        "signal": case.signal,
        "control": case.control,
        "threshold": threshold,
        "explanation": [
            {k: e[k] for k in ("feature", "label", "value", "contribution", "sentence")}
            for e in case.explanation
        ],
        "base_value": case.base_value,
        "margin": case.margin,
        "rest_contribution": case.rest_contribution,
        "explanation_scale": case.margin_scale,
        "model": model_ref.as_dict(),
        "notice": SIGNAL_NOTICE_NL,
        "notice_en": SIGNAL_NOTICE_EN,
    }
