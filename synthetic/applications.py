"""The VW world: one row per handled WW application, the source table ``ww_aanvragen``.

The story of an application, in the order it is drawn (each block from its own random stream):

1. **people**: the application date, month by month in proportion to the national volume, then the
   applicant (young people more often in the 2020 spike months);
2. **proxies**: channel, language, registrations and postcode, dependent on nationality by
   ``proxy_strength``;
3. **work**: the job that ended (sector, contract, employer size, the reason it ended, a settlement), its
   length, the weeks worked in the last 36, hours, daily wage and earlier WW benefits;
4. **behaviour**: an unobserved personal term u (past behaviour). It makes late applications more likely,
   raises earlier sanctions and enters the truth;
5. **history**: earlier sanctions, found where UWV looked. With ``feedback_loop`` on, paper applicants were
   inspected 2.5 times as intensely, so the count carries past inspection, and through it nationality.

The truth's log-odds add the effects of :mod:`synthetic.calibration` ("True violation propensity"):
culpable reasons, a settlement, a late application, a short job, too few weeks worked, and u.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthetic.calibration import (
    DAGLOON_CAP,
    EMPLOYER_SIZE_BY_SECTOR,
    EMPLOYER_SIZE_DEFAULT,
    EMPLOYMENT_MEDIAN_MONTHS,
    EMPLOYMENT_SPREAD,
    FEEDBACK_INSPECTION_INTENSITY,
    HOURLY_WAGE,
    HOURS,
    REASON_BY_CONTRACT,
    SETTLEMENT_BY_REASON,
    SETTLEMENT_OTHER,
    SPIKE_END,
    SPIKE_START,
    VW_DELAY_EFFECT,
    VW_LATENT_EFFECT,
    VW_REASON_EFFECT,
    VW_SETTLEMENT_EFFECT,
    VW_SHORT_EMPLOYMENT_EFFECT,
    VW_WEEKS_SHORT_EFFECT,
    WORKING_DAYS_PER_WEEK,
    national_applications,
)
from synthetic.config import GeneratorConfig, Hazards
from synthetic.draws import (
    BoolArray,
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
    by_sector,
    draw_contract,
    draw_people,
    draw_proxies,
    draw_sector,
    nationality_effect,
    sequence_ids,
)


@dataclass
class _Job:
    """The job that ended, and the work before it; one value per application."""

    sector: IntArray
    contract: IntArray
    employer_size: IntArray
    reason: IntArray
    settlement: BoolArray
    employment_months: IntArray
    weeks_worked: IntArray
    hours: FloatArray
    dagloon: FloatArray
    earlier_benefits: IntArray


def application_volume(config: GeneratorConfig) -> tuple[FloatArray, int, float]:
    """Expected rows per configured month, the rows to draw, and the sample fraction of the sampled months.

    Without ``full_volume_from`` every month is sampled at f = n_applications / national volume. With it,
    months before it are sampled at f = n_applications / their national volume and later months are complete
    (fraction 1): month m gets weight national(m) x fraction(m), and n = n_applications + their volume.
    """
    months = month_range(config.start, config.end)
    national = national_applications(months)
    full = (
        months >= np.datetime64(config.full_volume_from, "M")
        if config.full_volume_from
        else np.zeros(len(months), dtype=bool)
    )
    fraction = config.n_applications / float(national[~full].sum())
    weights = np.where(full, national, national * fraction)
    return weights, config.n_applications + round(float(national[full].sum())), fraction


def applications_world(config: GeneratorConfig, streams: dict[str, np.random.Generator], n: int) -> World:
    """n applications over the configured months, with the truth's log-odds (intercept not yet added)."""
    hazards = config.hazards
    months = month_range(config.start, config.end)
    weights, _, _ = application_volume(config)
    dates = sample_dates(streams["people"], months, weights, n)
    spike = in_window(dates.astype("datetime64[M]"), SPIKE_START, SPIKE_END)
    people = draw_people(streams["people"], n, spike)
    nationality = people["nationaliteit"]
    proxies = draw_proxies(streams["proxies"], nationality, hazards.proxy_strength)
    job = _draw_job(streams["work"], nationality, spike, people["leeftijd"])

    # u: unobserved past behaviour. It drives late applications, earlier sanctions and the truth.
    latent = streams["behaviour"].standard_normal(n)
    delay = _draw_delay(streams["behaviour"], latent)
    paper = proxies["aanvraagkanaal"] == category_code("aanvraagkanaal", "papier")
    intensity = np.where(paper & hazards.feedback_loop, FEEDBACK_INSPECTION_INTENSITY, 1.0)
    earlier_sanctions = streams["history"].poisson(
        job.earlier_benefits * 0.15 * np.exp(0.7 * latent) * intensity
    )

    columns: dict[str, Any] = {
        "aanvraag_id": sequence_ids("A", config.first_id, n),
        "persoon_id": sequence_ids("N", config.first_id, n),
        "aanvraagdatum": dates,
        "reden_einde_dienstverband": job.reason,
        "contractsoort": job.contract,
        "sector": job.sector,
        "dienstverband_maanden": job.employment_months,
        "uren_per_week": job.hours,
        "dagloon": job.dagloon,
        "dagen_tot_aanvraag": delay,
        "eerdere_ww_uitkeringen": np.minimum(job.earlier_benefits, 20),
        "eerdere_maatregelen": np.minimum(earlier_sanctions, 20),
        "vaststellingsovereenkomst": job.settlement,
        "werkgever_grootte": job.employer_size,
        "weken_gewerkt_36": job.weeks_worked,
        **people,
        **proxies,
    }
    return World(columns, _truth_logit(job, delay, latent, nationality, hazards))


