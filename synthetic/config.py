"""What to generate: the size, months and seed of the synthetic tables, and the planted hazards of the record.

A configuration is a frozen value: the same :class:`GeneratorConfig` always gives identical tables, and
``dataclasses.asdict`` of it is what the manifest records.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from riskscan.errors import InvalidInput
from synthetic.calibration import NON_DUTCH_NOISE_FACTOR

# The two source tables of the register that the generator writes.
APPLICATIONS = "ww_aanvragen"  # the VW scan: one row per handled WW application
PERIODS = "ww_sollicitatieperiodes"  # the sollicitatie scan: one row per person per 4-week period on WW


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
    # From this month (YYYY-MM) on, ww_aanvragen is generated at the full national volume (every handled
    # application), and ``n_applications`` counts the rows of the months before it. An audit on a sample
    # cannot decide (a 7% sample leaves most group checks undecided); the audit window of the demo is the
    # last year, so that year is complete. The periods table keeps one fraction: a benefit spans months, and
    # a per-month fraction would need a person's periods thinned month by month.
    full_volume_from: str | None = None

    def __post_init__(self) -> None:
        if np.datetime64(self.start, "M") > np.datetime64(self.end, "M"):
            raise InvalidInput(f"start {self.start} lies after end {self.end}")
        if self.n_applications < 1 or self.n_periods < 1:
            raise InvalidInput("n_applications and n_periods must be at least 1")
        if self.first_id < 1:
            raise InvalidInput(f"first_id must be at least 1, got {self.first_id}")
        if self.full_volume_from is not None and not (
            np.datetime64(self.start, "M")
            < np.datetime64(self.full_volume_from, "M")
            <= np.datetime64(self.end, "M")
        ):
            raise InvalidInput(
                f"full_volume_from {self.full_volume_from} must lie after start {self.start} and not after "
                f"end {self.end}"
            )
        if not 0.0 <= self.control_share <= 1.0:
            raise InvalidInput(f"control_share must lie in [0, 1], got {self.control_share}")
