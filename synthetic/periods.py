"""The sollicitatie world: one row per person per 4-week period on WW, the table ``ww_sollicitatieperiodes``.

The story, in the order it is drawn (each block from its own random stream):

1. **people**: benefits start by the national inflow (applications x acceptance), from two years before
   the first month so that the first months already hold a realistic stock; each benefit runs until the
   person finds work or the entitlement ends, and its 4-week periods inside the months become rows
   (:func:`_draw_benefit_runs`);
2. **proxies**: per person, as for applications;
3. **work**: last sector, education (its 'onbekend' share is a proxy), the activities required per
   period, and the Werkverkenner's chance of work within a year;
4. **behaviour**: a personal effort, plus period-to-period variation, drives what is reported: missing
   and extra activities, how many are verifiable or repeats, missed appointments and refused offers;
5. **channel**: Werkmap logins (fewer for paper applicants) and invitations to interviews. Their
   parameters move with ``proxy_strength``, so they have their own stream.

The truth's log-odds add the effects of :mod:`synthetic.calibration` ("True violation propensity"): the
share of required activities not reported, unverifiable and repeated activities, missed appointments,
refused offers, and low personal effort that the period's record does not show.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from synthetic.calibration import (
    DAYS_PER_PERIOD,
    EDUCATION_KNOWN,
    EDUCATION_UNKNOWN,
    SOLL_LATENT_EFFECT,
    SOLL_MISSED_EFFECT,
    SOLL_REFUSED_EFFECT,
    SOLL_REPEAT_EFFECT,
    SOLL_SHORTFALL_EFFECT,
    SOLL_UNVERIFIABLE_EFFECT,
    SPIKE_END,
    SPIKE_START,
    VERBLIJF_BASE_RATE,
    VERBLIJF_LOGIN_ABROAD_EFFECT,
    VERBLIJF_LOGINS_EFFECT,
    VERBLIJF_MISSED_EFFECT,
    acceptance,
    labour_market_cycle,
    national_applications,
)
from synthetic.config import GeneratorConfig, Hazards
from synthetic.draws import (
    BoolArray,
    DateArray,
    FloatArray,
    IntArray,
    category_code,
    category_codes,
    draw_categorical,
    expit,
    in_window,
    month_range,
    per_category,
    register_categories,
    sample_dates,
)
from synthetic.world import (
    World,
    age_band,
    draw_people,
    draw_proxies,
    draw_sector,
    mix,
    nationality_effect,
    sequence_ids,
)


def periods_world(config: GeneratorConfig, streams: dict[str, np.random.Generator], n: int) -> World:
    """n periods over the configured months, with the truth's log-odds (intercept not yet added)."""
    hazards = config.hazards
    runs = _draw_benefit_runs(streams["people"], config, n)
    person = runs.person  # row -> person index
    nationality = runs.people["nationaliteit"]
    proxies = draw_proxies(streams["proxies"], nationality, hazards.proxy_strength)
    profile = _draw_profile(streams["work"], runs, hazards.proxy_strength)
    activity = _draw_activities(streams["behaviour"], runs, profile)

    region = proxies["postcode_regio"][person]
    tightness = np.round(np.clip(_tightness(region, runs.period_start), 0.0, 5.0), 2)
    # Channel-dependent counts: their parameters move with proxy_strength, so they have their own stream.
    channel = streams["channel"]
    paper = proxies["aanvraagkanaal"] == category_code("aanvraagkanaal", "papier")
    logins = np.minimum(
        channel.poisson(np.exp(2.0 + 0.35 * activity.effort) * np.where(paper[person], 0.7, 1.0)), 200
    )
    invite_rate = activity.verifiable * 0.06 * (0.5 + profile.chance[person]) * tightness**0.4
    invitations = np.minimum(channel.poisson(invite_rate), 30)

    weeks_on_benefit = DAYS_PER_PERIOD // 7 * runs.period_index
    columns: dict[str, Any] = {
        "periode_id": sequence_ids("P", config.first_id, n),
        # Persons are numbered after the applicants, so the two tables never share a (synthetic) person.
        "persoon_id": sequence_ids("N", config.first_id + config.n_applications, len(nationality))[person],
        "periode_start": runs.period_start,
        "activiteiten_gemeld": activity.reported,
        "activiteiten_vereist": activity.required,
        "hoofdtype_activiteit": activity.activity_type,
        "aandeel_verifieerbaar": np.round(activity.verifiable_share, 4),
        "herhaalde_activiteiten": activity.repeats,
        "uitnodigingen_gesprek": invitations,
        "werkmap_logins": logins,
        "gemiste_afspraken": activity.missed,
        "geweigerd_aanbod": activity.refused,
        "weken_ww": weeks_on_benefit,
        "resterende_rechtweken": runs.entitlement_weeks[person] - weeks_on_benefit,
        "kans_werk_werkverkenner": profile.chance[person],
        "opleidingsniveau": profile.education[person],
        "laatste_sector": profile.sector[person],
        "arbeidsmarkt_krapte": tightness,
        **_people_per_period(runs),
        **{name: values[person] for name, values in proxies.items()},
    }
    abroad = proxies["inlog_buitenland"][person]
    return World(
        columns,
        _truth_logit(activity, runs, hazards),
        {"verblijf": _stay_abroad_probability(abroad, activity.missed, logins)},
    )


