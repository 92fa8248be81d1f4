"""The bare alternative to riskscan's service: what a user would write to serve the same champion with BentoML.

``POST /score`` takes riskscan's own request body (``{"scan", "cases", "top_n"}``), builds the feature
rows and returns LightGBM's calibrated score and ``pred_contrib`` for each case (:class:`PlainModel`): no
validation, no authentication, no decision log. LightGBM predicts on ``BENCH_LIGHTGBM_THREADS`` threads
(default 1, as riskscan serves; 0 is LightGBM's default). ``POST /noop`` takes the same body and does
nothing: the HTTP floor of any BentoML endpoint (HTTP, the framework, parsing the body).

The same traffic settings and one worker, like riskscan's service. The model folder (``plain_model.py``'s
files) is named by ``BENCH_PLAIN_MODEL``; the benchmark writes it from the champion and runs
``bentoml serve bare_service:Bare --working-dir benchmarks/_serving``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import bentoml
from plain_model import THREADS_ENV, PlainModel

MODEL_ENV = "BENCH_PLAIN_MODEL"


@bentoml.service(
    name="bare", traffic={"timeout": 60, "concurrency": 64}, workers=1, metrics={"enabled": False}
)
class Bare:
    def __init__(self) -> None:
        self.model = PlainModel(Path(os.environ[MODEL_ENV]), int(os.environ.get(THREADS_ENV, "1")))

    @bentoml.api(route="/score")
    def score(self, scan: str, cases: list[dict[str, Any]], top_n: int = 5) -> dict[str, Any]:
        return {"scan": scan, "results": self.model.score(cases)}

    @bentoml.api(route="/noop")
    def noop(self, scan: str, cases: list[dict[str, Any]], top_n: int = 5) -> dict[str, Any]:
        return {}
