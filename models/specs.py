"""Scan specifications (``models/scans/<id>.yaml``): what a scan is for, what it may use, how it is judged.

A spec is loaded strictly: unknown keys, a feature the register does not allow for the scan (nationality,
any audit-only or forbidden column), a window that ends before it starts, or a fairness band that does
not contain 1 are errors. Its content hash is logged with every run so a changed spec is always visible.
"""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from features.pipeline import FeatureSet, feature_set
from features.register import FeatureRegister, default_register
from riskscan.errors import ConfigError, Refusal

SCANS_DIR = Path(__file__).with_name("scans")
#: The model families a spec may choose (``model.family``); :mod:`models.families` implements them.
Family = Literal["lightgbm", "logistic"]
FAMILIES: tuple[Family, ...] = ("lightgbm", "logistic")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LabelSpec(_Strict):
    column: str
    definition: str


class ExcludedFeature(_Strict):
    name: str
    reason: str = Field(min_length=10)


class ExcludedWindow(_Strict):
    start: date
    end: date
    reason: str = Field(min_length=10)

    @model_validator(mode="after")
    def _ordered(self) -> ExcludedWindow:
        if self.end <= self.start:
            raise ValueError(f"excluded window ends ({self.end}) before it starts ({self.start})")
        return self

    def contains(self, dates: pd.Series) -> pd.Series:
        """Which dates fall in [start, end)."""
        return (dates >= pd.Timestamp(self.start)) & (dates < pd.Timestamp(self.end))


class SplitSpec(_Strict):
    validation_months: int = Field(ge=1, le=24)
    test_months: int = Field(ge=1, le=24)


class CapacitySpec(_Strict):
    investigations_per_week: int = Field(gt=0)


class ModelSpec(_Strict):
    # Which model computes the margin. Both families use the same feature pipeline, calibration and threshold
    # rule and explain exactly; every run fits both and records each one's precision and lift, so the
    # committee sees what a model people can read costs or gains (models/families.py).
    family: Family = "lightgbm"
    # The LightGBM settings below are used by the lightgbm family (and by the comparison fit of a logistic
    # spec); logistic_c by the logistic family (and by the comparison fit of a lightgbm spec).
    logistic_c: float = Field(1.0, gt=0, description="inverse strength of the logistic family's L2 penalty")
    max_depth: int = Field(ge=1, le=8, description="bounded: TreeSHAP cost grows with depth squared")
    num_leaves: int = Field(ge=2, le=256)
    n_estimators: int = Field(ge=1, le=5000)
    learning_rate: float = Field(gt=0, le=1)
    min_child_samples: int = Field(ge=1)
    early_stopping_rounds: int = Field(ge=1)
    inverse_probability_weighting: bool = True

    @model_validator(mode="after")
    def _leaves_fit_depth(self) -> ModelSpec:
        if self.num_leaves > 2**self.max_depth:
            raise ValueError(
                f"num_leaves {self.num_leaves} cannot be reached with max_depth {self.max_depth}"
            )
        return self


class ProxyPolicy(_Strict):
    association_threshold: float = Field(gt=0, lt=1)
    auc_threshold: float = Field(gt=0.5, lt=1)
    # Proxies of these attributes fail the audit; associations with the others (age, gender) are reported.
    gating_attributes: tuple[str, ...] = ("nationaliteit", "migratieachtergrond")


class FairnessPolicy(_Strict):
    groups: tuple[str, ...] = Field(min_length=1)
    intersections: tuple[tuple[str, ...], ...] = ()
    gating_metrics: tuple[str, ...]
    reported_metrics: tuple[str, ...]
    ratio_band: tuple[float, float] = (0.8, 1.25)
    min_group_size: int = Field(ge=1)
    ci_level: float = Field(gt=0.5, lt=1)
    n_boot: int = Field(ge=20)
    proxy: ProxyPolicy

    @field_validator("ratio_band")
    @classmethod
    def _band_contains_one(cls, band: tuple[float, float]) -> tuple[float, float]:
        low, high = band
        if not 0 < low < 1 < high:
            raise ValueError(f"ratio_band {list(band)} must satisfy 0 < low < 1 < high")
        return band


