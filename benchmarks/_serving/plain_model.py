"""The champion as a user without riskscan would serve it: LightGBM's text model, the category codes and
the Platt calibration, read from a folder of plain files, and nothing else.

The bare BentoML service (``bare_service.py``) and the plain MLflow pyfunc (``plain_pyfunc.py``) both
score with this class, so the two anchors do the same work: build the feature row from the JSON case,
``predict(raw_score=True)``, calibrate, ``predict(pred_contrib=True)``. No validation, no authentication,
no decision log, no explanation labels. This module imports only numpy and LightGBM (the servers load it
from this folder); :func:`export_plain` is called by the benchmark, which has the project's ``ScanModel``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np

if TYPE_CHECKING:
    from models.scorer import ScanModel

BOOSTER_FILE = "booster.txt"
META_FILE = "plain.json"
THREADS_ENV = "BENCH_LIGHTGBM_THREADS"  # 0: LightGBM's default (all cores); default 1, as riskscan serves


def export_plain(model: ScanModel, directory: Path) -> Path:
    """Write ``model``'s booster, category codes (from the fitted pipeline) and calibration to ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    model.booster.save_model(str(directory / BOOSTER_FILE))
    columns = []
    for _, transformer, names in model.preprocessor.transformers_:
        if transformer == "drop":
            continue
        categories = getattr(transformer, "categories_", None)
        for index, name in enumerate(names):
            codes = None if categories is None else {str(v): code for code, v in enumerate(categories[index])}
            columns.append({"name": name, "codes": codes})
    meta = {
        "columns": columns,
        "slope": model.calibration.slope,
        "intercept": model.calibration.intercept,
    }
    (directory / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    return directory


class PlainModel:
    """Score and contributions of JSON cases, the few lines a user would write around a booster."""

    def __init__(self, directory: Path, threads: int = 1) -> None:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        self.booster = lgb.Booster(model_file=str(directory / BOOSTER_FILE))
        self.columns: list[tuple[str, dict[str, int] | None]] = [
            (c["name"], c["codes"]) for c in meta["columns"]
        ]
        self.slope, self.intercept = float(meta["slope"]), float(meta["intercept"])
        self.params: dict[str, Any] = {"num_threads": threads} if threads > 0 else {}

    def rows(self, cases: list[dict[str, Any]]) -> np.ndarray:
        out = np.empty((len(cases), len(self.columns)), dtype=np.float64)
        for row, case in enumerate(cases):
            for col, (name, codes) in enumerate(self.columns):
                value = case.get(name)
                if codes is not None:
                    out[row, col] = codes.get(str(value), math.nan)
                else:
                    out[row, col] = math.nan if value is None else float(value)
        return out

    def score(self, cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = self.rows(cases)
        margin = np.asarray(self.booster.predict(rows, raw_score=True, **self.params))
        scores = 1.0 / (1.0 + np.exp(-(self.slope * margin + self.intercept)))
        contributions = np.asarray(self.booster.predict(rows, pred_contrib=True, **self.params))
        names = [name for name, _ in self.columns]
        return [
            {
                "case_id": case.get("case_id"),
                "score": float(s),
                "contributions": dict(zip(names, c[:-1].tolist(), strict=True)),
                "base_value": float(c[-1]),
            }
            for case, s, c in zip(cases, scores, contributions, strict=True)
        ]
