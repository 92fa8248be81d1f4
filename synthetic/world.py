"""The world: who the synthetic people are, and whether they truly violated a rule.

The world is everything that happened, before anyone recorded it: who applies, their work history and
behaviour (some of it latent, never in a table), and the truth. This module holds what both tables share:

* :class:`World`, what each table's world hands on: its columns and the truth's log-odds;
* the people (nationality group, migration background, gender, age, Wajong) and their proxy columns,
  whose dependence on nationality is the planted hazard ``proxy_strength``;
* the work history drawn the same way for both tables (sector, contract);
* the truth (:func:`draw_truth`). It depends on legitimate behaviour and an unobserved personal term only,
  never on nationality, unless ``truth_depends_on_nationality`` (:func:`nationality_effect`), which exists
  only to prove that audits can see it.

The tables' own stories are in :mod:`synthetic.applications` (VW) and :mod:`synthetic.periods`
(sollicitatie). What the historical process recorded of the world is :mod:`synthetic.record`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from synthetic.calibration import (
    AGE_BAND_BY_GROUP,
    AGE_BANDS,
    AGENCY_CONTRACT_TILT_CEE,
    ASSUMED_ORDER,
    CONTRACT_BY_SECTOR,
    CONTRACT_DEFAULT,
    CORRESPONDENCE_ADDRESS,
    DUTCH,
    GENDER,
    GROUPS,
    INTERMEDIARY,
    LANGUAGE,
    LOGIN_ABROAD,
    MIGRATION_BY_GROUP,
    NATIONALITY_SHARES,
    NATIONALITY_TRUTH_EFFECT,
    PAPER,
    PC2_CONCENTRATION,
    PC2_POPULATION,
    RNI,
    SECTOR_SHARES,
    SECTOR_TILT_BY_GROUP,
    SECTOR_TILT_SPIKE,
    WAJONG_BY_BAND,
    YOUNG_SPIKE_FACTOR,
)
from synthetic.config import Hazards
from synthetic.draws import (
    BoolArray,
    FloatArray,
    IntArray,
    category_code,
    draw_categorical,
    expit,
    per_category,
    register_categories,
)


@dataclass
class World:
    """One table's world before the intercept is known.

    columns: every register column of the table except the record's (onderzocht, controlesteekproef,
        selectiekans and the label), as arrays of codes and values;
    logit: the log-odds of a true violation per row, without the intercept (calibration solves it);
    outcomes: the true probabilities of the further scans' violations.
    """

    columns: dict[str, Any]
    logit: FloatArray
    # Per further scan of the table (register ``Table.scans`` after the first): the true probability of
    # that scan's violation per row. The first scan's truth is ``logit``, calibrated to the seeds' rate.
    outcomes: dict[str, FloatArray] = field(default_factory=dict)


@dataclass
class Truth:
    """Whether each case truly violated a rule; never part of a source table."""

    p_true: FloatArray
    violation: BoolArray


def draw_truth(rng: np.random.Generator, world: World, intercept: float) -> Truth:
    """The true violation propensity and one draw of it per row, from the truth's own stream."""
    p_true = expit(world.logit + intercept)
    return Truth(p_true=p_true, violation=rng.random(len(world.logit)) < p_true)


def draw_people(rng: np.random.Generator, n: int, young_tilt: BoolArray) -> dict[str, Any]:
    """Audit-only attributes and age. No seed figures: plausible CBS-like shares (DATA_CARD)."""
    for column, order in ASSUMED_ORDER.items():
        if tuple(register_categories(column)) != order:
            raise RuntimeError(f"register categories of {column} changed; update the generator's tables")
    nationality = draw_categorical(rng.random(n), np.array([NATIONALITY_SHARES]))
    migration = draw_categorical(rng.random(n), np.array(MIGRATION_BY_GROUP), nationality)
    gender = draw_categorical(rng.random(n), np.array([GENDER]))
    band_probs = np.array(AGE_BAND_BY_GROUP)
    tilted = band_probs * np.array([YOUNG_SPIKE_FACTOR, 1.0, 1.0, 1.0])
    condition = nationality + len(GROUPS) * young_tilt
    band = draw_categorical(rng.random(n), np.vstack([band_probs, tilted]), condition)
    low = np.array([b[0] for b in AGE_BANDS])[band]
    high = np.array([b[1] for b in AGE_BANDS])[band]
    age = low + np.floor(rng.random(n) * (high - low + 1)).astype(np.int64)
    wajong = rng.random(n) < np.array(WAJONG_BY_BAND)[band]
    return {
        "nationaliteit": nationality,
        "migratieachtergrond": migration,
        "geslacht": gender,
        "leeftijd": age,
        "leeftijdsklasse": age_band(age),
        "wajong": wajong,
    }


def age_band(age: IntArray) -> IntArray:
    """The register's age band (leeftijdsklasse) of each age, as codes."""
    bands = register_categories("leeftijdsklasse")
    lower = np.array([int(band.split("-")[0].rstrip("+")) for band in bands])
    return (np.searchsorted(lower, age, side="right") - 1).astype(np.int64)