def _draw_job(rng: np.random.Generator, nationality: IntArray, spike: BoolArray, age: IntArray) -> _Job:
    """The job that ended and the work history before it (legitimate features; mild links to nationality)."""
    n = len(nationality)
    sector = draw_sector(rng, nationality, spike)
    contract = draw_contract(rng, sector, nationality)
    size_table = by_sector("werkgever_grootte", EMPLOYER_SIZE_BY_SECTOR, EMPLOYER_SIZE_DEFAULT)
    size = draw_categorical(rng.random(n), size_table, sector)
    reason = draw_categorical(rng.random(n), _by_contract(REASON_BY_CONTRACT), contract)
    settlement = (
        rng.random(n)
        < per_category("reden_einde_dienstverband", SETTLEMENT_BY_REASON, SETTLEMENT_OTHER)[reason]
    )
    contract_names = register_categories("contractsoort")
    median = np.array([EMPLOYMENT_MEDIAN_MONTHS[c] for c in contract_names])[contract]
    spread = np.array([EMPLOYMENT_SPREAD[c] for c in contract_names])[contract]
    employment = np.minimum(np.round(median * np.exp(spread * rng.standard_normal(n))), (age - 15) * 12)
    employment = np.clip(employment, 0, 600).astype(np.int64)
    flexible = np.isin(contract, category_codes("contractsoort", ("uitzend", "oproep")))
    worked = np.minimum(36, np.round(employment * 4.33)).astype(np.int64)
    gaps = rng.binomial(worked, np.where(flexible, 0.15, 0.03))
    # Short jobs usually follow earlier ones that also count towards the 26-of-36-weeks condition.
    earlier_work = rng.binomial(36 - worked, 0.6)
    weeks_worked = np.clip(worked - gaps + earlier_work, 0, 36)
    hours_mean = np.array([HOURS[c][0] for c in contract_names])[contract]
    hours_sd = np.array([HOURS[c][1] for c in contract_names])[contract]
    hours = np.clip(np.round(2 * (hours_mean + hours_sd * rng.standard_normal(n))) / 2, 2.0, 60.0)
    wage = per_category("sector", HOURLY_WAGE, 0.0)[sector] * np.clip(0.55 + 0.018 * (age - 18), 0.55, 1.05)
    wage = wage * np.exp(0.25 * rng.standard_normal(n))
    return _Job(
        sector=sector,
        contract=contract,
        employer_size=size,
        reason=reason,
        settlement=settlement,
        employment_months=employment,
        weeks_worked=weeks_worked,
        hours=hours,
        dagloon=np.round(np.minimum(wage * hours / WORKING_DAYS_PER_WEEK, DAGLOON_CAP), 2),
        earlier_benefits=rng.poisson(0.15 + 0.45 * flexible + 0.012 * (age - 18)),
    )


def _draw_delay(rng: np.random.Generator, latent: FloatArray) -> IntArray:
    """Days from unemployment to application: mostly a few, weeks to months for the late (more often high u)."""
    n = len(latent)
    late = rng.random(n) < expit(-2.4 + 0.9 * latent)
    delay_late = 8 + np.round(40 * np.exp(0.8 * rng.standard_normal(n)))
    delay_prompt = np.floor(rng.exponential(3.0, n))
    return np.clip(np.where(late, delay_late, delay_prompt), 0, 730).astype(np.int64)


def _truth_logit(
    job: _Job, delay: IntArray, latent: FloatArray, nationality: IntArray, hazards: Hazards
) -> FloatArray:
    """Log-odds of culpable unemployment, without the intercept.

    The terms are summed in this order on purpose: floating-point addition is not associative, and the
    generated tables are pinned to these exact bits.
    """
    return (
        per_category("reden_einde_dienstverband", VW_REASON_EFFECT, 0.0)[job.reason]
        + VW_SETTLEMENT_EFFECT * job.settlement
        + VW_DELAY_EFFECT * np.log1p(delay)
        + VW_SHORT_EMPLOYMENT_EFFECT * (job.employment_months < 6)
        + VW_WEEKS_SHORT_EFFECT * (36 - job.weeks_worked)
        + VW_LATENT_EFFECT * latent
        + nationality_effect(nationality, hazards)
    )


def _by_contract(tables: Mapping[str, Mapping[str, float]]) -> FloatArray:
    """A (contract x reason for the end of employment) table."""
    return np.array(
        [
            per_category("reden_einde_dienstverband", tables[c], 0.0)
            for c in register_categories("contractsoort")
        ]
    )
