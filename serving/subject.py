"""The access letter (AVG/GDPR art. 15): what the decision log holds about the person behind a case, in
plain Dutch, for that person.

The person is resolved through the source extract, never through the log: the log knows case ids only.
:func:`subject_report` finds the case id in the extract's tables (``aanvraag_id`` of an application,
``periode_id`` of a 4-week period), takes the pseudonymous ``persoon_id`` of that row and every case id of
that person in every table, and reads the log rows of exactly those cases, each under the scan of its own
table. So the letter lists every time one of the person's cases was scored, by which scan and model
version, whether it was selected (and why: a score above the line, or the random control sample, which
says nothing about the person), that a selection is not a decision, the main reasons in sentences, the
outcome of the investigation, and what was erased after the retention period.

What it never shows: audit-only attributes (nationality, migration background, gender, age band, Wajong;
the letter shows register *features* only, whatever a logged row holds), and anything of another person:
the rows are selected by the person's own case ids, and the letter holds nothing else of the log.
A re-examination after a ruling on a data source (:mod:`serving.reexamination`) is told with the scoring
it concerns: the investigation halted, or the re-examination opened, still open, or its latest result; with
the column the ruling found unlawful (its register label) and the ruling's date, never who ruled.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import jinja2
from sqlalchemy import Engine, and_, or_, select

from features.register import FeatureRegister, Role
from features.sources import read_source
from models.governance import RulingRecord
from models.specs import ScanSpec
from riskscan import fmt
from riskscan.db import utcnow
from riskscan.errors import NotFound
from serving.log import LOG, LoggedScore, request_id_field
from serving.outcomes import OUTCOMES
from serving.rulings import HALTED, REEXAMINATIONS, RESULTS_TABLE

TEMPLATES: Final = Path(__file__).with_name("templates")
LETTER_TEMPLATE: Final = "subject_letter.html"
#: The letter's stylesheet: served beside the page, or written beside the letter's file.
STYLESHEET: Final = TEMPLATES / "subject_letter.css"
#: How many reasons of a score the letter puts in sentences (the largest contributions).
REASONS: Final = 3
#: The register roles whose values a letter may show: model inputs, and inputs from a column ruled unlawful
#: since (the person has a right to know those were used). Never audit-only attributes.
SHOWN_ROLES: Final = frozenset({Role.FEATURE, Role.FORBIDDEN})
MONTHS_NL: Final = (
    "januari", "februari", "maart", "april", "mei", "juni",
    "juli", "augustus", "september", "oktober", "november", "december",
)  # fmt: skip


def dutch_date(moment: datetime) -> str:
    """``2 maart 2026``."""
    return f"{moment.day} {MONTHS_NL[moment.month - 1]} {moment.year}"


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
)
_env.filters["datum"] = dutch_date
_env.filters["getal"] = lambda value: fmt.number(value, 2, lang="nl")


@dataclass(frozen=True, slots=True)
class Scoring:
    """One time one of the person's cases was scored, as the letter tells it."""

    case_id: str
    scan_name: str
    subject: str
    selected_for: str
    model_version: str
    scored_at: datetime
    score: float
    threshold: float
    signal: bool
    control: bool
    inputs: list[tuple[str, str]]
    reasons: list[str]
    erased_at: datetime | None
    outcome: str | None
    reexamination: str | None = None


@dataclass(frozen=True, slots=True)
class SubjectReport:
    """The letter's content: the case asked about, the person's cases, and every scoring of them."""

    case_id: str
    case_ids: list[str]
    scorings: list[Scoring]
    made_at: datetime


