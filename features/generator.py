"""Synthetic WW source tables with planted, switchable hazards.

The generator writes the two source tables of the register (``ww_aanvragen`` for the VW scan and
``ww_sollicitatieperiodes`` for the sollicitatie scan) for people who do not exist. Volumes, base rates
and the historical selection regime are calibrated on the seed documents (see ``features/DATA_CARD.md``,
which cites every figure). The data is meant to let the pipeline, the audits and the screens be built and
tested; it is not evidence about real claimants.

Three things are kept apart on purpose:

* **the world**: who applies, their work history and behaviour, and whether they truly violated a rule
  (``GeneratedTable.truth``, never part of a source table). The truth depends on legitimate behaviour and
  an unobserved personal term only, never on nationality (unless ``truth_depends_on_nationality``, which
  exists only to prove that audits can see it);
* **the record**: which cases the historical policy investigated and what was recorded. This is where the
  hazards live;
* **the calibration**: the intercept of the true violation propensity is solved on a fixed reference
  sample under the default record, so that the default observed sanction rates match the seeds for any
  seed and size.

Because the intercept is fixed by the reference sample and every random block has its own stream, the
recording hazards change the record, never the world: with the same seed, switching ``proxy_strength``,
``paper_selection_bias``, ``feedback_loop``, ``covid_censoring`` or ``label_noise`` leaves every
person's features that enter the truth, ``p_true`` and ``violation`` unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from features.register import Column, Role, default_register
from features.sources import file_sha256
from riskscan.errors import InvalidInput

GENERATOR_VERSION = "1.0.0"

APPLICATIONS = "ww_aanvragen"
PERIODS = "ww_sollicitatieperiodes"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
DateArray = npt.NDArray[np.datetime64]

# --------------------------------------------------------------------------------------------------
# Calendar (inclusive start, exclusive end)
# --------------------------------------------------------------------------------------------------
COVID_START = np.datetime64("2020-03-15", "D")  # seed 000 l.553-605; 001 l.980-990, 2889-2967
COVID_END = np.datetime64("2020-09-01", "D")
# The income signal failed from March 2020 to March 2023 (seed 002 l.477-488); March 2023 included.
INCOME_SIGNAL_START = np.datetime64("2020-03-01", "D")
INCOME_SIGNAL_END = np.datetime64("2023-04-01", "D")
# The COVID spike in applications: young people, hospitality, agencies and culture first (001 l.701-705).
SPIKE_START = np.datetime64("2020-03", "M")
SPIKE_END = np.datetime64("2020-07", "M")

# National volumes in thousands per calendar month (DATA_CARD, "Volumes"). Months outside 2019-2024 take
# the nearest year's values.
_APPLICATIONS_PER_MONTH_K: dict[int, tuple[float, ...]] = {
    2019: (36.0,) * 12,
    2020: (36.0, 36.0, 80.0, 103.4, 85.0, 70.0, 65.0, 65.0, 65.0, 65.0, 65.0, 65.0),
    2021: (40.0,) * 12,
    2022: (28.0,) * 12,
    2023: (30.0,) * 12,
    2024: (34.0,) * 12,
}
# Running benefits: 257,414 (end April 2019) and 292,065 (end April 2020) are seed figures (001 l.1080-1084).
# The other 2020-2024 months are the generator's own stock-flow outcome (inflow x benefit durations),
# rounded, so that the rows' monthly profile and this denominator agree; they are not seed figures. (The
# stock-flow gives ~330k for April 2020: it has no seasonal decline over 2019.)
_RUNNING_BENEFITS_K: dict[int, tuple[float, ...]] = {
    2019: (257.4,) * 12,
    2020: (257.4, 257.4, 285.0, 292.1, 355.0, 370.0, 375.0, 380.0, 385.0, 395.0, 400.0, 400.0),
    2021: (395.0, 390.0, 380.0, 370.0, 365.0, 360.0, 350.0, 345.0, 340.0, 335.0, 335.0, 325.0),
    2022: (310.0, 300.0, 285.0, 270.0, 260.0, 250.0, 240.0, 230.0, 225.0, 220.0, 210.0, 205.0),
    2023: (205.0, 200.0, 200.0, 200.0, 200.0, 200.0, 195.0, 195.0, 195.0, 195.0, 195.0, 190.0),
    2024: (195.0, 200.0, 205.0, 210.0, 210.0, 210.0, 210.0, 215.0, 215.0, 215.0, 220.0, 220.0),
}
# Share of handled applications that became a benefit: 18% rejected in Jan-Apr 2019, 27% in Jan-Apr 2020
# (001 l.1120-1122); 0.70 from March to December 2020 reproduces 186,938 new benefits in Jan-Apr 2020.
_ACCEPTANCE_NORMAL = 0.82
_ACCEPTANCE_2020_SPIKE = 0.70
_DAYS_PER_PERIOD = 28
# Sanctions per running benefit per 4 months = sanctions per 4-week period x (4 months / 4 weeks).
PERIODS_PER_FOUR_MONTHS = 4 * 365.25 / 12 / _DAYS_PER_PERIOD

# --------------------------------------------------------------------------------------------------
# Calibration targets (DATA_CARD, "Base rates")
# --------------------------------------------------------------------------------------------------
VW_SANCTION_RATE = 0.020  # 5,000 VW sanctions on 255,400 handled applications (001 l.2451-2490, 1120)
SOLLICITATIE_SANCTION_RATE_4M = 0.008  # 1,700-2,500 per ~257-292k running benefits per 4 months
_CALIBRATION_SEED = 8_041_957
_CALIBRATION_ROWS = 60_000

# --------------------------------------------------------------------------------------------------
# Recording process
# --------------------------------------------------------------------------------------------------
DETECTION = 0.85  # an investigated violation leads to a sanction
DETECTION_FULL_REVIEW = 0.95  # paper cases under the 100% check got a full file review
PAPER_CHECK_VW = 1.0  # end 2018 - mid March 2020: 100% of paper WW applications checked (001 l.2630-2648)
PAPER_CHECK_SOLLICITATIE = 0.5
NON_DUTCH_NOISE_FACTOR = 5.0  # no interpreter, hoor en wederhoor not always applied (002 l.1067)
INCOME_SIGNAL_NOISE_FACTOR = 2.0
# A sollicitatie sanction follows a file review of a countable duty and is about four times rarer per
# investigated case than a VW sanction (~2% against ~7.5%). At the VW wrong-sanction rate the wrong
# sanctions alone would exceed the seeds' sollicitatie sanction rate, so this scan uses a tenth of it.
SOLLICITATIE_NOISE_SCALE = 0.1
FEEDBACK_INSPECTION_INTENSITY = 2.5  # past sanctions found on paper applicants, relative to digital
NATIONALITY_TRUTH_EFFECT = 0.8  # log-odds added for non-Dutch groups, only if truth_depends_on_nationality

# --------------------------------------------------------------------------------------------------
# Population (no figures in the seeds; plausible CBS-like values, see DATA_CARD)
# --------------------------------------------------------------------------------------------------
_GROUPS = ("nederlands", "midden_oost_eu", "overig_eu", "turks_marokkaans", "overig_niet_eu")
_NATIONALITY_SHARES = (0.78, 0.07, 0.04, 0.05, 0.06)
_DUTCH = 0
_MIGRATION_BY_GROUP = (  # geen, europees, buiten_europees
    (0.84, 0.05, 0.11),
    (0.00, 0.98, 0.02),
    (0.02, 0.93, 0.05),
    (0.00, 0.00, 1.00),
    (0.00, 0.12, 0.88),
)
_GENDER = (0.53, 0.465, 0.005)  # man, vrouw, x
# The tuples above and below follow these register category orders; _draw_people checks them.
_ASSUMED_ORDER = {
    "nationaliteit": _GROUPS,
    "migratieachtergrond": ("geen", "europees", "buiten_europees"),
    "geslacht": ("man", "vrouw", "x"),
    "leeftijdsklasse": ("15-26", "27-34", "35-49", "50+"),
}
_AGE_BANDS = ((17, 26), (27, 34), (35, 49), (50, 66))  # WW ends at state-pension age (~67)
_AGE_BAND_BY_GROUP = (
    (0.20, 0.22, 0.30, 0.28),
    (0.28, 0.32, 0.28, 0.12),
    (0.22, 0.32, 0.30, 0.16),
    (0.24, 0.28, 0.32, 0.16),
    (0.24, 0.28, 0.32, 0.16),
)
_YOUNG_SPIKE_FACTOR = 1.5  # applications in the spike months: young people hit first (001 l.701-705)
_WAJONG_BY_BAND = (0.04, 0.015, 0.008, 0.005)

# Proxy columns at proxy_strength 1, per nationality group in _GROUPS order. At strength s a group's rate
# is (1 - s) * population rate + s * group rate, so the population share never changes with s.
_PAPER = (0.03, 0.35, 0.12, 0.18, 0.25)
_RNI = (0.005, 0.30, 0.12, 0.03, 0.08)
_CORRESPONDENCE_ADDRESS = (0.04, 0.40, 0.15, 0.08, 0.15)
_INTERMEDIARY = (0.02, 0.25, 0.08, 0.12, 0.15)
_LOGIN_ABROAD = (0.03, 0.35, 0.20, 0.15, 0.15)
_LANGUAGE: tuple[Mapping[str, float], ...] = (
    {"nl": 0.985, "en": 0.01, "overig": 0.005},
    {"nl": 0.10, "en": 0.30, "pl": 0.45, "overig": 0.15},
    {"nl": 0.35, "en": 0.45, "overig": 0.20},
    {"nl": 0.55, "tr": 0.20, "ar": 0.20, "en": 0.02, "overig": 0.03},
    {"nl": 0.35, "en": 0.35, "ar": 0.15, "overig": 0.15},
)
# Postcode areas: a population weight per PC2 and a concentration factor per group (Amsterdam 10/11,
# Den Haag 25, Westland 26/27, Rotterdam 30/31, Utrecht 35, Eindhoven 56, Venlo 59).
_PC2_POPULATION = {"10": 2.0, "11": 1.5, "13": 1.3, "25": 1.8, "30": 1.6, "31": 1.4, "35": 1.6, "56": 1.4}
_PC2_CONCENTRATION: tuple[Mapping[str, float], ...] = (
    {},
    {"26": 15.0, "27": 15.0, "59": 15.0, "30": 3.5, "31": 3.5, "47": 3.5, "48": 3.5, "57": 3.5},
    {"10": 6.0, "11": 3.5, "56": 3.5, "25": 2.5, "23": 2.5},
    {"10": 9.0, "11": 9.0, "25": 9.0, "30": 9.0, "31": 9.0, "35": 4.5, "56": 3.5, "13": 3.5},
    {"10": 6.0, "11": 6.0, "25": 6.0, "30": 3.5, "31": 3.5, "13": 3.5, "35": 2.5},
)
# Education: the 'onbekend' share (foreign diplomas never evaluated) is a proxy and scales with
# proxy_strength; the spread of the known levels is legitimate and mild.
_EDUCATION_UNKNOWN = (0.02, 0.30, 0.20, 0.08, 0.25)
_EDUCATION_KNOWN = (  # laag, middelbaar, hoog
    (0.22, 0.46, 0.32),
    (0.30, 0.48, 0.22),
    (0.18, 0.40, 0.42),
    (0.34, 0.48, 0.18),
    (0.28, 0.42, 0.30),
)

# --------------------------------------------------------------------------------------------------
# Work history (legitimate features; correlations with nationality kept mild)
# --------------------------------------------------------------------------------------------------
_SECTOR_SHARES = {
    "horeca": 0.07,
    "uitzendbureaus": 0.15,
    "cultuur": 0.025,
    "detailhandel": 0.10,
    "zorg": 0.10,
    "bouw": 0.05,
    "industrie": 0.10,
    "logistiek": 0.08,
    "zakelijke_dienstverlening": 0.13,
    "onderwijs": 0.05,
    "overheid": 0.04,
    "ict": 0.04,
    "landbouw": 0.035,
}
_SECTOR_TILT_BY_GROUP: tuple[Mapping[str, float], ...] = (
    {},
    {"uitzendbureaus": 1.6, "landbouw": 2.5, "logistiek": 1.5, "zakelijke_dienstverlening": 0.7},
    {"ict": 1.4, "zakelijke_dienstverlening": 1.2, "horeca": 1.2},
    {"logistiek": 1.3, "horeca": 1.2, "detailhandel": 1.2},
    {"horeca": 1.3, "zorg": 1.1, "ict": 1.1},
)
_SECTOR_TILT_SPIKE = {"horeca": 2.0, "uitzendbureaus": 1.5, "cultuur": 2.0}
_CONTRACT_DEFAULT = {"vast": 0.45, "tijdelijk": 0.40, "uitzend": 0.05, "oproep": 0.10}
_CONTRACT_BY_SECTOR: dict[str, Mapping[str, float]] = {
    "uitzendbureaus": {"vast": 0.03, "tijdelijk": 0.10, "uitzend": 0.82, "oproep": 0.05},
    "horeca": {"vast": 0.25, "tijdelijk": 0.35, "uitzend": 0.05, "oproep": 0.35},
    "cultuur": {"vast": 0.25, "tijdelijk": 0.45, "uitzend": 0.05, "oproep": 0.25},
    "detailhandel": {"vast": 0.35, "tijdelijk": 0.40, "uitzend": 0.05, "oproep": 0.20},
    "zorg": {"vast": 0.50, "tijdelijk": 0.35, "uitzend": 0.03, "oproep": 0.12},
    "landbouw": {"vast": 0.20, "tijdelijk": 0.45, "uitzend": 0.25, "oproep": 0.10},
    "logistiek": {"vast": 0.35, "tijdelijk": 0.35, "uitzend": 0.20, "oproep": 0.10},
    "onderwijs": {"vast": 0.45, "tijdelijk": 0.50, "uitzend": 0.01, "oproep": 0.04},
    "overheid": {"vast": 0.60, "tijdelijk": 0.38, "uitzend": 0.01, "oproep": 0.01},
    "ict": {"vast": 0.60, "tijdelijk": 0.30, "uitzend": 0.08, "oproep": 0.02},
}
_AGENCY_CONTRACT_TILT_CEE = 1.3
_EMPLOYER_SIZE_DEFAULT = {"micro": 0.20, "klein": 0.25, "middel": 0.25, "groot": 0.30}
_EMPLOYER_SIZE_BY_SECTOR: dict[str, Mapping[str, float]] = {
    "uitzendbureaus": {"micro": 0.05, "klein": 0.10, "middel": 0.20, "groot": 0.65},
    "horeca": {"micro": 0.45, "klein": 0.35, "middel": 0.15, "groot": 0.05},
    "cultuur": {"micro": 0.40, "klein": 0.35, "middel": 0.15, "groot": 0.10},
    "landbouw": {"micro": 0.35, "klein": 0.40, "middel": 0.20, "groot": 0.05},
    "overheid": {"micro": 0.02, "klein": 0.08, "middel": 0.25, "groot": 0.65},
}
_REASON_BY_CONTRACT: dict[str, Mapping[str, float]] = {
    "vast": {
        "bedrijfseconomisch": 0.32,
        "faillissement": 0.08,
        "wederzijds_goedvinden": 0.24,
        "ontslag_staande_voet": 0.04,
        "eigen_verzoek": 0.06,
        "disfunctioneren": 0.12,
        "overig": 0.14,
    },
    "tijdelijk": {
        "bedrijfseconomisch": 0.06,
        "einde_tijdelijk_contract": 0.66,
        "faillissement": 0.03,
        "wederzijds_goedvinden": 0.06,
        "ontslag_staande_voet": 0.04,
        "eigen_verzoek": 0.06,
        "disfunctioneren": 0.04,
        "overig": 0.05,
    },
    "uitzend": {
        "bedrijfseconomisch": 0.05,
        "einde_tijdelijk_contract": 0.70,
        "faillissement": 0.02,
        "wederzijds_goedvinden": 0.04,
        "ontslag_staande_voet": 0.05,
        "eigen_verzoek": 0.06,
        "disfunctioneren": 0.03,
        "overig": 0.05,
    },
    "oproep": {
        "bedrijfseconomisch": 0.08,
        "einde_tijdelijk_contract": 0.55,
        "faillissement": 0.04,
        "wederzijds_goedvinden": 0.08,
        "ontslag_staande_voet": 0.05,
        "eigen_verzoek": 0.10,
        "disfunctioneren": 0.04,
        "overig": 0.06,
    },
}
_SETTLEMENT_BY_REASON = {
    "wederzijds_goedvinden": 0.70,
    "disfunctioneren": 0.35,
    "bedrijfseconomisch": 0.15,
    "overig": 0.08,
}
_SETTLEMENT_OTHER = 0.02
_EMPLOYMENT_MEDIAN_MONTHS = {"vast": 72.0, "tijdelijk": 11.0, "uitzend": 7.0, "oproep": 14.0}
_EMPLOYMENT_SPREAD = {"vast": 0.9, "tijdelijk": 0.7, "uitzend": 0.8, "oproep": 0.8}
_HOURS = {"vast": (32.0, 8.0), "tijdelijk": (30.0, 9.0), "uitzend": (36.0, 6.0), "oproep": (17.0, 8.0)}
_HOURLY_WAGE = {
    "horeca": 13.0,
    "uitzendbureaus": 14.5,
    "cultuur": 18.0,
    "detailhandel": 13.5,
    "zorg": 21.0,
    "bouw": 22.0,
    "industrie": 21.0,
    "logistiek": 18.0,
    "zakelijke_dienstverlening": 25.0,
    "onderwijs": 27.0,
    "overheid": 28.0,
    "ict": 32.0,
    "landbouw": 14.0,
}
_DAGLOON_CAP = 250.0  # round approximation of the statutory maximum daily wage 2019-2024
_WORKING_DAYS_PER_WEEK = 261 / 52

# --------------------------------------------------------------------------------------------------
# True violation propensity (log-odds effects; the intercept is calibrated)
# --------------------------------------------------------------------------------------------------
_VW_REASON_EFFECT = {
    "bedrijfseconomisch": -1.0,
    "einde_tijdelijk_contract": -0.8,
    "faillissement": -1.3,
    "wederzijds_goedvinden": 0.0,
    "ontslag_staande_voet": 1.8,
    "eigen_verzoek": 1.5,
    "disfunctioneren": 0.8,
    "overig": 0.2,
}
_VW_SETTLEMENT_EFFECT = 0.3
_VW_DELAY_EFFECT = 0.3  # per log(1 + days) between unemployment and application
_VW_SHORT_EMPLOYMENT_EFFECT = 0.6  # employment under 6 months
_VW_WEEKS_SHORT_EFFECT = 0.04  # per week below 36 worked in the last 36
_VW_LATENT_EFFECT = 1.0

_SOLL_SHORTFALL_EFFECT = 1.2  # per share of required activities not reported
_SOLL_UNVERIFIABLE_EFFECT = 1.0  # per share of reported activities without a verifiable employer
_SOLL_REPEAT_EFFECT = 1.0  # per share of reported activities that repeat earlier ones
_SOLL_MISSED_EFFECT = 0.5  # per missed appointment (up to 3)
_SOLL_REFUSED_EFFECT = 0.8  # per refused offer (up to 2)
_SOLL_LATENT_EFFECT = 0.8  # per unit of (low) personal effort not visible in the period's record

# --------------------------------------------------------------------------------------------------
# Legacy selection rules (historical policy before and beside the risk models)
# --------------------------------------------------------------------------------------------------
_VW_CHECK_BY_REASON = {
    "bedrijfseconomisch": 0.03,
    "einde_tijdelijk_contract": 0.03,
    "faillissement": 0.02,
    "wederzijds_goedvinden": 0.10,
    "ontslag_staande_voet": 0.80,
    "eigen_verzoek": 0.70,
    "disfunctioneren": 0.45,
    "overig": 0.06,
}
_VW_CHECK_LATE = 0.15  # application more than 14 days after unemployment
_VW_CHECK_SETTLEMENT = 0.10
_SOLL_CHECK_BASE = 0.002
_SOLL_CHECK_SHORTFALL = 0.06
_SOLL_CHECK_MISSED = 0.06
_SOLL_CHECK_REFUSED = 0.25
_SOLL_CHECK_REPEATS = 0.05

# Random streams: each block of the story draws from its own stream, so switching a hazard (which
# changes parameters inside one block) never shifts the random numbers of another block.
_BLOCKS = ("people", "proxies", "work", "behaviour", "history", "channel", "selection", "truth", "labels")


@dataclass(frozen=True)
class Hazards:
    """The planted hazards of the historical record. Each one is switchable so audits can be tested.

    proxy_strength: how strongly the proxy columns (aanvraagkanaal, correspondentietaal,
        rni_inschrijving, correspondentieadres, intermediair, postcode_regio, the forbidden
        inlog_buitenland and the 'onbekend' education level) depend on nationality. 0 makes them
        independent of nationality, 1 is the realistic correlation. The population shares never change.
    paper_selection_bias: from end 2018 every paper WW application was checked (seed 001 l.2630-2648),
        suspended in mid-March 2020 (assumed to resume on 1 September 2020). On: paper cases are
        investigated with probability 1.0 (VW) or 0.5 (sollicitatie) outside the COVID window, and get a
        full file review (detection 0.95 instead of 0.85). Off: paper cases are treated like digital ones.
    feedback_loop: earlier sanctions (eerdere_maatregelen) were found where UWV looked. On: their rate is
        multiplied by 2.5 for paper applicants, so the count carries past inspection intensity, and
        through it nationality, on top of past behaviour.
    covid_censoring: from 2020-03-15 up to 2020-09-01 sanctions were suspended. On: investigated cases in
        the window are recorded as 'no sanction' whatever happened (censored, not evidence).
    label_noise: probability that an investigated VW case without a violation is sanctioned anyway; x5
        for correspondence in another language than Dutch. The sollicitatie scan uses a tenth of it,
        doubled from March 2020 to March 2023 (failed income signal, seed 002 l.477-488). 0 switches
        wrong sanctions off. Sanctions are rare among investigated cases, so the default 0.01 makes about
        19% of recorded VW sanctions and 14% of sollicitatie sanctions wrong (DATA_CARD).
    truth_depends_on_nationality: MUST stay False in product use. True adds a clear positive effect of
        non-Dutch nationality to the true violation propensity, only to prove that audits can see it.

    All but the last change only the record: with the same seed the truth stays the same row for row.
    """

    proxy_strength: float = 1.0
    paper_selection_bias: bool = True
    feedback_loop: bool = True
    covid_censoring: bool = True
    label_noise: float = 0.01
    truth_depends_on_nationality: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.proxy_strength <= 1.0:
            raise InvalidInput(f"proxy_strength must lie in [0, 1], got {self.proxy_strength}")
        if not 0.0 <= self.label_noise <= 1.0 / NON_DUTCH_NOISE_FACTOR:
            raise InvalidInput(
                f"label_noise must lie in [0, 1/{NON_DUTCH_NOISE_FACTOR:g}], got {self.label_noise}"
            )


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate. The same config always gives identical tables."""

    start: str = "2019-01"  # first month, inclusive
    end: str = "2024-12"  # last month, inclusive
    n_applications: int = 200_000
    n_periods: int = 300_000
    control_share: float = 0.05  # random control sample, investigated regardless of risk
    seed: int = 20190401
    hazards: Hazards = field(default_factory=Hazards)
    # Number of the first application, period and person. A later extract (a new month's caseload) must
    # not reuse the numbers of an earlier one: ids are how logged cases are joined back to the extract.
    first_id: int = 1

    def __post_init__(self) -> None:
        if np.datetime64(self.start, "M") > np.datetime64(self.end, "M"):
            raise InvalidInput(f"start {self.start} lies after end {self.end}")
        if self.n_applications < 1 or self.n_periods < 1:
            raise InvalidInput("n_applications and n_periods must be at least 1")
        if self.first_id < 1:
            raise InvalidInput(f"first_id must be at least 1, got {self.first_id}")
        if not 0.0 <= self.control_share <= 1.0:
            raise InvalidInput(f"control_share must lie in [0, 1], got {self.control_share}")