class OutcomePolicy(_Strict):
    """How recorded outcomes become labels (retraining) and process figures (monitoring)."""

    # An investigation takes weeks; a case scored more recently than this has no outcome *yet*. Such cases
    # are censored for retraining (unknown, not "no violation") and not counted as never assessed.
    maturity_days: int = Field(ge=1, le=365)


class ReportOnlyDrift(_Strict):
    name: str
    reason: str = Field(min_length=10)


class MonitoringPolicy(_Strict):
    """Thresholds that turn monitoring findings into ``retrain recommended`` or ``committee review required``."""

    min_cases: int = Field(ge=1, description="fewer scored cases in the window: drift is not judged")
    psi_retrain: float = Field(gt=0)
    score_psi_retrain: float = Field(gt=0)
    test_alpha: float = Field(gt=0, lt=1)
    min_hoor_en_wederhoor: float = Field(ge=0, le=1)
    max_unassessed_share: float = Field(ge=0, le=1)
    max_unmatched_share: float = Field(ge=0, le=1)
    min_assessed_for_effectiveness: int = Field(ge=1)
    # Inputs whose drift is shown but never a finding, each with the reviewed reason (e.g. a monthly
    # national figure, which one month of traffic always holds at a single value per region).
    drift_report_only: tuple[ReportOnlyDrift, ...] = ()


class RetentionPolicy(_Strict):
    """How long the decision log keeps a scored case's personal values: its inputs and the explanation
    derived from them. ``riskscan log purge`` erases them for rows older than this (AVG art. 5(1)(e)); the
    fact that the case was scored, by which model, with which score and selection, stays as evidence."""

    personal_values_days: int = Field(ge=30, le=3660)
    reason: str = Field(min_length=20)


class PublicationSpec(_Strict):
    """The Dutch phrases the Algoritmeregister entry needs and nothing else in the spec says in Dutch; the
    rest of the entry is generated from the spec's other fields, the register and the audit."""

    subject: str = Field(min_length=3, description="what the scan scores, plural, e.g. 'WW-aanvragen'")
    selected_for: str = Field(
        min_length=10, description="what a signal leads to, e.g. 'een dossieronderzoek'"
    )


class ScanSpec(_Strict):
    id: str
    name: str
    table: str
    purpose: str
    legal_basis: str
    population: str
    label: LabelSpec
    features: tuple[str, ...] = Field(min_length=1)
    excluded_features: tuple[ExcludedFeature, ...] = ()
    excluded_windows: tuple[ExcludedWindow, ...] = ()
    split: SplitSpec
    capacity: CapacitySpec
    random_control_share: float = Field(ge=0, lt=1)
    model: ModelSpec
    fairness: FairnessPolicy
    outcomes: OutcomePolicy
    monitoring: MonitoringPolicy
    publication: PublicationSpec
    retention: RetentionPolicy
    content_hash: str = ""

    def feature_set(self, register: FeatureRegister | None = None) -> FeatureSet:
        return feature_set(self.id, self.features, register)

    def excluded_mask(self, dates: pd.Series) -> pd.Series:
        """Rows whose date falls in any excluded window."""
        mask = pd.Series(False, index=dates.index)
        for window in self.excluded_windows:
            mask |= window.contains(dates)
        return mask

    def with_features(self, names: list[str]) -> ScanSpec:
        """A variant with another feature list (for experiments and audits); rechecked by the register."""
        content = self.model_dump(mode="json", exclude={"content_hash"})
        content["features"] = names
        content["excluded_features"] = [e for e in content["excluded_features"] if e["name"] not in names]
        return parse_spec(content)

    def with_family(self, family: Family) -> ScanSpec:
        """A variant whose model family is ``family`` (the other settings unchanged)."""
        content = self.model_dump(mode="json", exclude={"content_hash"})
        content["model"]["family"] = family
        return parse_spec(content)


def _hash(content: dict[str, Any]) -> str:
    return hashlib.sha256(yaml.safe_dump(content, sort_keys=True).encode("utf-8")).hexdigest()


