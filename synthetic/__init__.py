"""The synthetic world: made-up WW source tables, and simulated months of traffic, for the demo, the tests
and the benchmarks. Never production: nothing here describes real people, and the one writer into an existing
extract, ``simulate-month``, is refused by the CLI unless the extract's manifest says it is synthetic.

Owns the generator (calibration, world, record; see ``synthetic/DATA_CARD.md`` for every figure and
planted hazard), re-exported here, and ``simulate-month`` (:mod:`synthetic.simulate`), which is imported
on its own because it drives the serving stack and ``import synthetic`` should stay light.

May import: numpy, pandas, pyarrow; the platform (``riskscan.*``); ``features`` (the register and the
source files); ``simulate`` also the stages it drives (``models``, ``serving``). Imported only by the CLI,
the tests and the benchmarks: production packages (features, training, models, ethics_review, serving,
jobs) never import it.
"""

from synthetic.calibration import COVID_END, COVID_START
from synthetic.config import APPLICATIONS, PERIODS, GeneratorConfig, Hazards
from synthetic.extract import summarize, write_tables
from synthetic.generator import GENERATOR_VERSION, generate, generate_applications, generate_periods
from synthetic.record import GeneratedTable

__all__ = [
    "APPLICATIONS",
    "COVID_END",
    "COVID_START",
    "GENERATOR_VERSION",
    "PERIODS",
    "GeneratedTable",
    "GeneratorConfig",
    "Hazards",
    "generate",
    "generate_applications",
    "generate_periods",
    "summarize",
    "write_tables",
]
