"""The generator's entry points: both synthetic source tables, from a configuration.

A table is made in four steps, each owned by its own module:

1. the **world** (:mod:`synthetic.applications`, :mod:`synthetic.periods`): people, their behaviour and
   the truth's log-odds, each block of the story from its own random stream;
2. the **calibration** (:mod:`synthetic.calibration`): the intercept that makes the default record
   reproduce the seeds' sanction rate, solved once per table and period on a fixed reference sample;
3. the **truth** (:func:`synthetic.world.draw_truth`): the true violation propensity and its draw;
4. the **record** (:mod:`synthetic.record`): the historical selection and the labels it left.

Because the intercept is fixed by the reference sample and every random block has its own stream, the
recording hazards change the record, never the world: with the same seed, switching ``proxy_strength``,
``paper_selection_bias``, ``feedback_loop``, ``covid_censoring`` or ``label_noise`` leaves every
person's features that enter the truth, ``p_true`` and ``violation`` unchanged. One exception, by design:
the stay-abroad outcome of the periods (``violation_verblijf``, :mod:`synthetic.periods`) follows
``inlog_buitenland``, which ``proxy_strength`` moves; the stay-abroad scenario runs at ``proxy_strength`` 0.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

import numpy as np

from synthetic.applications import application_volume, applications_world
from synthetic.calibration import (
    CALIBRATION_ROWS,
    CALIBRATION_SEED,
    PERIODS_PER_FOUR_MONTHS,
    SOLLICITATIE_SANCTION_RATE_4M,
    VW_SANCTION_RATE,
    national_periods,
    solve_intercept,
)
from synthetic.config import APPLICATIONS, PERIODS, GeneratorConfig, Hazards
from synthetic.draws import month_range, random_streams
from synthetic.periods import periods_world
from synthetic.record import GeneratedTable, record_table, select
from synthetic.world import World, draw_truth

GENERATOR_VERSION = "1.0.0"

WorldBuilder = Callable[[GeneratorConfig, dict[str, np.random.Generator], int], World]

# Per table: its child of the seed's SeedSequence, and how its world is built.
_WORLDS: dict[str, tuple[int, WorldBuilder]] = {
    APPLICATIONS: (0, applications_world),
    PERIODS: (1, periods_world),
}
# Per table: the seeds' observed sanction rate, and the factor from a rate per row to the seeds' unit
# (sanctions per running benefit per 4 months = sanctions per 4-week period x periods per 4 months).
SANCTION_RATE_TARGETS: dict[str, tuple[float, float]] = {
    APPLICATIONS: (VW_SANCTION_RATE, 1.0),
    PERIODS: (SOLLICITATIE_SANCTION_RATE_4M, PERIODS_PER_FOUR_MONTHS),
}


def generate_applications(config: GeneratorConfig) -> GeneratedTable:
    """The VW source table: one row per handled WW application (complete from ``full_volume_from``)."""
    _, rows, fraction = application_volume(config)
    return _generate(APPLICATIONS, config, rows, fraction, config.full_volume_from)


def generate_periods(config: GeneratorConfig) -> GeneratedTable:
    """The sollicitatie source table: one row per person per 4-week period on WW."""
    volume = national_periods(month_range(config.start, config.end)).sum()
    return _generate(PERIODS, config, config.n_periods, config.n_periods / volume, None)


def generate(config: GeneratorConfig) -> dict[str, GeneratedTable]:
    """Both source tables, keyed by table name."""
    return {APPLICATIONS: generate_applications(config), PERIODS: generate_periods(config)}


def _generate(
    table: str, config: GeneratorConfig, n: int, sample_fraction: float, full_volume_from: str | None
) -> GeneratedTable:
    """World, record, truth and labels of one table; ``sample_fraction`` is rows over the national volume
    of the sampled months (every month, or those before ``full_volume_from``, which are complete)."""
    table_index, build_world = _WORLDS[table]
    streams = random_streams(config.seed, table_index)
    world = build_world(config, streams, n)
    record = select(streams["selection"], config, table, world.columns)
    intercept = _intercept(table, config.start, config.end, config.hazards.truth_depends_on_nationality)
    truth = draw_truth(streams["truth"], world, intercept)
    return record_table(
        table,
        world,
        truth,
        record,
        streams["labels"],
        sample_fraction=sample_fraction,
        full_volume_from=full_volume_from,
        outcome_rng=streams["abroad"],
    )


@cache
def _intercept(table: str, start: str, end: str, truth_depends_on_nationality: bool) -> float:
    """Intercept of the true propensity so that the default record reproduces the seeds' sanction rate.

    Solved on a fixed reference sample under the default hazards and control share, using expected values
    (no Bernoulli noise), so that it is the same for every seed and size and every recording hazard. The
    COVID window is left out, as in the seeds' rates; months entirely inside it calibrate on every row.
    """
    reference = GeneratorConfig(
        start=start,
        end=end,
        n_applications=CALIBRATION_ROWS,
        n_periods=CALIBRATION_ROWS,
        seed=CALIBRATION_SEED,
        hazards=Hazards(truth_depends_on_nationality=truth_depends_on_nationality),
    )
    table_index, build_world = _WORLDS[table]
    streams = random_streams(reference.seed, table_index)
    world = build_world(reference, streams, CALIBRATION_ROWS)
    record = select(streams["selection"], reference, table, world.columns)
    rows = ~record.in_covid_window
    if not rows.any():
        rows = np.ones(len(world.logit), dtype=bool)
    target, scale = SANCTION_RATE_TARGETS[table]
    return solve_intercept(
        world.logit[rows],
        record.selection_prob[rows],
        record.detection[rows],
        record.wrong_sanction[rows],
        target=target,
        scale=scale,
    )