def parse_spec(content: Any, register: FeatureRegister | None = None) -> ScanSpec:
    register = register or default_register()
    if not isinstance(content, dict):
        raise ConfigError("scan spec must be a mapping")
    content = {k: v for k, v in content.items() if k != "content_hash"}
    try:
        spec = ScanSpec.model_validate({**content, "content_hash": _hash(content)})
    except ValidationError as exc:
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"scan spec '{content.get('id', '?')}' is invalid: {details}") from None
    problems = []
    if spec.table not in register.tables or spec.id not in register.tables[spec.table].scans:
        problems.append(f"table '{spec.table}' is not the register's table for scan '{spec.id}'")
    if spec.label.column != register.label_for_scan(spec.id).name:
        problems.append(f"label '{spec.label.column}' is not the register's label for scan '{spec.id}'")
    for group in {*spec.fairness.groups, *(g for pair in spec.fairness.intersections for g in pair)}:
        if group not in register or register[group].role.value != "audit_only":
            problems.append(f"fairness group '{group}' is not an audit-only column of the register")
    unknown = [d.name for d in spec.monitoring.drift_report_only if d.name not in spec.features]
    if unknown:
        problems.append(
            f"monitoring.drift_report_only names inputs the scan does not use: {', '.join(unknown)}"
        )
    overlap = set(spec.features) & {e.name for e in spec.excluded_features}
    if overlap:
        problems.append(f"features both used and excluded: {', '.join(sorted(overlap))}")
    if problems:
        raise ConfigError(f"scan spec '{spec.id}': " + "; ".join(problems))
    try:
        spec.feature_set(register)
    except Refusal as exc:  # ForbiddenColumn included: the first lock, at the door
        raise ConfigError(f"scan spec '{spec.id}' cannot be used: {exc}") from None
    return spec


def spec_files() -> dict[str, Path]:
    """Each scan's spec file by scan id: ``models/scans/<id>.yaml`` whose ``id`` is its file name. A variant
    (``vw-proxy-experiment.yaml``, id ``vw``) is trained with ``--spec`` and is no scan of its own."""
    files = {}
    for path in sorted(SCANS_DIR.glob("*.yaml")):
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(content, dict) and content.get("id") == path.stem:
            files[path.stem] = path
    return files


#: Scans in force per register content hash (each spec is parsed once per register and process).
_IN_FORCE: dict[str, tuple[str, ...]] = {}


def _scans_in_force(register: FeatureRegister) -> tuple[str, ...]:
    files = spec_files()
    accepted = []
    for scan in register.scans:
        if scan not in files:
            continue
        try:
            load_spec(files[scan], register)
        except ConfigError:
            continue  # the register refuses the spec (verblijf: its input inlog_buitenland is forbidden)
        accepted.append(scan)
    return tuple(accepted)


def scan_ids(register: FeatureRegister | None = None) -> tuple[str, ...]:
    """The scans in force, in register order: a spec file in ``models/scans/`` that the register accepts.

    One source of truth: adding a scan is a spec file and its register entries, nothing in code. A spec
    the register refuses is no scan in force: ``verblijf`` stays in ``models/scans/`` as history, but
    today's register forbids its input ``inlog_buitenland``, so the CLI, the service and the pages know
    only ``vw`` and ``sollicitatie``; under the register of mid-2022 (the scenario's home) all three.
    The register read is the file in force (:func:`features.register.default_register`), not its rulings:
    a scan whose champion is ruled unlawful stays a scan, and the service answers 503 for it.
    """
    register = register or default_register()
    if register.content_hash not in _IN_FORCE:
        _IN_FORCE[register.content_hash] = _scans_in_force(register)
    return _IN_FORCE[register.content_hash]


def load_spec(scan_or_path: str | Path, register: FeatureRegister | None = None) -> ScanSpec:
    """Load a spec by scan id (from models/scans/) or by file path; the register refuses what it must."""
    path = Path(scan_or_path)
    if not path.suffix:
        files = spec_files()
        if str(scan_or_path) not in files:
            raise ConfigError(f"unknown scan '{scan_or_path}'; known scans: {', '.join(scan_ids(register))}")
        path = files[str(scan_or_path)]
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"scan spec file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"scan spec {path} is not valid YAML: {exc}") from None
    return parse_spec(content, register)