@dataclass
class GeneratedTable:
    """One generated source table with its hidden truth."""

    name: str  # "ww_aanvragen" or "ww_sollicitatieperiodes"
    frame: pd.DataFrame  # the source table, exactly the register's columns
    truth: pd.DataFrame  # id column, "p_true", "violation"; never part of the source table
    sample_fraction: float  # rows / national volume of this table over the months generated


@dataclass
class _Record:
    """How the historical process handled each case; everything needed to write its label."""

    selection_prob: FloatArray
    control: BoolArray
    investigated: BoolArray
    detection: FloatArray
    wrong_sanction: FloatArray
    censored: BoolArray  # sanctions suspended at the time (only when covid_censoring is on)
    in_covid_window: BoolArray  # excluded from the base rates whatever the hazards


@dataclass
class _World:
    """One table before the intercept is known: columns, the truth's log-odds without intercept, record."""

    columns: dict[str, Any]
    logit: FloatArray
    record: _Record


# ==================================================================================================
# Public API
# ==================================================================================================
def generate_applications(config: GeneratorConfig) -> GeneratedTable:
    """The VW source table: one row per handled WW application."""
    streams = _streams(config.seed, 0)
    world = _applications_world(config, streams, config.n_applications)
    intercept = _intercept(
        APPLICATIONS, config.start, config.end, config.hazards.truth_depends_on_nationality
    )
    volume = _national_applications(_months(config.start, config.end)).sum()
    return _finish(
        APPLICATIONS,
        world,
        id_column="aanvraag_id",
        intercept=intercept,
        streams=streams,
        sample_fraction=config.n_applications / volume,
    )