def _stay_abroad_probability(login_abroad: BoolArray, missed: IntArray, logins: IntArray) -> FloatArray:
    """The chance that the person stayed abroad without permission in the period (calibration.py,
    VERBLIJF_*): driven by logging in from abroad, missed appointments and few Werkmap logins."""
    base = np.log(VERBLIJF_BASE_RATE / (1 - VERBLIJF_BASE_RATE))
    logit = (
        base
        + VERBLIJF_LOGIN_ABROAD_EFFECT * login_abroad
        + VERBLIJF_MISSED_EFFECT * np.minimum(missed, 3)
        + VERBLIJF_LOGINS_EFFECT * (np.log1p(logins) - np.log1p(7))
    )
    return np.asarray(expit(logit), dtype=np.float64)


@dataclass
class _BenefitRuns:
    """People on WW (per person) and the 4-week periods of their benefit (per row)."""

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
    months = month_range(config.start, config.end)
    window_start = months[0].astype("datetime64[D]")
    window_end = (months[-1] + 1).astype("datetime64[D]")
    inflow_months = np.arange(months[0] - 24, months[-1] + 1)
    inflow = national_applications(inflow_months) * acceptance(inflow_months)

    batches: list[dict[str, Any]] = []
    total = 0
    while total < n_rows:
        size = max(1_000, (n_rows - total) // 3)
        start = sample_dates(rng, inflow_months, inflow, size, sort=False)
        people = draw_people(rng, size, np.zeros(size, dtype=bool))
        age = people["leeftijd"]
        job_finding = rng.standard_normal(size)
        entitlement_months = np.clip(np.round((age - 18) * rng.uniform(0.3, 1.0, size)), 3, 24)
        entitlement = np.round(entitlement_months * 4.33).astype(np.int64)
        # People find work faster when the labour market is tight.
        cycle = labour_market_cycle(start.astype("datetime64[M]"))
        exit_weeks = rng.exponential(64.0 * np.exp(-0.4 * job_finding + 0.02 * (age - 40)) / np.sqrt(cycle))
        duration = np.maximum(np.minimum(entitlement, exit_weeks), 4)
        n_periods = np.maximum(1, duration // 4).astype(np.int64)
        offset_first = (window_start - start).astype(np.int64)
        first = np.maximum(0, -(-offset_first // DAYS_PER_PERIOD))
        last = np.minimum(n_periods - 1, ((window_end - start).astype(np.int64) - 1) // DAYS_PER_PERIOD)
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
        period_start=start[person] + DAYS_PER_PERIOD * period_index,
    )


def _people_per_period(runs: _BenefitRuns) -> dict[str, Any]:
    """The people's columns per row; age and age band follow birthdays through the benefit."""
    person = runs.person
    age = (
        runs.people["leeftijd"][person]
        + (runs.birthday_offset[person] + DAYS_PER_PERIOD * runs.period_index) // 365
    )
    per_row = {name: values[person] for name, values in runs.people.items()}
    per_row["leeftijd"] = np.minimum(age, 70)
    per_row["leeftijdsklasse"] = age_band(per_row["leeftijd"])
    return per_row


@dataclass
class _Profile:
    """Per person: what the adviser knows at the start of the benefit."""

    sector: IntArray  # last sector
    education: IntArray
    required: IntArray  # activities required per 4 weeks
    chance: FloatArray  # the Werkverkenner's chance of work within a year


def _draw_profile(rng: np.random.Generator, runs: _BenefitRuns, proxy_strength: float) -> _Profile:
    """Sector, education, required activities and chance of work, per person (the work stream)."""
    nationality = runs.people["nationaliteit"]
    benefit_month = runs.benefit_start.astype("datetime64[M]")
    sector = draw_sector(rng, nationality, in_window(benefit_month, SPIKE_START, SPIKE_END))
    education = _draw_education(rng, nationality, proxy_strength)
    required = _draw_required(rng, len(nationality), runs.people["wajong"])
    education_effect = per_category("opleidingsniveau", {"laag": -0.4, "hoog": 0.5, "onbekend": -0.7}, 0.0)
    chance_logit = (
        0.7
        + 0.9 * runs.job_finding
        + education_effect[education]
        - 0.035 * (runs.people["leeftijd"] - 40)
        + 0.4 * rng.standard_normal(len(nationality))
    )
    return _Profile(sector, education, required, np.round(expit(chance_logit), 3))


def _draw_education(rng: np.random.Generator, nationality: IntArray, strength: float) -> IntArray:
    """Education level; the 'onbekend' share (foreign diplomas never evaluated) scales with proxy_strength."""
    unknown_rate = mix(np.array(EDUCATION_UNKNOWN), strength)
    known = np.array(EDUCATION_KNOWN)
    probs = np.column_stack([known * (1.0 - unknown_rate)[:, None], unknown_rate])
    order = [category_code("opleidingsniveau", level) for level in ("laag", "middelbaar", "hoog", "onbekend")]
    table = np.zeros_like(probs)
    table[:, order] = probs
    return draw_categorical(rng.random(len(nationality)), table, nationality)


def _draw_required(rng: np.random.Generator, n: int, wajong: BoolArray) -> IntArray:
    """Required activities per 4 weeks: normally 4, fewer by agreement with the adviser (002 l.282-284)."""
    levels = np.arange(9)
    normal = np.array([0.03, 0.01, 0.05, 0.04, 0.84, 0.01, 0.01, 0.005, 0.005])
    reduced = np.array([0.15, 0.10, 0.30, 0.15, 0.30, 0.0, 0.0, 0.0, 0.0])
    probs = np.vstack([normal, reduced])
    return levels[draw_categorical(rng.random(n), probs, wajong.astype(np.int64))]


@dataclass
class _Activities:
    """Per row: what the person did in the period, and the effort behind it."""

    effort_person: FloatArray  # per person: personal effort, never in the table
    effort: FloatArray  # per row: personal effort plus period-to-period variation
    required: IntArray
    reported: IntArray
    verifiable: IntArray
    verifiable_share: FloatArray  # NaN when nothing was reported
    repeats: IntArray
    missed: IntArray
    refused: IntArray
    activity_type: IntArray


def _draw_activities(rng: np.random.Generator, runs: _BenefitRuns, profile: _Profile) -> _Activities:
    """Per-period behaviour, driven by the person's effort plus period-to-period variation."""
    person = runs.person
    effort_person = rng.standard_normal(len(profile.required))
    effort = effort_person[person] + 0.6 * rng.standard_normal(len(person))
    required = profile.required[person]
    missing = rng.binomial(required, expit(-3.0 - 1.3 * effort))
    extra = rng.poisson(0.8 * np.exp(0.5 * effort))
    reported = np.clip(required - missing + extra, 0, 60)
    verifiable = rng.binomial(reported, expit(1.5 + 0.9 * effort))
    repeats = rng.binomial(reported, expit(-2.5 - 0.9 * effort))
    missed = np.minimum(rng.poisson(0.06 * np.exp(-0.8 * effort)), 10)
    refused = np.minimum(rng.poisson(0.015 * np.exp(-0.9 * effort)), 10)
    activity_type = _draw_activity_type(rng, profile.sector[person], effort, reported)
    with np.errstate(invalid="ignore", divide="ignore"):
        verifiable_share = np.where(reported > 0, verifiable / reported, np.nan)
    return _Activities(
        effort_person=effort_person,
        effort=effort,
        required=required,
        reported=reported,
        verifiable=verifiable,
        verifiable_share=verifiable_share,
        repeats=repeats,
        missed=missed,
        refused=refused,
        activity_type=activity_type,
    )


def _draw_activity_type(
    rng: np.random.Generator, sector: IntArray, effort: FloatArray, reported: IntArray
) -> IntArray:
    """The most reported activity type.

    Agency visits are more common in agency-like sectors, hard-to-verify types at low effort.
    """
    names = register_categories("hoofdtype_activiteit")
    agency_like = np.isin(sector, category_codes("sector", ("uitzendbureaus", "landbouw", "logistiek")))
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
            tables.append(per_category("hoofdtype_activiteit", weights, 0.0))
    drawn = draw_categorical(rng.random(len(effort)), np.array(tables), condition)
    return np.where(reported == 0, names.index("geen"), drawn)


def _tightness(region: IntArray, dates: DateArray) -> FloatArray:
    """Vacancies per WW recipient for a region and month: a fixed regional level times the national cycle."""
    codes = np.array([int(c) for c in register_categories("postcode_regio")])
    regional = np.select(
        [codes <= 35, (codes >= 50) & (codes <= 57), (codes >= 58) & (codes <= 64), codes >= 75],
        [1.2, 1.15, 0.9, 0.85],
        1.0,
    )
    return 0.9 * regional[region] * labour_market_cycle(dates.astype("datetime64[M]"))


def _truth_logit(activity: _Activities, runs: _BenefitRuns, hazards: Hazards) -> FloatArray:
    """Log-odds of not meeting the duty to apply, without the intercept.

    The terms are summed in this order on purpose: floating-point addition is not associative, and the
    generated tables are pinned to these exact bits.
    """
    required, reported = activity.required, activity.reported
    shortfall = np.maximum(required - reported, 0) / np.maximum(required, 1)
    unverifiable = np.where(
        reported > 0, 1.0 - np.nan_to_num(activity.verifiable_share), (required > 0) * 1.0
    )
    repeat_share = activity.repeats / np.maximum(reported, 1)
    return (
        SOLL_SHORTFALL_EFFECT * shortfall
        + SOLL_UNVERIFIABLE_EFFECT * unverifiable
        + SOLL_REPEAT_EFFECT * repeat_share
        + SOLL_MISSED_EFFECT * np.minimum(activity.missed, 3)
        + SOLL_REFUSED_EFFECT * np.minimum(activity.refused, 2)
        - SOLL_LATENT_EFFECT * activity.effort_person[runs.person]
        + nationality_effect(runs.people["nationaliteit"][runs.person], hazards)
    )
