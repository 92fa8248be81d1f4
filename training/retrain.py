"""The retraining job: a challenger from history plus the outcomes staff recorded, never a promotion.

The training table is the current source extract (every case, with its audit-only attributes for the
audit that follows) in which, for each case the platform scored, selection and label come from the
decision log and its outcomes instead of the historical columns:

==============================================  ===========  ==================  =======================
logged case                                     onderzocht   label               selectiekans
==============================================  ===========  ==================  =======================
not selected (no signal, not drawn)             False        unknown             (not used)
selected, outcome heard (hoor en wederhoor)     True         the violation       1, or the control share
selected, outcome without hoor en wederhoor     False        unknown             (not used)
selected, no outcome                            False        unknown             (not used)
scored less than ``maturity_days`` before       False        unknown (censored)  (not used)
the as-of date (outcomes still coming in)
==============================================  ===========  ==================  =======================

Why:

- *Hoor en wederhoor.* An investigation that did not hear the client is not finished; its finding is
  evidence of nothing, in either direction, so it is not a label (and the database refuses a violation
  without it anyway).
- *Censored windows.* The spec's excluded windows (COVID) stay excluded by the temporal split. The most
  recent ``maturity_days`` are censored too: their quick outcomes are a biased subset of the outcomes to
  come, and their missing outcomes are not "no violation".
- *Weights.* A case above the threshold was selected with probability 1; a case below it only through the
  random control draw, with probability ``random_control_share``. Inverse-probability weighting (the
  spec's ``inverse_probability_weighting``) then lets each random-control case stand for the
  unselected cases like it, which is what keeps the feedback loop of "investigate what the model flags,
  learn from what was investigated" from closing.

Idempotent: the job fingerprints what it would train on (source extract, spec, register, the labels it
derived, the seed). A version carrying that fingerprint means there is nothing new; the job then only
makes sure that version is audited and is the challenger. It never moves the ``champion`` alias.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from features.register import FeatureRegister, default_register
from features.sources import MANIFEST_FILE, SourceTable, file_sha256, read_source
from models import registry
from models.specs import ScanSpec
from riskscan.errors import Conflict, InvalidInput
from training.train import train_scan

#: Columns retraining needs from the decision log (see serving.history.logged_cases).
LOGGED_COLUMNS = (
    "case_id",
    "created_at",
    "signal",
    "control",
    "score",
    "threshold",
    "outcome_recorded",
    "violation",
    "hoor_en_wederhoor",
)
FINGERPRINT_TAG = "retrain_fingerprint"


@dataclass(frozen=True)
class LabelAccounting:
    """Where every logged case went; printed by the job and kept with the version."""

    logged_cases: int
    not_in_source: int
    selected: int
    selected_control: int
    labelled: int
    labelled_violations: int
    labelled_control: int
    without_hoor_en_wederhoor: int
    never_assessed: int
    censored_recent: int
    cutoff: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RetrainResult:
    scan: str
    version: str
    reused: bool
    fingerprint: str
    data_dir: Path
    accounting: LabelAccounting
    training: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "scan": self.scan,
            "version": self.version,
            "reused": self.reused,
            "fingerprint": self.fingerprint,
            "data_dir": str(self.data_dir),
            "accounting": self.accounting.as_dict(),
            "training": self.training,
        }


def maturity_cutoff(as_of: date, maturity_days: int) -> datetime:
    """Cases scored at or after this moment are censored: their outcomes are still coming in."""
    return datetime.combine(as_of - timedelta(days=maturity_days), time(0), tzinfo=UTC)


def _one_row_per_case(logged: pd.DataFrame) -> pd.DataFrame:
    """A case may be scored more than once (a correction, a rescore): the row that carries an outcome
    counts, else the first scoring, which is the one that selected or did not select it."""
    ordered = logged.assign(_has_outcome=logged["outcome_recorded"]).sort_values(
        ["_has_outcome", "created_at"], ascending=[False, True], kind="stable"
    )
    return ordered.drop_duplicates("case_id").drop(columns="_has_outcome")


def assemble_training_table(
    spec: ScanSpec,
    source: pd.DataFrame,
    logged: pd.DataFrame,
    *,
    as_of: date,
    register: FeatureRegister | None = None,
) -> tuple[pd.DataFrame, LabelAccounting]:
    """The source extract with selection and labels of logged cases taken from the platform (table above)."""
    register = register or default_register()
    missing = [c for c in LOGGED_COLUMNS if c not in logged.columns]
    if missing:
        raise InvalidInput(f"the logged cases lack the columns {', '.join(missing)}")
    key = register.tables[spec.table].key
    label = spec.label.column
    cutoff = maturity_cutoff(as_of, spec.outcomes.maturity_days)
    cases = _one_row_per_case(logged)
    in_source = cases["case_id"].isin(source[key])
    cases = cases.loc[in_source]

    selected = (cases["signal"] | cases["control"]).to_numpy(dtype=bool)
    mature = (cases["created_at"] < cutoff).to_numpy(dtype=bool)
    recorded = cases["outcome_recorded"].to_numpy(dtype=bool)
    heard = cases["hoor_en_wederhoor"].fillna(False).to_numpy(dtype=bool)
    violation = cases["violation"].fillna(False).to_numpy(dtype=bool)
    labelled = selected & mature & recorded & heard
    control_only = cases["control"].to_numpy(dtype=bool) & (
        cases["score"].to_numpy(dtype=float) < cases["threshold"].to_numpy(dtype=float)
    )

    platform = pd.DataFrame(
        {
            "onderzocht": labelled,
            "controlesteekproef": cases["control"].to_numpy(dtype=bool) & labelled,
            "selectiekans": np.where(control_only, spec.random_control_share, 1.0),
            label: pd.array(np.where(labelled, violation, False), dtype="boolean"),
        },
        index=pd.Index(cases["case_id"].astype(str), name=key),
    )
    platform.loc[~labelled, label] = pd.NA

    table = source.copy()
    position = table[key].astype(str)
    hit = position.isin(platform.index).to_numpy()
    rows = platform.reindex(pd.Index(position[hit]))
    for column in ("onderzocht", "controlesteekproef", "selectiekans"):
        table.loc[hit, column] = rows[column].to_numpy()
    table[label] = table[label].astype("boolean")
    table.loc[hit, label] = rows[label].to_numpy()

    accounting = LabelAccounting(
        logged_cases=len(in_source),
        not_in_source=int((~in_source).sum()),
        selected=int(selected.sum()),
        selected_control=int(cases["control"].sum()),
        labelled=int(labelled.sum()),
        labelled_violations=int((labelled & violation).sum()),
        labelled_control=int((labelled & cases["control"].to_numpy(dtype=bool)).sum()),
        without_hoor_en_wederhoor=int((selected & mature & recorded & ~heard).sum()),
        never_assessed=int((selected & mature & ~recorded).sum()),
        censored_recent=int((selected & ~mature).sum()),
        cutoff=cutoff.isoformat(),
    )
    return table, accounting


def fingerprint(spec: ScanSpec, source: SourceTable, table: pd.DataFrame, seed: int) -> str:
    """What a retrained version is a function of; equal fingerprints mean equal training data."""
    label = spec.label.column
    key = default_register().tables[spec.table].key
    derived = table[[key, "onderzocht", "controlesteekproef", "selectiekans", label]]
    digest = hashlib.sha256()
    for part in (source.sha256, spec.content_hash, default_register().content_hash, str(seed)):
        digest.update(part.encode("utf-8"))
    digest.update(pd.util.hash_pandas_object(derived, index=False).to_numpy().tobytes())
    return digest.hexdigest()


def _write_table(table: pd.DataFrame, source: SourceTable, out_dir: Path, fp: str) -> SourceTable:
    """The assembled table as a source table of its own (Parquet plus manifest), so that the training run
    and the audit read the very same file, by hash."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{source.name}.parquet"
    table.to_parquet(path, index=False)
    manifest = {
        "derived_from": {"table": source.name, "sha256": source.sha256, "path": str(source.path)},
        "retrain_fingerprint": fp,
        "synthetic": bool(source.manifest.get("synthetic", False)),
        "tables": {
            source.name: {
                "file": path.name,
                "sha256": file_sha256(path),
                "sample_fraction": source.sample_fraction,
                "full_volume_from": source.full_volume_from,
            }
        },
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return read_source(out_dir, source.name)


@contextmanager
def job_lock(lock_dir: Path, name: str) -> Iterator[None]:
    """One run at a time per scan (cron may start a run while the last one is still going)."""
    lock_dir.mkdir(parents=True, exist_ok=True)
    with (lock_dir / f"{name}.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(f"another '{name}' job is running (lock {lock_dir / name}.lock)") from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _existing_version(scan: str, fp: str) -> str | None:
    for mv in registry.versions(scan):
        if mv.tags.get(FINGERPRINT_TAG) == fp:
            return str(mv.version)
    return None


def retrain(
    spec: ScanSpec,
    source: SourceTable,
    logged: pd.DataFrame,
    *,
    work_dir: Path,
    as_of: date,
    seed: int = 0,
    register: FeatureRegister | None = None,
    progress: Callable[[str], None] = print,
) -> RetrainResult:
    """Assemble, train (unless this data was trained on before) and make the version the challenger."""
    register = register or default_register()
    table, accounting = assemble_training_table(spec, source.frame, logged, as_of=as_of, register=register)
    progress(
        f"[retrain {spec.id}] {accounting.logged_cases} logged cases: {accounting.labelled} labelled "
        f"({accounting.labelled_violations} violations, {accounting.labelled_control} in the control sample); "
        f"not labels: {accounting.without_hoor_en_wederhoor} without hoor en wederhoor, "
        f"{accounting.never_assessed} never assessed, {accounting.censored_recent} censored (scored after "
        f"{accounting.cutoff[:10]}); {accounting.not_in_source} not in the source extract"
    )
    fp = fingerprint(spec, source, table, seed)
    data_dir = work_dir / spec.id / fp[:16]
    existing = _existing_version(spec.id, fp)
    if existing is not None:
        progress(f"[retrain {spec.id}] nothing new: version {existing} was trained on this data")
        registry.set_alias(spec.id, registry.CHALLENGER, existing)
        return RetrainResult(spec.id, existing, True, fp, data_dir, accounting, {})
    assembled = _write_table(table, source, data_dir, fp)
    result = train_scan(spec, assembled, seed=seed, register=register, progress=progress)
    for key, value in {
        FINGERPRINT_TAG: fp,
        "trained_by": "retrain",
        "retrain_accounting": json.dumps(accounting.as_dict(), sort_keys=True),
    }.items():
        registry.set_version_tag(spec.id, result.version, key, value)
    registry.set_alias(spec.id, registry.CHALLENGER, result.version)
    progress(f"[retrain {spec.id}] version {result.version} is the challenger (never promoted by this job)")
    training = {
        "run_id": result.run_id,
        "threshold": result.threshold,
        "boundaries": result.boundaries,
        "metrics": result.metrics,
        "control_intervals": result.control_intervals,
    }
    return RetrainResult(spec.id, result.version, False, fp, data_dir, accounting, training)