def draw_proxies(rng: np.random.Generator, nationality: IntArray, strength: float) -> dict[str, Any]:
    """Proxy columns per person; their dependence on nationality is scaled by proxy_strength."""
    n = len(nationality)

    def flag(rates: Sequence[float]) -> BoolArray:
        return rng.random(n) < mix(np.array(rates), strength)[nationality]

    language = np.array([per_category("correspondentietaal", dist, 0.0) for dist in LANGUAGE])
    base = per_category("postcode_regio", PC2_POPULATION, 1.0)
    postcode = np.array([base * per_category("postcode_regio", conc, 1.0) for conc in PC2_CONCENTRATION])
    postcode /= postcode.sum(axis=1, keepdims=True)  # mix needs distributions, not weights
    paper = flag(PAPER)
    return {
        "aanvraagkanaal": np.where(
            paper, category_code("aanvraagkanaal", "papier"), category_code("aanvraagkanaal", "digitaal")
        ),
        "correspondentietaal": draw_categorical(rng.random(n), mix(language, strength), nationality),
        "rni_inschrijving": flag(RNI),
        "correspondentieadres": flag(CORRESPONDENCE_ADDRESS),
        "intermediair": flag(INTERMEDIARY),
        "postcode_regio": draw_categorical(rng.random(n), mix(postcode, strength), nationality),
        "inlog_buitenland": flag(LOGIN_ABROAD),
    }


def mix(by_group: FloatArray, strength: float) -> FloatArray:
    """(1 - s) * population value + s * group value; rows of by_group follow GROUPS."""
    population = np.array(NATIONALITY_SHARES) @ by_group
    return np.asarray((1.0 - strength) * population + strength * by_group, dtype=np.float64)


def draw_sector(rng: np.random.Generator, nationality: IntArray, spike: BoolArray) -> IntArray:
    """Last sector, mildly tilted per nationality group and, in the spike months, to the sectors hit first."""
    base = per_category("sector", SECTOR_SHARES, 0.0)
    spike_tilt = per_category("sector", SECTOR_TILT_SPIKE, 1.0)
    tables = [base * per_category("sector", tilt, 1.0) for tilt in SECTOR_TILT_BY_GROUP]
    tables += [table * spike_tilt for table in tables]
    return draw_categorical(rng.random(len(nationality)), np.array(tables), nationality + len(GROUPS) * spike)


def draw_contract(rng: np.random.Generator, sector: IntArray, nationality: IntArray) -> IntArray:
    """Contract type per sector; agency contracts a little more often for Central and Eastern Europeans."""
    tables = by_sector("contractsoort", CONTRACT_BY_SECTOR, CONTRACT_DEFAULT)
    cee_tilt = per_category("contractsoort", {"uitzend": AGENCY_CONTRACT_TILT_CEE}, 1.0)
    cee = nationality == GROUPS.index("midden_oost_eu")
    return draw_categorical(
        rng.random(len(sector)), np.vstack([tables, tables * cee_tilt]), sector + len(tables) * cee
    )


def by_sector(
    column: str, overrides: Mapping[str, Mapping[str, float]], default: Mapping[str, float]
) -> FloatArray:
    """A (sector x category) table; sectors without an override get the default distribution."""
    return np.array(
        [per_category(column, overrides.get(s, default), 0.0) for s in register_categories("sector")]
    )


def nationality_effect(nationality: IntArray, hazards: Hazards) -> FloatArray:
    """Log-odds that nationality adds to the truth: none, unless the audit test plants it on purpose."""
    if not hazards.truth_depends_on_nationality:
        return np.zeros(len(nationality))
    return np.where(nationality != DUTCH, NATIONALITY_TRUTH_EFFECT, 0.0)


# Byte patterns "0000".."9999", to write ids four digits at a time.
_FOUR_DIGITS = np.array([list(f"{i:04d}".encode()) for i in range(10_000)], dtype=np.uint8)


def sequence_ids(prefix: str, first: int, n: int) -> pd.api.extensions.ExtensionArray:
    """Ids like A0000001, built as fixed-width bytes without a Python loop (four digits per lookup)."""
    width = max(7, len(str(first + n - 1)))
    chunks = -(-width // 4)
    buffer = np.empty((n, 1 + 4 * chunks), dtype=np.uint8)
    remainder = np.arange(first, first + n, dtype=np.int64)
    for chunk in range(chunks, 0, -1):
        remainder, digits = np.divmod(remainder, 10_000)
        buffer[:, 4 * chunk - 3 : 4 * chunk + 1] = _FOUR_DIGITS[digits]
    buffer = buffer[:, 4 * chunks - width :]  # drop surplus leading zeros; the first byte becomes the prefix
    buffer[:, 0] = ord(prefix)
    # Hand the bytes to Arrow as they are: every id is width + 1 ASCII bytes, so the offsets are a range.
    offsets = np.arange(0, (width + 1) * (n + 1), width + 1, dtype=np.int32)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(buffer))]
    return pd.array(pa.Array.from_buffers(pa.string(), n, buffers), dtype="string")
