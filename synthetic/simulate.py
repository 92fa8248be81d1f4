"""A month of synthetic WW applications through the platform, for the demo and the tests of the jobs.

Synthetic data only: the generator draws a month of new applications (with its hidden truth), the
month is added to the source extract, the champion scores it day by day through the batch scorer (so
every case is in the decision log with the time it was scored), and simulated staff record outcomes for
the selected cases from the hidden truth, the way real staff would record what they found:

* ``assessed_share`` of the selected cases is investigated (the rest is never assessed);
* of those, ``heard_share`` is finished after hoor en wederhoor, recording the true violation; the others
  are closed without hearing the client, which can only be recorded as "no violation";
* an outcome is recorded ``days_to_outcome`` days after the case was scored.

``drift`` changes the month's population the way a labour market can: higher daily wages (indexation)
and more settlements by mutual consent instead of economic dismissal. Monitoring should see it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.register import default_register
from features.sources import MANIFEST_FILE, SourceTable, file_sha256, read_source
from models.governance import GovernanceStore
from models.specs import load_spec
from riskscan.jsonio import write_json
from serving.batch import champion, score_batch
from serving.history import logged_cases
from serving.store import ServingStore
from synthetic.config import GeneratorConfig
from synthetic.generator import generate_applications


@dataclass(frozen=True)
class TrafficConfig:
    month: str = "2025-01"
    n_cases: int = 4_000
    drift: bool = True
    wage_indexation: float = 1.4  # daily wages up 40%, capped at the register's maximum
    settlement_shift: float = 0.8  # this share of economic dismissals become settlements by mutual consent
    assessed_share: float = 0.9
    heard_share: float = 0.95
    days_to_outcome: int = 21
    seed: int = 2025


@dataclass(frozen=True)
class TrafficSummary:
    month: str
    cases: int
    scored: int
    signals: int
    controls: int
    outcomes: int
    violations: int
    unheard: int
    never_assessed: int
    first_scored: str
    last_outcome: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _month_of_applications(config: TrafficConfig, id_offset: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    table = generate_applications(
        GeneratorConfig(
            start=config.month, end=config.month, n_applications=config.n_cases, n_periods=1, seed=config.seed
        )
    )
    frame, truth = table.frame.copy(), table.truth.copy()
    # New applications get new numbers, after every number in the extract.
    new_ids = pd.array([f"A{id_offset + i:09d}" for i in range(1, len(frame) + 1)], dtype="string")
    frame["aanvraag_id"], truth["aanvraag_id"] = new_ids, new_ids
    frame["persoon_id"] = pd.array([f"M{config.seed}-{i}" for i in range(len(frame))], dtype="string")
    # Selection now happens through the platform: the historical selection columns say "not selected";
    # the decision log and its outcomes say what happened.
    frame["onderzocht"] = False
    frame["controlesteekproef"] = False
    frame["maatregel_vw"] = pd.array([pd.NA] * len(frame), dtype="boolean")
    if config.drift:
        rng = np.random.default_rng(config.seed)
        maximum = default_register()["dagloon"].max or 300.0
        frame["dagloon"] = np.minimum(frame["dagloon"] * config.wage_indexation, maximum).round(2)
        reason = frame["reden_einde_dienstverband"].astype(str)
        shift = (reason == "bedrijfseconomisch").to_numpy() & (
            rng.random(len(frame)) < config.settlement_shift
        )
        reason[shift] = "wederzijds_goedvinden"
        frame["reden_einde_dienstverband"] = pd.Categorical(
            reason, categories=frame["reden_einde_dienstverband"].cat.categories
        )
    return frame, truth


def _append_to_extract(source: SourceTable, month: pd.DataFrame) -> None:
    """The monthly refresh of the source extract: last month's applications are added."""
    data_dir, table = source.path.parent, source.name
    extract = pd.concat([source.frame, month], ignore_index=True)
    path = source.path
    extract.to_parquet(path, index=False)
    manifest_path = data_dir / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["tables"][table]["sha256"] = file_sha256(path)
    manifest["tables"][table]["rows"] = len(extract)
    manifest.setdefault("refreshes", []).append({"table": table, "added_rows": len(month)})
    write_json(manifest_path, manifest)


