"""Prometheus metrics of the HTTP service, with labels that a client cannot multiply.

BentoML's own request metrics label each request with its raw path, so 100 requests to random paths
added 2,000 series (issue 13, defect 12); they are switched off (``metrics.enabled: false`` in
``serving/service.py``) and these take their place:

- ``riskscan_http_requests_total{route, method, status}``;
- ``riskscan_http_request_duration_seconds{route, method}`` (a histogram).

``route`` is one of the service's own routes (:data:`ROUTES`), a page prefix (``/ui/*``, ``/static/*``)
or ``other``; ``method`` is a standard method or ``OTHER``; ``status`` is an HTTP status. So the number of
series is bounded by the service, not by its callers. ``GET /metrics`` needs the admin role
(:mod:`serving.gate`).

The metrics live in a registry of their own, per worker process: with ``RISKSCAN_SERVE_WORKERS`` above 1
a scrape reads the worker that answers it. (prometheus_client's multiprocess mode depends on when it is
first imported relative to BentoML setting ``PROMETHEUS_MULTIPROC_DIR``; in this service it is imported
earlier, so its files would hold BentoML's metrics but not these.)
"""

from __future__ import annotations

import time
from typing import Any, Final

#: The exact paths the service answers; anything else is counted as ``other``.
ROUTES: Final = frozenset(
    {
        "/",
        "/score",
        "/outcome",
        "/reload",
        "/cases",
        "/docs.json",
        "/metrics",
        "/healthz",
        "/livez",
        "/readyz",
    }
)
PREFIXES: Final = ("/ui/", "/static/")
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def route_label(path: str) -> str:
    """The ``route`` label of ``path``: itself when it is one of :data:`ROUTES`, its prefix for a page,
    ``other`` for everything else."""
    if path in ROUTES:
        return path
    for prefix in PREFIXES:
        if path.startswith(prefix):
            return f"{prefix}*"
    return "other"


class Metrics:
    """The service's request counter and latency histogram, made on first use: BentoML sets the
    multiprocess directory in each worker after the service module is imported, and prometheus_client
    picks its storage when a metric is made."""

    def __init__(self) -> None:
        self._made: tuple[Any, Any] | None = None
        self._registry: Any = None
        # Each label combination's counter and histogram child, looked up once: prometheus_client's
        # ``labels()`` takes a lock and checks the names on every call. Bounded like the series themselves.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def _metrics(self) -> tuple[Any, Any]:
        if self._made is None:
            import prometheus_client

            self._registry = prometheus_client.CollectorRegistry()
            self._made = (
                prometheus_client.Counter(
                    "riskscan_http_requests_total",
                    "HTTP requests answered, by route, method and status",
                    ["route", "method", "status"],
                    registry=self._registry,
                ),
                prometheus_client.Histogram(
                    "riskscan_http_request_duration_seconds",
                    "Time from the request to the start of the answer's body",
                    ["route", "method"],
                    registry=self._registry,
                ),
            )
        return self._made

    def observe(self, route: str, method: str, status: int, started: float) -> None:
        """Count one answered request that arrived at ``started`` (``time.perf_counter``)."""
        method = method if method in METHODS else "OTHER"
        children = self._children.get((route, method, status))
        if children is None:
            requests, duration = self._metrics()
            children = (
                requests.labels(route=route, method=method, status=str(status)),
                duration.labels(route=route, method=method),
            )
            self._children[route, method, status] = children
        counter, histogram = children
        counter.inc()
        histogram.observe(time.perf_counter() - started)

    @property
    def content_type(self) -> str:
        import prometheus_client

        return str(prometheus_client.CONTENT_TYPE_LATEST)

    def exposition(self) -> bytes:
        """The text exposition of this worker's metrics."""
        import prometheus_client

        self._metrics()
        return bytes(prometheus_client.generate_latest(self._registry))