def person_cases(data_dir: Path, register: FeatureRegister, case_id: str) -> dict[str, list[str]]:
    """The case ids of the person behind ``case_id``, per scan, from the source extract."""
    frames = {
        name: read_source(data_dir, name).frame[[table.key, "persoon_id"]]
        for name, table in register.tables.items()
    }
    person = None
    for name, frame in frames.items():
        found = frame.loc[frame[register.tables[name].key] == case_id, "persoon_id"]
        if len(found):
            person = found.iloc[0]
            break
    if person is None:
        raise NotFound(
            f"case_id {case_id!r} is not in the source extract in {data_dir}; expected the aanvraag_id of an "
            "application or the periode_id of a period"
        )
    cases = {
        name: sorted(map(str, frame.loc[frame["persoon_id"] == person, register.tables[name].key]))
        for name, frame in frames.items()
    }
    # A table scored by two scans (the periods: sollicitatie and verblijf) gives each scan the same cases.
    return {scan: cases[name] for name in frames for scan in register.tables[name].scans}


def _latest_outcomes(engine: Engine, request_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    """The latest outcome of each of these requests (a later one supersedes an earlier one)."""
    latest: dict[str, Mapping[str, Any]] = {}
    with engine.connect() as connection:
        for row in connection.execute(
            select(OUTCOMES).where(OUTCOMES.c.request_id.in_(request_ids)).order_by(OUTCOMES.c.id)
        ):
            latest[row.request_id] = dict(row._mapping)
    return latest


def _outcome_text(logged: LoggedScore, outcome: Mapping[str, Any] | None) -> str | None:
    if outcome is None:
        return "Het onderzoek loopt nog; er is nog geen uitkomst vastgelegd." if logged.selected else None
    if not outcome["violation"]:
        return "Na onderzoek is geen overtreding vastgesteld."
    sanction = (
        f" De opgelegde maatregel: {outcome['sanction']}."
        if outcome["sanction"]
        else " Er is geen maatregel opgelegd."
    )
    return (
        "Na onderzoek, en nadat u bent gehoord (hoor en wederhoor), is een overtreding vastgesteld."
        + sanction
    )


#: A re-examination result as the letter says it.
RESULTS_NL: Final = {
    "upheld": "de maatregel blijft staan, omdat zij ook zonder dat gegeven op rechtmatige gronden vaststaat",
    "revised": "de maatregel is herzien",
    "withdrawn": "de maatregel is ingetrokken",
}


def _reexaminations(engine: Engine, request_ids: Sequence[str]) -> dict[str, Mapping[str, Any]]:
    """Per request: its latest re-examination (kind, opened, ruling) with that one's latest result, if any."""
    latest: dict[str, Mapping[str, Any]] = {}
    with engine.connect() as connection:
        opened = connection.execute(
            select(REEXAMINATIONS)
            .where(REEXAMINATIONS.c.request_id.in_(request_ids))
            .order_by(REEXAMINATIONS.c.id)
        )
        for row in opened:
            latest[row.request_id] = {**row._mapping, "result": None, "result_at": None}
        by_id = {row["id"]: request_id for request_id, row in latest.items()}
        results = connection.execute(
            select(RESULTS_TABLE)
            .where(RESULTS_TABLE.c.reexamination_id.in_(list(by_id)))
            .order_by(RESULTS_TABLE.c.id)
        )
        for result in results:
            request_id = by_id[result.reexamination_id]
            latest[request_id] = {
                **latest[request_id],
                "result": result.result,
                "result_at": result.created_at,
            }
    return latest


def _reexamination_text(
    opened: Mapping[str, Any] | None, rulings: Mapping[int, RulingRecord], register: FeatureRegister
) -> str | None:
    if opened is None:
        return None
    ruling = rulings.get(opened["ruling_id"])
    if ruling is None:
        why = "De scan gebruikte een gegeven dat volgens een latere uitspraak niet rechtmatig is verkregen."
    else:
        name = ruling.column_name
        label = register[name].label if name in register else name
        why = (
            f"De scan gebruikte het gegeven '{label}'. Volgens een uitspraak van {dutch_date(ruling.created_at)} "
            "is dat gegeven niet rechtmatig verkregen."
        )
    if opened["kind"] == HALTED:
        return (
            f"Op {dutch_date(opened['created_at'])} heeft UWV het onderzoek naar dit dossier stopgezet. {why} "
            "Op grond van deze selectie volgt geen onderzoek meer."
        )
    start = (
        f"Op {dutch_date(opened['created_at'])} is UWV een heronderzoek van dit dossier begonnen. {why} In het "
        "heronderzoek kijkt UWV of de uitkomst ook zonder dat gegeven klopt."
    )
    if opened["result"] is None:
        return f"{start} Het heronderzoek loopt nog."
    return (
        f"{start} Uitkomst van het heronderzoek op {dutch_date(opened['result_at'])}: "
        f"{RESULTS_NL[opened['result']]}."
    )


def _reasons(logged: LoggedScore, register: FeatureRegister) -> list[str]:
    """The largest contributions of the logged explanation, as sentences; features of the register only."""
    explained = [e for e in logged.explanation if _shown(register, e["feature"])]
    explained.sort(key=lambda e: -abs(e["contribution"]))
    return [
        f"{register[e['feature']].label}: {register[e['feature']].display_value(e['value'])}. Dit maakte de score "
        + ("hoger." if e["contribution"] > 0 else "lager.")
        for e in explained[:REASONS]
    ]


def _inputs(logged: LoggedScore, register: FeatureRegister) -> list[tuple[str, str]]:
    """The input values the scan read, as (label, value); features of the register only."""
    return [
        (register[name].label, register[name].display_value(value))
        for name, value in sorted(logged.inputs.items())
        if _shown(register, name)
    ]


def _shown(register: FeatureRegister, name: str) -> bool:
    return name in register and register[name].role in SHOWN_ROLES


def subject_report(
    engine: Engine,
    data_dir: Path,
    case_id: str,
    register: FeatureRegister,
    specs: Mapping[str, ScanSpec],
    rulings: Sequence[RulingRecord] = (),
) -> SubjectReport:
    """Everything the log holds about the person behind ``case_id`` (refused when the extract does not
    know the case), oldest first. ``rulings`` (the governance store's) name the column and date of any
    re-examination; without them the letter still tells it, without the column."""
    cases = person_cases(data_dir, register, case_id)
    own = or_(*(and_(LOG.c.scan == scan, LOG.c.case_id.in_(ids)) for scan, ids in cases.items() if ids))
    with engine.connect() as connection:
        rows = [
            LoggedScore.from_row(row) for row in connection.execute(select(LOG).where(own).order_by(LOG.c.id))
        ]
    request_ids = [request_id_field("request_id", row.request_id) for row in rows]
    outcomes = _latest_outcomes(engine, request_ids)
    reexaminations = _reexaminations(engine, request_ids)
    by_id = {ruling.id: ruling for ruling in rulings}
    scorings = []
    for logged in rows:
        spec = specs[logged.scan]
        scorings.append(
            Scoring(
                case_id=logged.case_id,
                scan_name=spec.name,
                subject=spec.publication.subject,
                selected_for=spec.publication.selected_for,
                model_version=logged.model_version,
                scored_at=logged.created_at,
                score=logged.score,
                threshold=logged.threshold,
                signal=logged.signal,
                control=logged.control,
                inputs=_inputs(logged, register),
                reasons=_reasons(logged, register),
                erased_at=logged.erased_at,
                outcome=_outcome_text(logged, outcomes.get(logged.request_id)),
                reexamination=_reexamination_text(reexaminations.get(logged.request_id), by_id, register),
            )
        )
    return SubjectReport(case_id, sorted(i for ids in cases.values() for i in ids), scorings, utcnow())


def render_letter(report: SubjectReport, stylesheet_href: str) -> str:
    """The letter as HTML; its only style is the stylesheet at ``stylesheet_href`` (no inline style)."""
    return _env.get_template(LETTER_TEMPLATE).render(report=report, stylesheet=stylesheet_href)