class SimulatedClock:
    """The simulated time the store stamps rows with (``simulate-month`` and the stay-abroad scenario set
    it to when a case was scored, or an outcome recorded)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def simulate_month(
    data_dir: Path,
    work_dir: Path,
    config: TrafficConfig | None = None,
    *,
    progress: Callable[[str], None] = print,
) -> TrafficSummary:
    """Run a month of VW applications through the champion and record simulated outcomes."""
    config = config or TrafficConfig()
    spec = load_spec("vw")
    key = default_register().tables[spec.table].key
    source = read_source(data_dir, spec.table)
    existing = source.frame[key].astype(str)
    offset = int(existing.str[1:].astype(np.int64).max())
    # The champion first: a month refused for want of a champion must leave the extract as it was.
    model, ref = champion("vw", GovernanceStore())
    month, truth = _month_of_applications(config, offset)
    _append_to_extract(source, month)
    progress(
        f"[simulate] {len(month)} applications of {config.month} added to the extract (drift: {config.drift})"
    )

    clock = SimulatedClock()
    with ServingStore(clock=clock) as store:
        days = month[default_register().tables[spec.table].time].dt.normalize()
        for day, cases in month.groupby(days, sort=True):
            stamp = pd.Timestamp(day)
            clock.now = stamp.to_pydatetime().replace(tzinfo=UTC) + timedelta(hours=9)
            output = work_dir / f"scores-{stamp:%Y%m%d}.parquet"
            score_batch(spec, cases, output, model=model, ref=ref, store=store, progress=False)
        start = datetime.strptime(config.month, "%Y-%m").replace(tzinfo=UTC)
        logged = logged_cases(store, "vw", start=start - timedelta(days=1), end=start + timedelta(days=40))
        logged = logged.loc[logged["case_id"].isin(month[key].astype(str))]
        selected = logged.loc[logged["signal"] | logged["control"]]
        truly_violated = truth.set_index(key)["violation"].reindex(selected["case_id"]).to_numpy(dtype=bool)
        rng = np.random.default_rng(config.seed + 1)
        assessed = rng.random(len(selected)) < config.assessed_share
        heard = rng.random(len(selected)) < config.heard_share
        outcomes = violations = unheard = 0
        last = start
        # Outcomes are recorded under a token's identity; the simulated staff get one of their own per run.
        _, staff = store.create_token(name=f"simulated staff {config.month}", role="handhaving")
        scored_at: list[datetime] = [moment.to_pydatetime() for moment in selected["created_at"]]
        request_ids: list[str] = selected["request_id"].astype(str).tolist()
        for i, request_id in enumerate(request_ids):
            if not assessed[i]:
                continue
            is_heard = bool(heard[i])
            found = bool(truly_violated[i]) and is_heard
            clock.now = scored_at[i] + timedelta(days=config.days_to_outcome)
            last = max(last, clock.now)
            store.record_outcome(
                recorded_by=staff,
                request_id=request_id,
                violation=found,
                sanction="maatregel verwijtbare werkloosheid" if found else None,
                hoor_en_wederhoor=bool(is_heard),
                notes="synthetic outcome from the generator's hidden truth",
            )
            outcomes += 1
            violations += int(found)
            unheard += int(not is_heard)
    summary = TrafficSummary(
        month=config.month,
        cases=len(month),
        scored=len(logged),
        signals=int(logged["signal"].sum()),
        controls=int(logged["control"].sum()),
        outcomes=outcomes,
        violations=violations,
        unheard=unheard,
        never_assessed=int((~assessed).sum()),
        first_scored=logged["created_at"].min().isoformat(),
        last_outcome=last.isoformat(),
    )
    progress(
        f"[simulate] scored {summary.scored}: {summary.signals} selected ({summary.controls} at random); "
        f"{summary.outcomes} outcomes recorded ({summary.violations} violations, {summary.unheard} without "
        f"hoor en wederhoor), {summary.never_assessed} never assessed"
    )
    return summary
