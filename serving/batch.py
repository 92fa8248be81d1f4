"""``riskscan score-batch``: score a whole caseload with the champion, flag up to capacity, log everything.

Steps: validate the whole table against the register (every bad value reported, nothing scored when any
is bad), route cases the scan must not score, score everyone in one vectorised pass, select signals by
threshold but never more than capacity allows for the period the caseload covers, add the random control
draws, explain only the selected cases (TreeSHAP costs far more than a prediction), and append every
scored case to the hash-chained decision log, chunk by chunk with a progress bar.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from features.pipeline import Routing, route
from features.register import FeatureRegister, default_register
from models import registry
from models.gate import blocking_rulings
from models.scorer import ScanModel
from models.specs import ScanSpec, load_spec
from riskscan.errors import Refusal
from serving.log import BatchColumns
from serving.scoring import ModelRef, control_draws, control_key
from serving.store import ServingStore

LOG_CHUNK = 5_000  # short write locks, so API requests on the same log are not held up
# The output file's explanations: json.dumps(..., ensure_ascii=False), with one encoder for all rows
# instead of a new one per call (json.dumps makes one whenever it is given options).
_OUTPUT_JSON = json.JSONEncoder(ensure_ascii=False).encode


@dataclass
class BatchResult:
    rows: int
    scored: int
    routed: int
    signals: int
    controls: int
    capped_by_capacity: int
    output: Path
    model: dict[str, Any]
    seconds: dict[str, float]


def capacity_limit(frame: pd.DataFrame, time_column: str, per_week: int) -> int:
    """Signals allowed for the period the caseload covers (one week if it carries no dates)."""
    if time_column not in frame.columns or frame.empty:
        return per_week
    days = (frame[time_column].max() - frame[time_column].min()).days + 1
    return per_week * max(1, math.ceil(days / 7))


def select_signals(scores: np.ndarray, threshold: float, limit: int) -> np.ndarray:
    """Scores at or above the threshold, highest first, at most ``limit`` of them."""
    above = np.flatnonzero(scores >= threshold)
    if len(above) > limit:
        order = np.argsort(-scores[above], kind="stable")
        above = above[order[:limit]]
    selected = np.zeros(len(scores), dtype=bool)
    selected[above] = True
    return selected


def champion(scan: str, governance: Any) -> tuple[ScanModel, ModelRef]:
    withdrawal = governance.active_withdrawal(scan)
    if withdrawal is not None:
        raise Refusal(f"scan '{scan}' was withdrawn on {withdrawal.created_at:%Y-%m-%d}: {withdrawal.reason}")
    mv = registry.version_by_alias(scan, registry.CHAMPION)
    if mv is None:
        raise Refusal(f"scan '{scan}' has no champion; promote an approved version first")
    ruled = blocking_rulings(scan, str(mv.version), governance.rulings())
    if ruled:
        raise Refusal(
            f"scan '{scan}': champion version {mv.version} was trained on column '{ruled[0].column_name}', "
            f"which {ruled[0].sentence} found unlawful; nothing was scored"
        )
    promotions = [p for p in governance.promotions(scan) if p.version == str(mv.version)]
    ref = ModelRef(
        registry.model_name(scan),
        str(mv.version),
        mv.tags.get("audit_sha256"),
        promotions[-1].decision_id if promotions else None,
    )
    return registry.load_scan_model(scan, mv.version), ref


def score_batch(
    spec: ScanSpec,
    frame: pd.DataFrame,
    output: Path,
    *,
    model: ScanModel,
    ref: ModelRef,
    store: ServingStore,
    register: FeatureRegister | None = None,
    top_n: int = 5,
    progress: bool = True,
    clock: Callable[[], float] | None = None,
    dask_scheduler: str | None = None,
    signals_allowed: int | None = None,
) -> BatchResult:
    """Score, select, explain and log one caseload; write the scores to ``output``.

    At most the scan's national capacity for the days the caseload covers is selected by the threshold
    (:func:`capacity_limit`). A caller scoring a *sample* of the national caseload passes
    ``signals_allowed``, its share of that capacity (the stay-abroad scenario does, week by week); random
    control draws come on top either way.
    """
    import time

    now = clock or time.perf_counter
    register = register or default_register()
    table = register.tables[spec.table]
    timings: dict[str, float] = {}
    start = now()
    if table.key not in frame.columns:
        raise Refusal(f"input has no key column '{table.key}'")
    if frame[table.key].duplicated().any():
        duplicated = frame.loc[frame[table.key].duplicated(), table.key].head(3).tolist()
        raise Refusal(f"key column '{table.key}' repeats values, e.g. {duplicated}")
    model.features.validate(frame, key_column=table.key)
    routing = route(frame, spec.id, register)
    cases = routing.scored
    timings["validate"] = now() - start

    start = now()
    encoded: np.ndarray | None = None
    if dask_scheduler is None:
        encoded = model.encode(cases, validate=False)
        margin = model.raw_margin(encoded)
        scores = model.calibration.apply(margin)
    else:
        # Scores are computed partition by partition on the cluster; selection, control draws,
        # explanations and the decision log stay here, below, unchanged (serving/batch_dask.py).
        from serving.batch_dask import score_on_dask

        scores = score_on_dask(model, cases, dask_scheduler)
    keys = cases[table.key].astype(str).to_numpy()
    limit = (
        capacity_limit(cases, table.time, spec.capacity.investigations_per_week)
        if signals_allowed is None
        else signals_allowed
    )
    by_threshold = select_signals(scores, model.threshold, limit)
    capped = int((scores >= model.threshold).sum() - by_threshold.sum())
    key = control_key()
    draws = control_draws(key, spec.id, keys.tolist())
    control = draws < spec.random_control_share
    signal = by_threshold | control
    timings["score"] = now() - start

    start = now()
    explanations = _explanations(model, cases, encoded, signal, register, top_n)
    inputs_frame = cases[model.features.names]
    timings["explain"] = now() - start

    start = now()
    bar = tqdm(total=len(cases), desc=f"logging {spec.id}", unit="case", disable=not progress)
    request_ids = store.append_batch(
        _log_columns(spec, model, ref, inputs_frame, keys, (scores, signal, control, draws), explanations),
        chunk_rows=LOG_CHUNK,
        progress=bar.update,
    )
    bar.close()
    timings["log"] = now() - start

    start = now()
    _write_scores(
        output, table.key, keys, request_ids, (scores, signal, control, draws), explanations, routing
    )
    timings["write"] = now() - start
    return BatchResult(
        rows=len(frame),
        scored=len(cases),
        routed=len(routing.routed),
        signals=int(signal.sum()),
        controls=int(control.sum()),
        capped_by_capacity=capped,
        output=output,
        model=ref.as_dict(),
        seconds=timings,
    )


Explanations = dict[int, tuple[list[dict[str, Any]], float | None]]


def _explanations(
    model: ScanModel,
    cases: pd.DataFrame,
    encoded: np.ndarray | None,
    signal: np.ndarray,
    register: FeatureRegister,
    top_n: int,
) -> Explanations:
    """The ``top_n`` contributions and the base value of every selected case, by row position.

    Vectorised: the top contributions of every explained row at once, then plain dicts. Sentences and
    display values are for screens (serving/web/_worklist.py builds them when a case is shown).
    """
    explain_rows = np.flatnonzero(signal)
    if not len(explain_rows):
        return {}
    contributions, base_values = model.explain(_encoded_rows(model, cases, encoded, explain_rows))
    names = model.encoded_names
    labels = [register[name].label for name in names]
    order = np.argsort(-np.abs(contributions), axis=1, kind="stable")
    if top_n > 0:
        order = order[:, :top_n]
    values = cases[names].iloc[explain_rows]
    columns = [_plain_column(values[name]) for name in names]
    return {
        int(position): (
            [
                {
                    "feature": names[i],
                    "label": labels[i],
                    "value": columns[i][slot],
                    "contribution": float(contributions[slot, i]),
                }
                for i in order[slot]
            ],
            float(base_values[slot]),
        )
        for slot, position in enumerate(explain_rows)
    }


def _log_columns(
    spec: ScanSpec,
    model: ScanModel,
    ref: ModelRef,
    inputs_frame: pd.DataFrame,
    keys: np.ndarray,
    selection: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    explanations: Explanations,
) -> BatchColumns:
    """Every scored case for the decision log, as columns, not one LogEntry per row: the store checks
    what rows share once, serialises the inputs column by column and hands back request ids only
    (ServingStore.append_batch; the same rows and hashes)."""
    scores, signal, control, draws = selection
    return BatchColumns(
        scan=spec.id,
        model_name=ref.name,
        model_version=ref.version,
        threshold=model.threshold,
        margin_scale=model.margin_scale,
        audit_sha256=ref.audit_sha256,
        decision_id=ref.decision_id,
        case_ids=keys.tolist(),
        inputs={name: _log_column(inputs_frame[name]) for name in inputs_frame.columns},
        scores=scores,
        signal=signal,
        control=control,
        control_draws=draws,
        explanations=explanations,
    )


def _write_scores(
    output: Path,
    key: str,
    keys: np.ndarray,
    request_ids: list[str],
    selection: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    explanations: Explanations,
    routing: Routing,
) -> None:
    """The output file: a row per scored case, with its request id, then a row per routed case."""
    scores, signal, control, draws = selection
    explained = np.full(len(keys), None, dtype=object)  # filled for the explained rows only
    for row, (explanation, _) in explanations.items():
        explained[row] = _OUTPUT_JSON(explanation)
    result = pd.DataFrame(
        {
            key: keys,
            "request_id": request_ids,
            "score": scores,
            "signal": signal,
            "control": control,
            "control_draw": draws,
            "explanation": explained,
            "routed_to": None,
        }
    )
    if len(routing.routed):
        routed = pd.DataFrame(
            {key: routing.routed[key].astype(str).to_numpy(), "routed_to": routing.destination}
        )
        result = pd.concat([result, routed], ignore_index=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    result.to_parquet(output, index=False)


def _encoded_rows(
    model: ScanModel, cases: pd.DataFrame, encoded: np.ndarray | None, rows: np.ndarray
) -> np.ndarray:
    """Encoded inputs of ``rows``; on the Dask path nothing was encoded here, so only these are encoded."""
    return encoded[rows] if encoded is not None else model.encode(cases.iloc[rows], validate=False)


def _plain_column(series: pd.Series) -> list[Any]:
    """A column as JSON-ready Python values (numpy scalars to Python, NaN to None)."""
    return series.astype(object).where(series.notna(), None).tolist()


def _log_column(series: pd.Series) -> np.ndarray | list[Any]:
    """An input column for the decision log: plain numpy numbers as they are (the store encodes them
    vectorised), anything else (categories, dates, nullable types) as JSON-ready Python values."""
    if isinstance(series.dtype, np.dtype) and series.dtype.kind in "biuf":
        return series.to_numpy()
    return _plain_column(series)


def run_batch(
    scan: str,
    input_path: Path,
    output: Path,
    *,
    progress: bool = True,
    dask_scheduler: str | None = None,
) -> BatchResult:
    from models.governance import GovernanceStore

    spec = load_spec(scan)
    frame = pd.read_parquet(input_path)
    governance = GovernanceStore()
    model, ref = champion(scan, governance)
    return score_batch(
        spec,
        frame,
        output,
        model=model,
        ref=ref,
        store=ServingStore(),
        progress=progress,
        dask_scheduler=dask_scheduler,
    )
