"""The calibration: every figure the synthetic world is built on, and the intercept solved from them.

Three kinds of number live here, and nowhere else, so that a reviewer can check each one against
``synthetic/DATA_CARD.md`` (which cites the seed documents) in one file:

* **seed figures**: national volumes, acceptance shares, the sanction rates to reproduce, the regimes'
  calendar (COVID window, the failed income signal, the 100% paper check). The comment beside each one
  names the seed and lines it comes from;
* **assumed tables**: the seeds hold no figures on age, gender, nationality, sectors, contracts or
  postcodes. These are plausible CBS-like choices, marked as such in the data card;
* **effects**: the log-odds of the true violation propensity and the probabilities of the legacy selection
  rules. They shape the story; only the intercept is fitted.

The intercept of the true violation propensity is the one number solved rather than written down
(:func:`solve_intercept`): on a fixed reference sample under the default record, the expected observed
sanction rate equals the seeds' rate. Because the reference sample is fixed (:data:`CALIBRATION_SEED`,
:data:`CALIBRATION_ROWS`), the intercept is the same for every seed and size and every recording hazard.

Tables indexed by nationality group follow :data:`GROUPS`; tables keyed by category name follow the
register's categories (the world checks the orders it assumes, see :data:`ASSUMED_ORDER`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from synthetic.draws import DateArray, FloatArray, expit

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
APPLICATIONS_PER_MONTH_K: dict[int, tuple[float, ...]] = {
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
RUNNING_BENEFITS_K: dict[int, tuple[float, ...]] = {
    2019: (257.4,) * 12,
    2020: (257.4, 257.4, 285.0, 292.1, 355.0, 370.0, 375.0, 380.0, 385.0, 395.0, 400.0, 400.0),
    2021: (395.0, 390.0, 380.0, 370.0, 365.0, 360.0, 350.0, 345.0, 340.0, 335.0, 335.0, 325.0),
    2022: (310.0, 300.0, 285.0, 270.0, 260.0, 250.0, 240.0, 230.0, 225.0, 220.0, 210.0, 205.0),
    2023: (205.0, 200.0, 200.0, 200.0, 200.0, 200.0, 195.0, 195.0, 195.0, 195.0, 195.0, 190.0),
    2024: (195.0, 200.0, 205.0, 210.0, 210.0, 210.0, 210.0, 215.0, 215.0, 215.0, 220.0, 220.0),
}
# Share of handled applications that became a benefit: 18% rejected in Jan-Apr 2019, 27% in Jan-Apr 2020
# (001 l.1120-1122); 0.70 from March to December 2020 reproduces 186,938 new benefits in Jan-Apr 2020.
ACCEPTANCE_NORMAL = 0.82
ACCEPTANCE_2020_SPIKE = 0.70
DAYS_PER_PERIOD = 28
# Sanctions per running benefit per 4 months = sanctions per 4-week period x (4 months / 4 weeks).
PERIODS_PER_FOUR_MONTHS = 4 * 365.25 / 12 / DAYS_PER_PERIOD

# --------------------------------------------------------------------------------------------------
# Calibration targets (DATA_CARD, "Base rates")
# --------------------------------------------------------------------------------------------------
VW_SANCTION_RATE = 0.020  # 5,000 VW sanctions on 255,400 handled applications (001 l.2451-2490, 1120)
SOLLICITATIE_SANCTION_RATE_4M = 0.008  # 1,700-2,500 per ~257-292k running benefits per 4 months
CALIBRATION_SEED = 8_041_957
CALIBRATION_ROWS = 60_000

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
GROUPS = ("nederlands", "midden_oost_eu", "overig_eu", "turks_marokkaans", "overig_niet_eu")
NATIONALITY_SHARES = (0.78, 0.07, 0.04, 0.05, 0.06)
DUTCH = 0
MIGRATION_BY_GROUP = (  # geen, europees, buiten_europees
    (0.84, 0.05, 0.11),
    (0.00, 0.98, 0.02),
    (0.02, 0.93, 0.05),
    (0.00, 0.00, 1.00),
    (0.00, 0.12, 0.88),
)
GENDER = (0.53, 0.465, 0.005)  # man, vrouw, x
# The tuples above and below follow these register category orders; world.draw_people checks them.
ASSUMED_ORDER = {
    "nationaliteit": GROUPS,
    "migratieachtergrond": ("geen", "europees", "buiten_europees"),
    "geslacht": ("man", "vrouw", "x"),
    "leeftijdsklasse": ("15-26", "27-34", "35-49", "50+"),
}
AGE_BANDS = ((17, 26), (27, 34), (35, 49), (50, 66))  # WW ends at state-pension age (~67)
AGE_BAND_BY_GROUP = (
    (0.20, 0.22, 0.30, 0.28),
    (0.28, 0.32, 0.28, 0.12),
    (0.22, 0.32, 0.30, 0.16),
    (0.24, 0.28, 0.32, 0.16),
    (0.24, 0.28, 0.32, 0.16),
)
YOUNG_SPIKE_FACTOR = 1.5  # applications in the spike months: young people hit first (001 l.701-705)
WAJONG_BY_BAND = (0.04, 0.015, 0.008, 0.005)

# Proxy columns at proxy_strength 1, per nationality group in GROUPS order. At strength s a group's rate
# is (1 - s) * population rate + s * group rate, so the population share never changes with s.
PAPER = (0.03, 0.35, 0.12, 0.18, 0.25)
RNI = (0.005, 0.30, 0.12, 0.03, 0.08)
CORRESPONDENCE_ADDRESS = (0.04, 0.40, 0.15, 0.08, 0.15)
INTERMEDIARY = (0.02, 0.25, 0.08, 0.12, 0.15)
LOGIN_ABROAD = (0.03, 0.35, 0.20, 0.15, 0.15)
LANGUAGE: tuple[Mapping[str, float], ...] = (
    {"nl": 0.985, "en": 0.01, "overig": 0.005},
    {"nl": 0.10, "en": 0.30, "pl": 0.45, "overig": 0.15},
    {"nl": 0.35, "en": 0.45, "overig": 0.20},
    {"nl": 0.55, "tr": 0.20, "ar": 0.20, "en": 0.02, "overig": 0.03},
    {"nl": 0.35, "en": 0.35, "ar": 0.15, "overig": 0.15},
)
# Postcode areas: a population weight per PC2 and a concentration factor per group (Amsterdam 10/11,
# Den Haag 25, Westland 26/27, Rotterdam 30/31, Utrecht 35, Eindhoven 56, Venlo 59).
PC2_POPULATION = {"10": 2.0, "11": 1.5, "13": 1.3, "25": 1.8, "30": 1.6, "31": 1.4, "35": 1.6, "56": 1.4}
PC2_CONCENTRATION: tuple[Mapping[str, float], ...] = (
    {},
    {"26": 15.0, "27": 15.0, "59": 15.0, "30": 3.5, "31": 3.5, "47": 3.5, "48": 3.5, "57": 3.5},
    {"10": 6.0, "11": 3.5, "56": 3.5, "25": 2.5, "23": 2.5},
    {"10": 9.0, "11": 9.0, "25": 9.0, "30": 9.0, "31": 9.0, "35": 4.5, "56": 3.5, "13": 3.5},
    {"10": 6.0, "11": 6.0, "25": 6.0, "30": 3.5, "31": 3.5, "13": 3.5, "35": 2.5},
)
# Education: the 'onbekend' share (foreign diplomas never evaluated) is a proxy and scales with
# proxy_strength; the spread of the known levels is legitimate and mild.
EDUCATION_UNKNOWN = (0.02, 0.30, 0.20, 0.08, 0.25)
EDUCATION_KNOWN = (  # laag, middelbaar, hoog
    (0.22, 0.46, 0.32),
    (0.30, 0.48, 0.22),
    (0.18, 0.40, 0.42),
    (0.34, 0.48, 0.18),
    (0.28, 0.42, 0.30),
)

# --------------------------------------------------------------------------------------------------
# Work history (legitimate features; correlations with nationality kept mild)
# --------------------------------------------------------------------------------------------------
SECTOR_SHARES = {
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
SECTOR_TILT_BY_GROUP: tuple[Mapping[str, float], ...] = (
    {},
    {"uitzendbureaus": 1.6, "landbouw": 2.5, "logistiek": 1.5, "zakelijke_dienstverlening": 0.7},
    {"ict": 1.4, "zakelijke_dienstverlening": 1.2, "horeca": 1.2},
    {"logistiek": 1.3, "horeca": 1.2, "detailhandel": 1.2},
    {"horeca": 1.3, "zorg": 1.1, "ict": 1.1},
)
SECTOR_TILT_SPIKE = {"horeca": 2.0, "uitzendbureaus": 1.5, "cultuur": 2.0}
CONTRACT_DEFAULT = {"vast": 0.45, "tijdelijk": 0.40, "uitzend": 0.05, "oproep": 0.10}
CONTRACT_BY_SECTOR: dict[str, Mapping[str, float]] = {
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
AGENCY_CONTRACT_TILT_CEE = 1.3
EMPLOYER_SIZE_DEFAULT = {"micro": 0.20, "klein": 0.25, "middel": 0.25, "groot": 0.30}
EMPLOYER_SIZE_BY_SECTOR: dict[str, Mapping[str, float]] = {
    "uitzendbureaus": {"micro": 0.05, "klein": 0.10, "middel": 0.20, "groot": 0.65},
    "horeca": {"micro": 0.45, "klein": 0.35, "middel": 0.15, "groot": 0.05},
    "cultuur": {"micro": 0.40, "klein": 0.35, "middel": 0.15, "groot": 0.10},
    "landbouw": {"micro": 0.35, "klein": 0.40, "middel": 0.20, "groot": 0.05},
    "overheid": {"micro": 0.02, "klein": 0.08, "middel": 0.25, "groot": 0.65},
}
REASON_BY_CONTRACT: dict[str, Mapping[str, float]] = {
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
SETTLEMENT_BY_REASON = {
    "wederzijds_goedvinden": 0.70,
    "disfunctioneren": 0.35,
    "bedrijfseconomisch": 0.15,
    "overig": 0.08,
}
SETTLEMENT_OTHER = 0.02
EMPLOYMENT_MEDIAN_MONTHS = {"vast": 72.0, "tijdelijk": 11.0, "uitzend": 7.0, "oproep": 14.0}
EMPLOYMENT_SPREAD = {"vast": 0.9, "tijdelijk": 0.7, "uitzend": 0.8, "oproep": 0.8}
HOURS = {"vast": (32.0, 8.0), "tijdelijk": (30.0, 9.0), "uitzend": (36.0, 6.0), "oproep": (17.0, 8.0)}
HOURLY_WAGE = {
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
DAGLOON_CAP = 250.0  # round approximation of the statutory maximum daily wage 2019-2024
WORKING_DAYS_PER_WEEK = 261 / 52

# --------------------------------------------------------------------------------------------------
# True violation propensity (log-odds effects; the intercept is calibrated)
# --------------------------------------------------------------------------------------------------
VW_REASON_EFFECT = {
    "bedrijfseconomisch": -1.0,
    "einde_tijdelijk_contract": -0.8,
    "faillissement": -1.3,
    "wederzijds_goedvinden": 0.0,
    "ontslag_staande_voet": 1.8,
    "eigen_verzoek": 1.5,
    "disfunctioneren": 0.8,
    "overig": 0.2,
}
VW_SETTLEMENT_EFFECT = 0.3
VW_DELAY_EFFECT = 0.3  # per log(1 + days) between unemployment and application
VW_SHORT_EMPLOYMENT_EFFECT = 0.6  # employment under 6 months
VW_WEEKS_SHORT_EFFECT = 0.04  # per week below 36 worked in the last 36
VW_LATENT_EFFECT = 1.0

SOLL_SHORTFALL_EFFECT = 1.2  # per share of required activities not reported
SOLL_UNVERIFIABLE_EFFECT = 1.0  # per share of reported activities without a verifiable employer
SOLL_REPEAT_EFFECT = 1.0  # per share of reported activities that repeat earlier ones
SOLL_MISSED_EFFECT = 0.5  # per missed appointment (up to 3)
SOLL_REFUSED_EFFECT = 0.8  # per refused offer (up to 2)
SOLL_LATENT_EFFECT = 0.8  # per unit of (low) personal effort not visible in the period's record

# Stay abroad without permission (the verblijf scan's outcome, ``maatregel_verblijf``). No seed figure: the
# seeds say only that UWV's stay-abroad scan led to 460 closed cases in about eight months (002
# l.1038-1060). Assumed: in 1.5% of the 4-week periods of people who never logged in from abroad the person
# stayed abroad without permission; logging in from abroad multiplies the odds by e^2.2 (about 9), each
# missed appointment (up to 3) by e^0.5, and many Werkmap logins lower them. With the default world that is
# about 3% of all periods (DATA_CARD.md, "Stay abroad"). An investigation of the period finds a true stay
# with probability VERBLIJF_DETECTION and never records one that did not happen.
VERBLIJF_BASE_RATE = 0.015
VERBLIJF_LOGIN_ABROAD_EFFECT = 2.2
VERBLIJF_MISSED_EFFECT = 0.5  # per missed appointment (up to 3)
VERBLIJF_LOGINS_EFFECT = -0.25  # per unit of log(1 + Werkmap logins) above log(1 + 7), the typical count
VERBLIJF_DETECTION = 0.8

# --------------------------------------------------------------------------------------------------
# Legacy selection rules (historical policy before and beside the risk models)
# --------------------------------------------------------------------------------------------------
VW_CHECK_BY_REASON = {
    "bedrijfseconomisch": 0.03,
    "einde_tijdelijk_contract": 0.03,
    "faillissement": 0.02,
    "wederzijds_goedvinden": 0.10,
    "ontslag_staande_voet": 0.80,
    "eigen_verzoek": 0.70,
    "disfunctioneren": 0.45,
    "overig": 0.06,
}
VW_CHECK_LATE = 0.15  # application more than 14 days after unemployment
VW_CHECK_SETTLEMENT = 0.10
SOLL_CHECK_BASE = 0.002
SOLL_CHECK_SHORTFALL = 0.06
SOLL_CHECK_MISSED = 0.06
SOLL_CHECK_REFUSED = 0.25
SOLL_CHECK_REPEATS = 0.05


# --------------------------------------------------------------------------------------------------
# National volumes and the labour-market cycle, per month
# --------------------------------------------------------------------------------------------------
def national_applications(months: DateArray) -> FloatArray:
    """Handled WW applications per month, nationally (:data:`APPLICATIONS_PER_MONTH_K`)."""
    return _monthly(months, APPLICATIONS_PER_MONTH_K)


def national_running_benefits(months: DateArray) -> FloatArray:
    """Running WW benefits per month, nationally (:data:`RUNNING_BENEFITS_K`)."""
    return _monthly(months, RUNNING_BENEFITS_K)


def national_periods(months: DateArray) -> FloatArray:
    """4-week periods on running benefits per month, nationally: running benefits x days / 28."""
    days = (months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")
    return national_running_benefits(months) * days.astype(np.float64) / DAYS_PER_PERIOD


def acceptance(months: DateArray) -> FloatArray:
    """Share of handled applications that became a benefit: lower from the spike to the end of 2020."""
    spike_2020 = (months >= SPIKE_START) & (months < np.datetime64("2021-01", "M"))
    return np.where(spike_2020, ACCEPTANCE_2020_SPIKE, ACCEPTANCE_NORMAL)


def labour_market_cycle(months: DateArray) -> FloatArray:
    """National labour-market tightness relative to 2019. No figures in the seeds; shaped after the known
    cycle: slack from the COVID spike through 2020, very tight in 2022-2023."""
    year = months.astype("datetime64[Y]").astype(np.int64) + 1970
    return np.select(
        [months < SPIKE_START, year == 2020, year == 2021, year == 2022, year == 2023],
        [1.0, 0.55, 0.9, 1.6, 1.5],
        1.3,
    )


def _monthly(months: DateArray, table: Mapping[int, Sequence[float]]) -> FloatArray:
    """Values per month from a table in thousands per year and calendar month; other years take the nearest."""
    years = months.astype("datetime64[Y]").astype(np.int64) + 1970
    month_of_year = months.astype(np.int64) % 12
    first, last = min(table), max(table)
    grid = np.array([table[year] for year in range(first, last + 1)])
    return grid[np.clip(years, first, last) - first, month_of_year] * 1000.0


# --------------------------------------------------------------------------------------------------
# The intercept
# --------------------------------------------------------------------------------------------------
def solve_intercept(
    logit: FloatArray,
    selection_prob: FloatArray,
    detection: FloatArray,
    wrong_sanction: FloatArray,
    *,
    target: float,
    scale: float,
) -> float:
    """The intercept b at which the expected observed sanction rate of a reference sample equals target.

    For case i with truth log-odds ``logit[i]`` (without intercept), selection probability s_i, detection
    d_i and wrong-sanction probability w_i, the chance that a sanction is recorded is

        s_i * (p_i * d_i + (1 - p_i) * w_i),    p_i = expit(logit[i] + b),

    and the observed rate is its mean times ``scale`` (1 for applications; periods per four months for the
    sollicitatie scan, whose seed rate is per running benefit per four months). Expected values, not
    Bernoulli draws, so the intercept has no sampling noise of its own. The rate rises monotonically with
    b because detection exceeds the wrong-sanction probability, so bisection works: 60 halvings of
    [-30, 10] narrow it to 40 / 2**60 < 1e-16, the precision of a float, and a fixed number of steps makes
    the result the same to the last bit on every run.
    """

    def expected_rate(intercept: float) -> float:
        p = expit(logit + intercept)
        return float(np.mean(selection_prob * (p * detection + (1.0 - p) * wrong_sanction))) * scale

    low, high = -30.0, 10.0
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if expected_rate(middle) < target else (low, middle)
    return (low + high) / 2
