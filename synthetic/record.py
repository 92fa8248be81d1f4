"""The record: which cases the historical process investigated, and what it wrote down.

This is where the recording hazards live. The record sees only what was on file, the world's columns;
the truth enters only through the labels of the cases that were investigated. So switching a recording
hazard (``paper_selection_bias``, ``covid_censoring``, ``label_noise``) changes the record and never the
world.

**Selection** (:func:`select`). A case is investigated when the legacy rules of the time pick it, or when
it falls in the random control sample (``control_share``), each independently:

* the legacy rules (:mod:`synthetic.calibration`, "Legacy selection rules") read the case as filed. VW:
  the reason the job ended, an application more than 14 days late, a settlement. Sollicitatie: a base
  rate, fewer activities reported than required, a missed appointment, a refused offer, half or more of
  the activities repeats. Independent rules combine as 1 - (1 - a)(1 - b);
* with ``paper_selection_bias``, every paper case was checked (VW 100%, sollicitatie 50%) from end 2018
  until mid-March 2020 (001 l.2630-2648); we assume the check resumed with the end of the COVID regime on
  1 September 2020. A checked paper case gets a full file review (detection 0.95 instead of 0.85);
* Wajong applicants are assessed by their labour expert, not by the enforcement team (002 l.329-341):
  selection probability 0, never investigated, no label.

``selectiekans`` is the probability that the case was investigated, control_share + (1 - control_share) x
legacy, which is what inverse-probability weighting needs.

**Labels** (:func:`record_table`). An investigated violation is sanctioned with the detection probability;
an investigated case without a violation is sanctioned anyway with the wrong-sanction probability
(``label_noise``, x5 for correspondence in another language than Dutch; the sollicitatie scan uses a tenth
of it, doubled while the income signal failed, 002 l.477-488). With ``covid_censoring``, nothing in the
COVID window is sanctioned. A case that was not investigated has no label (``<NA>``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from features.register import Column, Role, default_register
from synthetic.calibration import (
    COVID_END,
    COVID_START,
    DETECTION,
    DETECTION_FULL_REVIEW,
    INCOME_SIGNAL_END,
    INCOME_SIGNAL_NOISE_FACTOR,
    INCOME_SIGNAL_START,
    NON_DUTCH_NOISE_FACTOR,
    PAPER_CHECK_SOLLICITATIE,
    PAPER_CHECK_VW,
    SOLL_CHECK_BASE,
    SOLL_CHECK_MISSED,
    SOLL_CHECK_REFUSED,
    SOLL_CHECK_REPEATS,
    SOLL_CHECK_SHORTFALL,
    SOLLICITATIE_NOISE_SCALE,
    VERBLIJF_DETECTION,
    VW_CHECK_BY_REASON,
    VW_CHECK_LATE,
    VW_CHECK_SETTLEMENT,
)
from synthetic.config import APPLICATIONS, PERIODS, GeneratorConfig
from synthetic.draws import BoolArray, FloatArray, category_code, either, in_window, per_category
from synthetic.world import Truth, World

Columns = Mapping[str, Any]


@dataclass
class GeneratedTable:
    """One generated source table with its hidden truth."""

    name: str  # "ww_aanvragen" or "ww_sollicitatieperiodes"
    frame: pd.DataFrame  # the source table, exactly the register's columns
    truth: pd.DataFrame  # id column, "p_true", "violation"; never part of the source table
    sample_fraction: float  # rows / national volume of this table over the sampled months
    full_volume_from: str | None = None  # YYYY-MM from which every case is present (fraction 1)


@dataclass
class Record:
    """How the historical process handled each case; everything needed to write its label."""

    selection_prob: FloatArray
    control: BoolArray
    investigated: BoolArray
    detection: FloatArray
    wrong_sanction: FloatArray
    censored: BoolArray  # sanctions suspended at the time (only when covid_censoring is on)
    in_covid_window: BoolArray  # excluded from the base rates whatever the hazards


@dataclass(frozen=True)
class _Process:
    """How the enforcement team of one scan handled its table."""

    legacy: Callable[[Columns], FloatArray]  # probability that the rules of the time picked the case
    eligible: Callable[[Columns], BoolArray]  # False for cases the enforcement team never handles
    paper_check: float  # investigation probability of a paper case under the paper check
    noise_scale: float  # wrong-sanction probability relative to label_noise (1.0 leaves it exact)
    income_signal: bool  # wrong sanctions doubled while the income signal failed


def _vw_legacy(columns: Columns) -> FloatArray:
    """VW rules of the time: by the reason the job ended, an application over 14 days late, a settlement."""
    check = per_category("reden_einde_dienstverband", VW_CHECK_BY_REASON, 0.0)[
        columns["reden_einde_dienstverband"]
    ]
    check = either(check, np.where(columns["dagen_tot_aanvraag"] > 14, VW_CHECK_LATE, 0.0))
    return either(check, np.where(columns["vaststellingsovereenkomst"], VW_CHECK_SETTLEMENT, 0.0))


def _sollicitatie_legacy(columns: Columns) -> FloatArray:
    """Sollicitatie rules of the time: a base rate, fewer activities reported than required, a missed
    appointment, a refused offer, half or more of the reported activities repeats."""
    reported = columns["activiteiten_gemeld"]
    check = np.full(len(reported), SOLL_CHECK_BASE)
    check = either(check, np.where(reported < columns["activiteiten_vereist"], SOLL_CHECK_SHORTFALL, 0.0))
    check = either(check, np.where(columns["gemiste_afspraken"] > 0, SOLL_CHECK_MISSED, 0.0))
    check = either(check, np.where(columns["geweigerd_aanbod"] > 0, SOLL_CHECK_REFUSED, 0.0))
    repeat_share = columns["herhaalde_activiteiten"] / np.maximum(reported, 1)
    return either(check, np.where(repeat_share >= 0.5, SOLL_CHECK_REPEATS, 0.0))


def _not_wajong(columns: Columns) -> BoolArray:
    """Wajong applicants are assessed by their labour expert, not by the enforcement team (002 l.329-341)."""
    return np.asarray(~columns["wajong"], dtype=bool)


def _every_case(columns: Columns) -> BoolArray:
    return np.ones(len(columns["periode_start"]), dtype=bool)


_PROCESS = {
    APPLICATIONS: _Process(
        legacy=_vw_legacy,
        eligible=_not_wajong,
        paper_check=PAPER_CHECK_VW,
        noise_scale=1.0,
        income_signal=False,
    ),
    PERIODS: _Process(
        legacy=_sollicitatie_legacy,
        eligible=_every_case,
        paper_check=PAPER_CHECK_SOLLICITATIE,
        noise_scale=SOLLICITATIE_NOISE_SCALE,
        income_signal=True,
    ),
}


def select(rng: np.random.Generator, config: GeneratorConfig, table: str, columns: Columns) -> Record:
    """The historical selection policy and the error rates of the investigations it led to."""
    process, hazards = _PROCESS[table], config.hazards
    dates = columns[default_register().tables[table].time]
    eligible = process.eligible(columns)
    n = len(dates)
    in_covid = in_window(dates, COVID_START, COVID_END)
    paper = columns["aanvraagkanaal"] == category_code("aanvraagkanaal", "papier")
    paper_checked = paper & hazards.paper_selection_bias & ~in_covid
    legacy = process.legacy(columns)
    legacy = np.where(paper_checked, np.maximum(legacy, process.paper_check), legacy)
    control = (rng.random(n) < config.control_share) & eligible
    picked = (rng.random(n) < legacy) & eligible
    selection_prob = np.where(eligible, config.control_share + (1.0 - config.control_share) * legacy, 0.0)
    non_dutch = columns["correspondentietaal"] != category_code("correspondentietaal", "nl")
    noise = hazards.label_noise * process.noise_scale * np.where(non_dutch, NON_DUTCH_NOISE_FACTOR, 1.0)
    if process.income_signal:
        noise = noise * np.where(
            in_window(dates, INCOME_SIGNAL_START, INCOME_SIGNAL_END), INCOME_SIGNAL_NOISE_FACTOR, 1.0
        )
    return Record(
        selection_prob=selection_prob,
        control=control,
        investigated=control | picked,
        detection=np.where(paper_checked, DETECTION_FULL_REVIEW, DETECTION),
        wrong_sanction=np.minimum(noise, 1.0),
        censored=in_covid & hazards.covid_censoring,
        in_covid_window=in_covid,
    )


def record_table(
    table: str,
    world: World,
    truth: Truth,
    record: Record,
    rng: np.random.Generator,
    *,
    sample_fraction: float,
    full_volume_from: str | None = None,
    outcome_rng: np.random.Generator | None = None,
) -> GeneratedTable:
    """Draw the labels from the labels' own stream, and assemble the table in register form.

    The first scan of the table gets the calibrated label; each further scan (verblijf on the periods)
    its outcome drawn from ``outcome_rng`` and ``world.outcomes``, so the first label is the same with
    or without it."""
    draw = rng.random(len(world.logit))
    sanction = (
        np.where(truth.violation, draw < record.detection, draw < record.wrong_sanction) & ~record.censored
    )
    register = default_register()
    first, *further = register.tables[table].scans
    label = register.label_for_scan(first).name
    key = register.tables[table].key
    columns = dict(world.columns)
    columns["onderzocht"] = record.investigated
    columns["controlesteekproef"] = record.control
    columns["selectiekans"] = record.selection_prob
    columns[label] = pd.arrays.BooleanArray(sanction & record.investigated, ~record.investigated)
    hidden_columns = {"p_true": truth.p_true, "violation": truth.violation}
    for scan in further:
        # A further scan's outcome (the stay abroad): its own truth, found by the same investigations.
        if outcome_rng is None or scan not in world.outcomes:
            raise RuntimeError(
                f"{table}: the register names scan '{scan}', the generator has no outcome for it"
            )
        p_true = world.outcomes[scan]
        violation = outcome_rng.random(len(p_true)) < p_true
        found = violation & (outcome_rng.random(len(p_true)) < VERBLIJF_DETECTION)
        outcome = register.label_for_scan(scan).name
        columns[outcome] = pd.arrays.BooleanArray(found & record.investigated, ~record.investigated)
        hidden_columns |= {f"p_true_{scan}": p_true, f"violation_{scan}": violation}
    frame = _to_frame(table, columns)
    hidden = pd.DataFrame({key: frame[key], **hidden_columns})
    return GeneratedTable(table, frame, hidden, float(sample_fraction), full_volume_from)


# ==================================================================================================
# Register form
# ==================================================================================================
def _to_frame(table: str, columns: Mapping[str, Any]) -> pd.DataFrame:
    """Assemble the table in register order and dtypes, and check every value against the register."""
    register_columns = default_register().table_columns(table)
    missing = [c.name for c in register_columns if c.name not in columns]
    extra = sorted(set(columns) - {c.name for c in register_columns})
    if missing or extra:
        raise RuntimeError(f"{table}: generator and register disagree; missing {missing}, extra {extra}")
    data = {c.name: _as_register_dtype(c, columns[c.name]) for c in register_columns}
    frame = pd.DataFrame(data)
    for column in register_columns:
        _check_range(table, column, frame[column.name])
    return frame


def _as_register_dtype(column: Column, values: Any) -> Any:
    """The pandas representation of a register dtype (categories as codes into the register's order)."""
    if column.dtype == "string":
        return values
    if column.dtype == "date":
        return pd.array(np.asarray(values).astype("datetime64[ns]"))
    if column.dtype == "category":
        codes = np.asarray(values, dtype=np.int64)
        return pd.Categorical.from_codes(codes, categories=pd.Index(list(column.allowed_categories)))
    if column.role is Role.LABEL:
        return values  # already a nullable BooleanArray
    if column.dtype == "int":
        return np.asarray(values).astype(np.int64)
    if column.dtype == "float":
        return np.asarray(values).astype(np.float64)
    return np.asarray(values).astype(bool)


def _check_range(table: str, column: Column, series: pd.Series) -> None:
    """Refuse a numeric column outside the register's min/max, or with gaps where it is not nullable."""
    if column.dtype not in ("int", "float"):
        return
    values = series.to_numpy(dtype=np.float64)
    if not column.nullable and np.isnan(values).any():
        raise RuntimeError(f"{table}.{column.name} has missing values but is not nullable")
    present = values[~np.isnan(values)]
    if present.size == 0:
        return
    if (column.min is not None and present.min() < column.min) or (
        column.max is not None and present.max() > column.max
    ):
        allowed = f"{column.min}..{column.max}"
        raise RuntimeError(
            f"{table}.{column.name} ranges {present.min()}..{present.max()}, register allows {allowed}"
        )