def generate_periods(config: GeneratorConfig) -> GeneratedTable:
    """The sollicitatie source table: one row per person per 4-week period on WW."""
    streams = _streams(config.seed, 1)
    world = _periods_world(config, streams, config.n_periods)
    intercept = _intercept(PERIODS, config.start, config.end, config.hazards.truth_depends_on_nationality)
    months = _months(config.start, config.end)
    days = (months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")
    volume = (_national_running_benefits(months) * days.astype(np.float64) / _DAYS_PER_PERIOD).sum()
    return _finish(
        PERIODS,
        world,
        id_column="periode_id",
        intercept=intercept,
        streams=streams,
        sample_fraction=config.n_periods / volume,
    )


def generate(config: GeneratorConfig) -> dict[str, GeneratedTable]:
    """Both source tables, keyed by table name."""
    return {APPLICATIONS: generate_applications(config), PERIODS: generate_periods(config)}


def write_tables(
    tables: dict[str, GeneratedTable], out_dir: Path, config: GeneratorConfig, *, with_truth: bool = False
) -> Path:
    """Write each table as parquet plus a manifest; the truth only on request, under _truth/.

    Returns the manifest path. The manifest carries the config (hazards included), the register's
    content hash, the generator version and, per table, the sha256 of the parquet file and its summary.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest: dict[str, Any] = {
        "generator_version": GENERATOR_VERSION,
        "register_content_hash": default_register().content_hash,
        "config": asdict(config),
        "synthetic": True,
        "tables": {},
    }
    for name, table in tables.items():
        path = out_dir / f"{name}.parquet"
        table.frame.to_parquet(path, index=False)
        entry: dict[str, Any] = {"file": path.name, "sha256": file_sha256(path), **summarize(table)}
        if with_truth:
            truth_path = out_dir / "_truth" / f"{name}.parquet"
            truth_path.parent.mkdir(exist_ok=True)
            table.truth.to_parquet(truth_path, index=False)
            entry["truth_file"] = str(truth_path.relative_to(out_dir))
            entry["truth_sha256"] = file_sha256(truth_path)
        manifest["tables"][name] = entry
    manifest_path = out_dir / "manifest.json"
    manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return manifest_path


def summarize(table: GeneratedTable) -> dict[str, Any]:
    """Headline figures of one generated table.

    observed_sanction_rate follows the seeds' definition and leaves out the COVID window: for VW sanctions
    per handled application, for sollicitatie sanctions per running benefit per 4 months.
    wrong_sanction_share is the share of recorded sanctions without a true violation (label noise).
    A figure without any rows to compute it on is None.
    """
    register = default_register()
    label = register.label_for_scan(register.tables[table.name].scan).name
    date = next(c.name for c in register.table_columns(table.name) if c.dtype == "date")
    frame = table.frame
    dates = frame[date].to_numpy(dtype="datetime64[D]")
    outside = ~_in_window(dates, COVID_START, COVID_END)
    sanction = frame[label].fillna(False).to_numpy(dtype=bool)
    investigated = frame["onderzocht"].to_numpy(dtype=bool)
    violation = table.truth["violation"].to_numpy(dtype=bool)
    scale = PERIODS_PER_FOUR_MONTHS if table.name == PERIODS else 1.0
    rows = len(frame)
    return {
        "rows": rows,
        "first_date": str(dates.min()) if rows else None,
        "last_date": str(dates.max()) if rows else None,
        "sample_fraction": table.sample_fraction,
        "investigated_share": _share(investigated),
        "control_share": _share(frame["controlesteekproef"].to_numpy(dtype=bool)),
        "label_coverage": _share(frame[label].notna().to_numpy()),
        "observed_sanction_rate": _share(sanction[outside], scale),
        "true_violation_prevalence": _share(violation),
        "wrong_sanction_share": _share(~violation[sanction]),
    }


# ==================================================================================================
# The VW table
# ==================================================================================================
def _applications_world(config: GeneratorConfig, streams: dict[str, np.random.Generator], n: int) -> _World:
    hazards = config.hazards
    months = _months(config.start, config.end)
    dates = _sample_dates(streams["people"], months, _national_applications(months), n)
    spike = _in_window(dates.astype("datetime64[M]"), SPIKE_START, SPIKE_END)
    people = _draw_people(streams["people"], n, spike)
    nationality = people["nationaliteit"]
    proxies = _draw_proxies(streams["proxies"], nationality, hazards.proxy_strength)

    work = streams["work"]
    sector = _draw_sector(work, nationality, spike)
    contract = _draw_contract(work, sector, nationality)
    size_table = _by_sector("werkgever_grootte", _EMPLOYER_SIZE_BY_SECTOR, _EMPLOYER_SIZE_DEFAULT)
    size = _draw_categorical(work.random(n), size_table, sector)
    reason = _draw_categorical(work.random(n), _by_contract(_REASON_BY_CONTRACT), contract)
    settlement = (
        work.random(n)
        < _lookup("reden_einde_dienstverband", _SETTLEMENT_BY_REASON, _SETTLEMENT_OTHER)[reason]
    )
    contract_names = _categories("contractsoort")
    median = np.array([_EMPLOYMENT_MEDIAN_MONTHS[c] for c in contract_names])[contract]
    spread = np.array([_EMPLOYMENT_SPREAD[c] for c in contract_names])[contract]
    age = people["leeftijd"]
    employment = np.minimum(np.round(median * np.exp(spread * work.standard_normal(n))), (age - 15) * 12)
    employment = np.clip(employment, 0, 600).astype(np.int64)
    flexible = np.isin(contract, _codes("contractsoort", ("uitzend", "oproep")))
    worked = np.minimum(36, np.round(employment * 4.33)).astype(np.int64)
    gaps = work.binomial(worked, np.where(flexible, 0.15, 0.03))
    # Short jobs usually follow earlier ones that also count towards the 26-of-36-weeks condition.
    earlier_work = work.binomial(36 - worked, 0.6)
    weeks_worked = np.clip(worked - gaps + earlier_work, 0, 36)
    hours_mean = np.array([_HOURS[c][0] for c in contract_names])[contract]
    hours_sd = np.array([_HOURS[c][1] for c in contract_names])[contract]
    hours = np.clip(np.round(2 * (hours_mean + hours_sd * work.standard_normal(n))) / 2, 2.0, 60.0)
    wage = _lookup("sector", _HOURLY_WAGE, 0.0)[sector] * np.clip(0.55 + 0.018 * (age - 18), 0.55, 1.05)
    wage = wage * np.exp(0.25 * work.standard_normal(n))
    dagloon = np.round(np.minimum(wage * hours / _WORKING_DAYS_PER_WEEK, _DAGLOON_CAP), 2)
    earlier_benefits = work.poisson(0.15 + 0.45 * flexible + 0.012 * (age - 18))

    # u: unobserved past behaviour. It drives late applications, earlier sanctions and the truth.
    behaviour = streams["behaviour"]
    latent = behaviour.standard_normal(n)
    late = behaviour.random(n) < _expit(-2.4 + 0.9 * latent)
    delay_late = 8 + np.round(40 * np.exp(0.8 * behaviour.standard_normal(n)))
    delay_prompt = np.floor(behaviour.exponential(3.0, n))
    delay = np.clip(np.where(late, delay_late, delay_prompt), 0, 730).astype(np.int64)

    paper = proxies["aanvraagkanaal"] == _code("aanvraagkanaal", "papier")
    intensity = np.where(paper & hazards.feedback_loop, FEEDBACK_INSPECTION_INTENSITY, 1.0)
    earlier_sanctions = streams["history"].poisson(earlier_benefits * 0.15 * np.exp(0.7 * latent) * intensity)

    logit = (
        _lookup("reden_einde_dienstverband", _VW_REASON_EFFECT, 0.0)[reason]
        + _VW_SETTLEMENT_EFFECT * settlement
        + _VW_DELAY_EFFECT * np.log1p(delay)
        + _VW_SHORT_EMPLOYMENT_EFFECT * (employment < 6)
        + _VW_WEEKS_SHORT_EFFECT * (36 - weeks_worked)
        + _VW_LATENT_EFFECT * latent
        + _nationality_effect(nationality, hazards)
    )

    check = _lookup("reden_einde_dienstverband", _VW_CHECK_BY_REASON, 0.0)[reason]
    check = _either(check, np.where(delay > 14, _VW_CHECK_LATE, 0.0))
    check = _either(check, np.where(settlement, _VW_CHECK_SETTLEMENT, 0.0))
    # Wajong applicants are assessed by their labour expert, not by the enforcement team (002 l.329-341).
    eligible = ~people["wajong"]
    record = _select(
        streams["selection"],
        config=config,
        dates=dates,
        legacy=check,
        paper=paper,
        language=proxies["correspondentietaal"],
        paper_check=PAPER_CHECK_VW,
        label_noise=hazards.label_noise,
        eligible=eligible,
    )
    columns: dict[str, Any] = {
        "aanvraag_id": _ids("A", config.first_id, n),
        "persoon_id": _ids("N", config.first_id, n),
        "aanvraagdatum": dates,
        "reden_einde_dienstverband": reason,
        "contractsoort": contract,
        "sector": sector,
        "dienstverband_maanden": employment,
        "uren_per_week": hours,
        "dagloon": dagloon,
        "dagen_tot_aanvraag": delay,
        "eerdere_ww_uitkeringen": np.minimum(earlier_benefits, 20),
        "eerdere_maatregelen": np.minimum(earlier_sanctions, 20),
        "vaststellingsovereenkomst": settlement,
        "werkgever_grootte": size,
        "weken_gewerkt_36": weeks_worked,
        **people,
        **proxies,
    }
    return _World(columns, logit, record)


# ==================================================================================================
# The sollicitatie table
# ==================================================================================================
def _periods_world(config: GeneratorConfig, streams: dict[str, np.random.Generator], n: int) -> _World:
    hazards = config.hazards
    runs = _draw_benefit_runs(streams["people"], config, n)
    person = runs.person  # row -> person index
    people = runs.people
    nationality = people["nationaliteit"]
    n_people = len(nationality)
    proxies = _draw_proxies(streams["proxies"], nationality, hazards.proxy_strength)

    work = streams["work"]
    benefit_month = runs.benefit_start.astype("datetime64[M]")
    sector = _draw_sector(work, nationality, _in_window(benefit_month, SPIKE_START, SPIKE_END))
    education = _draw_education(work, nationality, hazards.proxy_strength)
    required = _draw_required(work, n_people, people["wajong"])
    education_effect = _lookup("opleidingsniveau", {"laag": -0.4, "hoog": 0.5, "onbekend": -0.7}, 0.0)
    chance_logit = (
        0.7
        + 0.9 * runs.job_finding
        + education_effect[education]
        - 0.035 * (people["leeftijd"] - 40)
        + 0.4 * work.standard_normal(n_people)
    )
    chance = np.round(_expit(chance_logit), 3)

    # Per-period behaviour, driven by the person's effort plus period-to-period variation.
    behaviour = streams["behaviour"]
    effort_person = behaviour.standard_normal(n_people)
    effort = effort_person[person] + 0.6 * behaviour.standard_normal(n)
    required_row = required[person]
    missing = behaviour.binomial(required_row, _expit(-3.0 - 1.3 * effort))
    extra = behaviour.poisson(0.8 * np.exp(0.5 * effort))
    reported = np.clip(required_row - missing + extra, 0, 60)
    verifiable = behaviour.binomial(reported, _expit(1.5 + 0.9 * effort))
    repeats = behaviour.binomial(reported, _expit(-2.5 - 0.9 * effort))
    missed = np.minimum(behaviour.poisson(0.06 * np.exp(-0.8 * effort)), 10)
    refused = np.minimum(behaviour.poisson(0.015 * np.exp(-0.9 * effort)), 10)
    activity_type = _draw_activity_type(behaviour, sector[person], effort, reported)
    with np.errstate(invalid="ignore", divide="ignore"):
        verifiable_share = np.where(reported > 0, verifiable / reported, np.nan)

    region = proxies["postcode_regio"][person]
    tightness = np.round(np.clip(_tightness(region, runs.period_start), 0.0, 5.0), 2)
    # Channel-dependent counts: their parameters move with proxy_strength, so they have their own stream.
    channel = streams["channel"]
    paper = proxies["aanvraagkanaal"] == _code("aanvraagkanaal", "papier")
    logins = np.minimum(channel.poisson(np.exp(2.0 + 0.35 * effort) * np.where(paper[person], 0.7, 1.0)), 200)
    invite_rate = verifiable * 0.06 * (0.5 + chance[person]) * tightness**0.4
    invitations = np.minimum(channel.poisson(invite_rate), 30)

    shortfall = np.maximum(required_row - reported, 0) / np.maximum(required_row, 1)
    unverifiable = np.where(reported > 0, 1.0 - np.nan_to_num(verifiable_share), (required_row > 0) * 1.0)
    repeat_share = repeats / np.maximum(reported, 1)
    logit = (
        _SOLL_SHORTFALL_EFFECT * shortfall
        + _SOLL_UNVERIFIABLE_EFFECT * unverifiable
        + _SOLL_REPEAT_EFFECT * repeat_share
        + _SOLL_MISSED_EFFECT * np.minimum(missed, 3)
        + _SOLL_REFUSED_EFFECT * np.minimum(refused, 2)
        - _SOLL_LATENT_EFFECT * effort_person[person]
        + _nationality_effect(nationality[person], hazards)
    )

    check = np.full(n, _SOLL_CHECK_BASE)
    check = _either(check, np.where(shortfall > 0, _SOLL_CHECK_SHORTFALL, 0.0))
    check = _either(check, np.where(missed > 0, _SOLL_CHECK_MISSED, 0.0))
    check = _either(check, np.where(refused > 0, _SOLL_CHECK_REFUSED, 0.0))
    check = _either(check, np.where(repeat_share >= 0.5, _SOLL_CHECK_REPEATS, 0.0))
    person_proxies = {name: values[person] for name, values in proxies.items()}
    record = _select(
        streams["selection"],
        config=config,
        dates=runs.period_start,
        legacy=check,
        paper=paper[person],
        language=person_proxies["correspondentietaal"],
        paper_check=PAPER_CHECK_SOLLICITATIE,
        label_noise=hazards.label_noise * SOLLICITATIE_NOISE_SCALE,
        eligible=np.ones(n, dtype=bool),
        income_signal_window=True,
    )
    age = (
        people["leeftijd"][person]
        + (runs.birthday_offset[person] + _DAYS_PER_PERIOD * runs.period_index) // 365
    )
    per_row_people = {name: values[person] for name, values in people.items()}
    per_row_people["leeftijd"] = np.minimum(age, 70)
    per_row_people["leeftijdsklasse"] = _age_band(per_row_people["leeftijd"])
    columns: dict[str, Any] = {
        "periode_id": _ids("P", config.first_id, n),
        # Persons are numbered after the applicants, so the two tables never share a (synthetic) person.
        "persoon_id": _ids("N", config.first_id + config.n_applications, n_people)[person],
        "periode_start": runs.period_start,
        "activiteiten_gemeld": reported,
        "activiteiten_vereist": required_row,
        "hoofdtype_activiteit": activity_type,
        "aandeel_verifieerbaar": np.round(verifiable_share, 4),
        "herhaalde_activiteiten": repeats,
        "uitnodigingen_gesprek": invitations,
        "werkmap_logins": logins,
        "gemiste_afspraken": missed,
        "geweigerd_aanbod": refused,
        "weken_ww": _DAYS_PER_PERIOD // 7 * runs.period_index,
        "resterende_rechtweken": runs.entitlement_weeks[person] - _DAYS_PER_PERIOD // 7 * runs.period_index,
        "kans_werk_werkverkenner": chance[person],
        "opleidingsniveau": education[person],
        "laatste_sector": sector[person],
        "arbeidsmarkt_krapte": tightness,
        **per_row_people,
        **person_proxies,
    }
    return _World(columns, logit, record)


@dataclass
class _BenefitRuns:
    people: dict[str, Any]  # per person
    benefit_start: DateArray  # per person
    entitlement_weeks: IntArray  # per person
    job_finding: FloatArray  # per person: latent chance of finding work
    birthday_offset: IntArray  # per person: days from benefit start to the next birthday
    person: IntArray  # per row: index of the person
    period_index: IntArray  # per row: number of the 4-week period since the benefit started
    period_start: DateArray  # per row


def _draw_benefit_runs(rng: np.random.Generator, config: GeneratorConfig, n_rows: int) -> _BenefitRuns:
    """People on WW and the 4-week periods of their benefit that fall inside the generated months.

    Benefits start according to the national inflow (applications x acceptance), from two years before the
    first month so that the first months already hold a realistic stock of running benefits. People are
    drawn in batches until the periods inside the months reach n_rows; the rows of the last person are cut.
    """
    months = _months(config.start, config.end)
    window_start = months[0].astype("datetime64[D]")
    window_end = (months[-1] + 1).astype("datetime64[D]")
    inflow_months = np.arange(months[0] - 24, months[-1] + 1)
    inflow = _national_applications(inflow_months) * _acceptance(inflow_months)

    batches: list[dict[str, Any]] = []
    total = 0
    while total < n_rows:
        size = max(1_000, (n_rows - total) // 3)
        start = _sample_dates(rng, inflow_months, inflow, size, sort=False)
        people = _draw_people(rng, size, np.zeros(size, dtype=bool))
        age = people["leeftijd"]
        job_finding = rng.standard_normal(size)
        entitlement_months = np.clip(np.round((age - 18) * rng.uniform(0.3, 1.0, size)), 3, 24)
        entitlement = np.round(entitlement_months * 4.33).astype(np.int64)
        # People find work faster when the labour market is tight.
        cycle = _labour_market_cycle(start.astype("datetime64[M]"))
        exit_weeks = rng.exponential(64.0 * np.exp(-0.4 * job_finding + 0.02 * (age - 40)) / np.sqrt(cycle))
        duration = np.maximum(np.minimum(entitlement, exit_weeks), 4)
        n_periods = np.maximum(1, duration // 4).astype(np.int64)
        offset_first = (window_start - start).astype(np.int64)
        first = np.maximum(0, -(-offset_first // _DAYS_PER_PERIOD))
        last = np.minimum(n_periods - 1, ((window_end - start).astype(np.int64) - 1) // _DAYS_PER_PERIOD)
        count = np.maximum(0, last - first + 1)
        keep = count > 0
        batches.append(
            {
                "people": {k: v[keep] for k, v in people.items()},
                "start": start[keep],
                "entitlement": entitlement[keep],
                "job_finding": job_finding[keep],
                "birthday": rng.integers(0, 365, size)[keep],
                "first": first[keep],
                "count": count[keep],
            }
        )
        total += int(count.sum())

    def joined(key: str) -> Any:
        return np.concatenate([b[key] for b in batches])

    n_people = int(np.searchsorted(np.cumsum(joined("count")), n_rows)) + 1
    count = joined("count")[:n_people]
    count[-1] -= int(count.sum()) - n_rows  # cut the last person's surplus periods
    # Cut in drawing order (people are exchangeable), then order people by benefit start.
    order = np.argsort(joined("start")[:n_people], kind="stable")

    def kept(values: Any) -> Any:
        return values[:n_people][order]

    count = count[order]
    people = {key: kept(np.concatenate([b["people"][key] for b in batches])) for key in batches[0]["people"]}
    start = kept(joined("start"))
    first = kept(joined("first"))
    person = np.repeat(np.arange(n_people), count)
    row_in_person = np.arange(n_rows) - np.repeat(np.cumsum(count) - count, count)
    period_index = first[person] + row_in_person
    return _BenefitRuns(
        people=people,
        benefit_start=start,
        entitlement_weeks=kept(joined("entitlement")),
        job_finding=kept(joined("job_finding")),
        birthday_offset=kept(joined("birthday")),
        person=person,
        period_index=period_index,
        period_start=start[person] + _DAYS_PER_PERIOD * period_index,
    )


def _draw_required(rng: np.random.Generator, n: int, wajong: BoolArray) -> IntArray:
    """Required activities per 4 weeks: normally 4, fewer by agreement with the adviser (002 l.282-284)."""
    levels = np.arange(9)
    normal = np.array([0.03, 0.01, 0.05, 0.04, 0.84, 0.01, 0.01, 0.005, 0.005])
    reduced = np.array([0.15, 0.10, 0.30, 0.15, 0.30, 0.0, 0.0, 0.0, 0.0])
    probs = np.vstack([normal, reduced])
    return levels[_draw_categorical(rng.random(n), probs, wajong.astype(np.int64))]


def _draw_activity_type(
    rng: np.random.Generator, sector: IntArray, effort: FloatArray, reported: IntArray
) -> IntArray:
    """The most reported activity type.

    Agency visits are more common in agency-like sectors, hard-to-verify types at low effort.
    """
    names = _categories("hoofdtype_activiteit")
    agency_like = np.isin(sector, _codes("sector", ("uitzendbureaus", "landbouw", "logistiek")))
    low_effort = effort < -0.5
    condition = agency_like.astype(np.int64) * 2 + low_effort
    tables = []
    for agency in (False, True):
        for low in (False, True):
            weights = {
                "schriftelijke_sollicitatie": 0.55 if not low else 0.30,
                "open_sollicitatie": 0.12 if not low else 0.25,
                "uitzendbureau": 0.25 if agency else 0.08,
                "netwerkgesprek": 0.12 if not low else 0.25,
                "scholing": 0.05,
            }
            tables.append(_lookup("hoofdtype_activiteit", weights, 0.0))
    drawn = _draw_categorical(rng.random(len(effort)), np.array(tables), condition)
    return np.where(reported == 0, names.index("geen"), drawn)


def _draw_education(rng: np.random.Generator, nationality: IntArray, strength: float) -> IntArray:
    unknown_rate = _mix(np.array(_EDUCATION_UNKNOWN), strength)
    known = np.array(_EDUCATION_KNOWN)
    probs = np.column_stack([known * (1.0 - unknown_rate)[:, None], unknown_rate])
    order = [_code("opleidingsniveau", level) for level in ("laag", "middelbaar", "hoog", "onbekend")]
    table = np.zeros_like(probs)
    table[:, order] = probs
    return _draw_categorical(rng.random(len(nationality)), table, nationality)


def _tightness(region: IntArray, dates: DateArray) -> FloatArray:
    """Vacancies per WW recipient for a region and month: a fixed regional level times the national cycle."""
    codes = np.array([int(c) for c in _categories("postcode_regio")])
    regional = np.select(
        [codes <= 35, (codes >= 50) & (codes <= 57), (codes >= 58) & (codes <= 64), codes >= 75],
        [1.2, 1.15, 0.9, 0.85],
        1.0,
    )
    return 0.9 * regional[region] * _labour_market_cycle(dates.astype("datetime64[M]"))


def _labour_market_cycle(months: DateArray) -> FloatArray:
    """National labour-market tightness relative to 2019. No figures in the seeds; shaped after the known
    cycle: slack from the COVID spike through 2020, very tight in 2022-2023."""
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    return np.select(
        [months < SPIKE_START, year == 2020, year == 2021, year == 2022, year == 2023],
        [1.0, 0.55, 0.9, 1.6, 1.5],
        1.3,
    )


# ==================================================================================================
# People, proxies and shared work history
# ==================================================================================================
def _draw_people(rng: np.random.Generator, n: int, young_tilt: BoolArray) -> dict[str, Any]:
    """Audit-only attributes and age. No seed figures: plausible CBS-like shares (DATA_CARD)."""
    for column, order in _ASSUMED_ORDER.items():
        if tuple(_categories(column)) != order:
            raise RuntimeError(f"register categories of {column} changed; update the generator's tables")
    nationality = _draw_categorical(rng.random(n), np.array([_NATIONALITY_SHARES]))
    migration = _draw_categorical(rng.random(n), np.array(_MIGRATION_BY_GROUP), nationality)
    gender = _draw_categorical(rng.random(n), np.array([_GENDER]))
    band_probs = np.array(_AGE_BAND_BY_GROUP)
    tilted = band_probs * np.array([_YOUNG_SPIKE_FACTOR, 1.0, 1.0, 1.0])
    condition = nationality + len(_GROUPS) * young_tilt
    band = _draw_categorical(rng.random(n), np.vstack([band_probs, tilted]), condition)
    low = np.array([b[0] for b in _AGE_BANDS])[band]
    high = np.array([b[1] for b in _AGE_BANDS])[band]
    age = low + np.floor(rng.random(n) * (high - low + 1)).astype(np.int64)
    wajong = rng.random(n) < np.array(_WAJONG_BY_BAND)[band]
    return {
        "nationaliteit": nationality,
        "migratieachtergrond": migration,
        "geslacht": gender,
        "leeftijd": age,
        "leeftijdsklasse": _age_band(age),
        "wajong": wajong,
    }


def _age_band(age: IntArray) -> IntArray:
    bands = _categories("leeftijdsklasse")
    lower = np.array([int(band.split("-")[0].rstrip("+")) for band in bands])
    return (np.searchsorted(lower, age, side="right") - 1).astype(np.int64)


def _draw_proxies(rng: np.random.Generator, nationality: IntArray, strength: float) -> dict[str, Any]:
    """Proxy columns per person; their dependence on nationality is scaled by proxy_strength."""
    n = len(nationality)

    def flag(rates: Sequence[float]) -> BoolArray:
        return rng.random(n) < _mix(np.array(rates), strength)[nationality]

    language = np.array([_lookup("correspondentietaal", dist, 0.0) for dist in _LANGUAGE])
    base = _lookup("postcode_regio", _PC2_POPULATION, 1.0)
    postcode = np.array([base * _lookup("postcode_regio", conc, 1.0) for conc in _PC2_CONCENTRATION])
    postcode /= postcode.sum(axis=1, keepdims=True)  # _mix needs distributions, not weights
    paper = flag(_PAPER)
    return {
        "aanvraagkanaal": np.where(
            paper, _code("aanvraagkanaal", "papier"), _code("aanvraagkanaal", "digitaal")
        ),
        "correspondentietaal": _draw_categorical(rng.random(n), _mix(language, strength), nationality),
        "rni_inschrijving": flag(_RNI),
        "correspondentieadres": flag(_CORRESPONDENCE_ADDRESS),
        "intermediair": flag(_INTERMEDIARY),
        "postcode_regio": _draw_categorical(rng.random(n), _mix(postcode, strength), nationality),
        "inlog_buitenland": flag(_LOGIN_ABROAD),
    }


def _mix(by_group: FloatArray, strength: float) -> FloatArray:
    """(1 - s) * population value + s * group value; rows of by_group follow _GROUPS."""
    population = np.array(_NATIONALITY_SHARES) @ by_group
    return np.asarray((1.0 - strength) * population + strength * by_group, dtype=np.float64)


def _draw_sector(rng: np.random.Generator, nationality: IntArray, spike: BoolArray) -> IntArray:
    base = _lookup("sector", _SECTOR_SHARES, 0.0)
    spike_tilt = _lookup("sector", _SECTOR_TILT_SPIKE, 1.0)
    tables = [base * _lookup("sector", tilt, 1.0) for tilt in _SECTOR_TILT_BY_GROUP]
    tables += [table * spike_tilt for table in tables]
    return _draw_categorical(
        rng.random(len(nationality)), np.array(tables), nationality + len(_GROUPS) * spike
    )


def _draw_contract(rng: np.random.Generator, sector: IntArray, nationality: IntArray) -> IntArray:
    tables = _by_sector("contractsoort", _CONTRACT_BY_SECTOR, _CONTRACT_DEFAULT)
    cee_tilt = _lookup("contractsoort", {"uitzend": _AGENCY_CONTRACT_TILT_CEE}, 1.0)
    cee = nationality == _GROUPS.index("midden_oost_eu")
    return _draw_categorical(
        rng.random(len(sector)), np.vstack([tables, tables * cee_tilt]), sector + len(tables) * cee
    )


def _by_sector(
    column: str, overrides: Mapping[str, Mapping[str, float]], default: Mapping[str, float]
) -> FloatArray:
    """A (sector x category) table; sectors without an override get the default distribution."""
    return np.array([_lookup(column, overrides.get(s, default), 0.0) for s in _categories("sector")])


def _by_contract(tables: Mapping[str, Mapping[str, float]]) -> FloatArray:
    return np.array(
        [_lookup("reden_einde_dienstverband", tables[c], 0.0) for c in _categories("contractsoort")]
    )


def _nationality_effect(nationality: IntArray, hazards: Hazards) -> FloatArray:
    if not hazards.truth_depends_on_nationality:
        return np.zeros(len(nationality))
    return np.where(nationality != _DUTCH, NATIONALITY_TRUTH_EFFECT, 0.0)


# ==================================================================================================
# Selection and labels
# ==================================================================================================
def _select(
    rng: np.random.Generator,
    *,
    config: GeneratorConfig,
    dates: DateArray,
    legacy: FloatArray,
    paper: BoolArray,
    language: IntArray,
    paper_check: float,
    label_noise: float,
    eligible: BoolArray,
    income_signal_window: bool = False,
) -> _Record:
    """The historical selection policy and the error rates of the investigations it led to.

    legacy is the probability that the rules of the time picked the case; eligible is False for cases the
    enforcement team never handles (they get selection probability 0 and no label).
    """
    hazards = config.hazards
    n = len(dates)
    in_covid = _in_window(dates, COVID_START, COVID_END)
    # The 100% paper check ran from end 2018 and was suspended in mid-March 2020 (001 l.2630-2648); we
    # assume it resumed with the end of the COVID regime.
    paper_checked = paper & hazards.paper_selection_bias & ~in_covid
    legacy = np.where(paper_checked, np.maximum(legacy, paper_check), legacy)
    control = (rng.random(n) < config.control_share) & eligible
    picked = (rng.random(n) < legacy) & eligible
    selection_prob = np.where(eligible, config.control_share + (1.0 - config.control_share) * legacy, 0.0)
    non_dutch = language != _code("correspondentietaal", "nl")
    noise = label_noise * np.where(non_dutch, NON_DUTCH_NOISE_FACTOR, 1.0)
    if income_signal_window:
        noise = noise * np.where(
            _in_window(dates, INCOME_SIGNAL_START, INCOME_SIGNAL_END), INCOME_SIGNAL_NOISE_FACTOR, 1.0
        )
    return _Record(
        selection_prob=selection_prob,
        control=control,
        investigated=control | picked,
        detection=np.where(paper_checked, DETECTION_FULL_REVIEW, DETECTION),
        wrong_sanction=np.minimum(noise, 1.0),
        censored=in_covid & hazards.covid_censoring,
        in_covid_window=in_covid,
    )


def _finish(
    name: str,
    world: _World,
    *,
    id_column: str,
    intercept: float,
    streams: dict[str, np.random.Generator],
    sample_fraction: float,
) -> GeneratedTable:
    """Draw the truth and the labels, and assemble the table in register form."""
    n = len(world.logit)
    record = world.record
    p_true = _expit(world.logit + intercept)
    violation = streams["truth"].random(n) < p_true
    draw = streams["labels"].random(n)
    sanction = np.where(violation, draw < record.detection, draw < record.wrong_sanction) & ~record.censored
    register = default_register()
    label = register.label_for_scan(register.tables[name].scan).name
    columns = dict(world.columns)
    columns["onderzocht"] = record.investigated
    columns["controlesteekproef"] = record.control
    columns["selectiekans"] = record.selection_prob
    columns[label] = pd.arrays.BooleanArray(sanction & record.investigated, ~record.investigated)
    frame = _to_frame(name, columns)
    truth = pd.DataFrame({id_column: frame[id_column], "p_true": p_true, "violation": violation})
    return GeneratedTable(name=name, frame=frame, truth=truth, sample_fraction=float(sample_fraction))


@cache
def _intercept(table: str, start: str, end: str, truth_depends_on_nationality: bool) -> float:
    """Intercept of the true propensity so that the default record reproduces the seeds' sanction rate.

    Solved on a fixed reference sample under the default hazards and control share, using expected values
    (no Bernoulli noise), so that it is the same for every seed and size and every recording hazard.
    """
    reference = GeneratorConfig(
        start=start,
        end=end,
        n_applications=_CALIBRATION_ROWS,
        n_periods=_CALIBRATION_ROWS,
        seed=_CALIBRATION_SEED,
        hazards=Hazards(truth_depends_on_nationality=truth_depends_on_nationality),
    )
    if table == APPLICATIONS:
        world = _applications_world(reference, _streams(reference.seed, 0), _CALIBRATION_ROWS)
        target, scale = VW_SANCTION_RATE, 1.0
    else:
        world = _periods_world(reference, _streams(reference.seed, 1), _CALIBRATION_ROWS)
        target, scale = SOLLICITATIE_SANCTION_RATE_4M, PERIODS_PER_FOUR_MONTHS
    record = world.record
    rows = ~record.in_covid_window
    if not rows.any():  # months entirely inside the COVID window: calibrate on the uncensored rate
        rows = np.ones(len(world.logit), dtype=bool)
    logit = world.logit[rows]
    selected = record.selection_prob[rows]
    detection = record.detection[rows]
    wrong = record.wrong_sanction[rows]

    def expected_rate(intercept: float) -> float:
        p = _expit(logit + intercept)
        return float(np.mean(selected * (p * detection + (1.0 - p) * wrong))) * scale

    low, high = -30.0, 10.0
    for _ in range(60):  # the expected rate rises monotonically with the intercept (detection > noise)
        middle = (low + high) / 2
        low, high = (middle, high) if expected_rate(middle) < target else (low, middle)
    return (low + high) / 2


# ==================================================================================================
# Frames and register conformity
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


# Byte patterns "0000".."9999", to write ids four digits at a time.
_FOUR_DIGITS = np.array([list(f"{i:04d}".encode()) for i in range(10_000)], dtype=np.uint8)


def _ids(prefix: str, first: int, n: int) -> pd.api.extensions.ExtensionArray:
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


# ==================================================================================================
# Small helpers
# ==================================================================================================
def _streams(seed: int, table_index: int) -> dict[str, np.random.Generator]:
    table_sequence = np.random.SeedSequence(seed).spawn(2)[table_index]
    children = table_sequence.spawn(len(_BLOCKS))
    return {name: np.random.default_rng(child) for name, child in zip(_BLOCKS, children, strict=True)}


def _months(start: str, end: str) -> DateArray:
    return np.arange(np.datetime64(start, "M"), np.datetime64(end, "M") + 1)


def _monthly(months: DateArray, table: Mapping[int, Sequence[float]]) -> FloatArray:
    years = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month_of_year = months.astype(np.int64) % 12
    first, last = min(table), max(table)
    grid = np.array([table[year] for year in range(first, last + 1)])
    return grid[np.clip(years, first, last) - first, month_of_year] * 1000.0


def _national_applications(months: DateArray) -> FloatArray:
    return _monthly(months, _APPLICATIONS_PER_MONTH_K)


def _national_running_benefits(months: DateArray) -> FloatArray:
    return _monthly(months, _RUNNING_BENEFITS_K)


def _acceptance(months: DateArray) -> FloatArray:
    spike_2020 = (months >= SPIKE_START) & (months < np.datetime64("2021-01", "M"))
    return np.where(spike_2020, _ACCEPTANCE_2020_SPIKE, _ACCEPTANCE_NORMAL)


def _sample_dates(
    rng: np.random.Generator, months: DateArray, weights: FloatArray, n: int, *, sort: bool = True
) -> DateArray:
    """Days drawn month by month in proportion to weights, uniform within the month."""
    month = months[_draw_categorical(rng.random(n), weights[None, :])]
    first_day = month.astype("datetime64[D]")
    length = ((month + 1).astype("datetime64[D]") - first_day).astype(np.int64)
    dates = first_day + np.floor(rng.random(n) * length).astype(np.int64)
    return np.sort(dates) if sort else dates


def _draw_categorical(u: FloatArray, probs: FloatArray, condition: IntArray | None = None) -> IntArray:
    """Inverse-CDF draw per row: category k with probability probs[condition[row], k] (rows normalised).

    One searchsorted for all rows: the cumulative distribution of condition level c is shifted by c, so
    the rows of probs form one sorted sequence and u + c can only land inside the segment of level c.
    """
    cumulative = np.cumsum(probs, axis=1)
    cumulative /= cumulative[:, -1:]
    levels, categories = cumulative.shape
    level = np.zeros(len(u), dtype=np.int64) if condition is None else condition
    shifted = (cumulative + np.arange(levels)[:, None]).ravel()
    position = np.searchsorted(shifted, u + level, side="right") - level * categories
    return np.asarray(np.minimum(position, categories - 1), dtype=np.int64)


def _categories(column: str) -> list[str]:
    return list(default_register()[column].allowed_categories)


def _code(column: str, category: str) -> int:
    return _categories(column).index(category)


def _codes(column: str, categories: Sequence[str]) -> IntArray:
    return np.array([_code(column, c) for c in categories], dtype=np.int64)


def _lookup(column: str, values: Mapping[str, float], default: float) -> FloatArray:
    """Per-category values in the register order of the column."""
    unknown = set(values) - set(_categories(column))
    if unknown:
        raise KeyError(f"{column} has no categories {sorted(unknown)}")
    return np.array([values.get(code, default) for code in _categories(column)], dtype=np.float64)


def _either(first: FloatArray, second: FloatArray) -> FloatArray:
    """Probability that at least one of two independent rules fires."""
    return 1.0 - (1.0 - first) * (1.0 - second)


def _expit(x: FloatArray) -> FloatArray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def _in_window(dates: DateArray, start: np.datetime64, end: np.datetime64) -> BoolArray:
    return np.asarray((dates >= start) & (dates < end), dtype=bool)


def _share(mask: npt.NDArray[Any], scale: float = 1.0) -> float | None:
    """Share of True values times scale; None (JSON null) when there are no values."""
    return float(mask.mean()) * scale if mask.size else None
