"""The seeds' central failure replayed on synthetic data: the stay-abroad scan, lawful yesterday, unlawful today.

UWV took its risicoscan Verblijf buiten Nederland into use in mid-2022. One of its inputs said that a WW
client had logged in to uwv.nl from abroad, from IP addresses collected through cookies. In the third
quarter of 2022 that collection came into doubt; in February 2023 UWV stopped the scan, halted every
investigation it had started and re-examined all 460 closed cases (seed 002 l.1038-1060).
:func:`replay` tells that story through the real code, in order, in a home of its own (the CLI verb
``riskscan scenario verblijf-buiten-nederland`` sets it up, under the register of mid-2022):

1. **history**: sollicitatie periods of 2019-01 to 2022-06 are generated (with the stay-abroad outcome,
   :mod:`synthetic.periods`);
2. **the scan's life**: ``verblijf`` is trained, audited, approved by two DEMO committee members (a DEMO
   decision, co-signed) and promoted, exactly as any scan (:mod:`training`, :mod:`ethics_review`,
   :mod:`models.gate`): adding it took a spec and register entries, no code path of its own;
3. **in use**: the periods of July 2022 to the stop on 15 February 2023 are scored week by week by the batch
   scorer, at the simulated time of scoring; simulated staff investigate the selected periods and record
   outcomes from the generator's hidden truth, each some weeks after scoring, so the cases whose
   investigation had not ended by the stop are still open;
4. **the ruling**: a DEMO committee member rules ``inlog_buitenland`` unlawful, and the cascade
   (:func:`serving.cascade.rule_unlawful`) blocks the version, withdraws the champion, halts the open
   investigations and opens one re-examination task per closed case;
5. **the re-examination**: simulated staff work the oldest tasks whose original outcome carried a sanction
   through the re-examination worklist's own HTTP route (``POST /ui/reexamination``, in-process on the
   pages' app, signed in with a handhaving token), judging on lawful grounds only.

Synthetic data only: this module generates what it scores, and the CLI refuses an extract whose manifest
does not say ``synthetic``. The DEMO decisions and ruling say so in their text.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ethics_review.audit import audit_version
from features.register import default_register
from features.sources import read_source
from models.gate import approve_as_proposed, promote
from models.governance import GovernanceStore
from models.specs import load_spec
from riskscan.errors import Refusal
from serving.auth import Authenticator
from serving.batch import champion, score_batch
from serving.cascade import rule_unlawful
from serving.history import logged_cases
from serving.runtime import ScanRuntime
from serving.signing import signatory
from serving.store import ServingStore
from synthetic.config import PERIODS, GeneratorConfig, Hazards
from synthetic.extract import write_tables
from synthetic.generator import generate_periods
from synthetic.simulate import SimulatedClock
from training.train import train_scan

SCAN = "verblijf"
COLUMN = "inlog_buitenland"
#: The scan's months in use (seed 002: "medio 2022" to "februari ... stopgezet").
IN_USE_FROM = "2022-07"
STOPPED = date(2023, 2, 15)
#: The history the scan was trained on: the months before it was taken into use.
HISTORY = ("2019-01", "2022-06")
#: Caseload ids start here, after every id of the history, so logged cases join back to the extract.
CASELOAD_FIRST_ID = 100_000_001

DEMO_APPROVAL = (
    "DEMO-BESLUIT door het scenario 'verblijf buiten Nederland', geen echte beoordeling: goedgekeurd (medio "
    "2022) onder voorwaarden; inlog_buitenland werd toen rechtmatig geacht."
)
DEMO_RULING = (
    "DEMO-UITSPRAAK door het scenario 'verblijf buiten Nederland': de IP-adressen achter inlog_buitenland zijn "
    "via cookies verzameld zonder wettelijke grondslag (zoals UWV in februari 2023 vaststelde, seed 002 "
    "r.1038-1060)."
)
CHECKLIST = {
    "purpose_legal_basis": "DEMO (scenario): WW art. 19 lid 1 onder f en art. 27, zoals medio 2022 gelezen.",
    "necessity_proportionality": "DEMO (scenario): selectie binnen capaciteit; een aselecte controlegroep.",
    "data_source_lawfulness": "DEMO (scenario): inlog_buitenland werd medio 2022 rechtmatig geacht.",
    "fairness_results_reviewed": "DEMO (scenario): auditrapport gelezen; onbesliste toetsen worden gevolgd.",
    "human_oversight_hoor_en_wederhoor": "DEMO (scenario): geen maatregel zonder hoor en wederhoor.",
    "transparency_register_entry": "DEMO (scenario): geen publicatie; dit is een nagespeeld scenario.",
    "rereview_date": "DEMO (scenario): herbeoordeling binnen zes maanden.",
}
#: What simulated staff write when they re-examine a task on lawful grounds only.
RESULT_NOTES = {
    "upheld": "Verblijf in het buitenland blijkt ook uit rechtmatig verkregen gegevens (gesprek, stukken).",
    "revised": "Alleen een deel van het verblijf blijkt uit rechtmatig verkregen gegevens; maatregel herzien.",
    "withdrawn": "Zonder de onrechtmatige inloggegevens is het verblijf niet aangetoond; maatregel ingetrokken.",
}


@dataclass(frozen=True)
class ScenarioConfig:
    """Sizes and the simulated process. The defaults take a few minutes on two cores; tests use less."""

    history_periods: int = 150_000
    caseload_periods: int = 500_000
    seed: int = 20220701
    assessed_share: float = 0.9  # of the selected periods, investigated before or after the stop
    heard_share: float = 0.97  # of those, finished after hoor en wederhoor
    min_days_to_outcome: int = 21
    max_days_to_outcome: int = 90
    tasks_to_work: int = 25
    # Of the sanctions re-examined whose stay abroad was real: the share that lawful evidence also shows
    # in full (upheld); the rest in part (revised). A sanction without a real stay is withdrawn.
    upheld_share: float = 0.7
    # How strongly the proxy columns, inlog_buitenland among them, follow nationality (Hazards). At the
    # generator's default 1.0 logins from abroad are 3% (Dutch) to 35% (CEE) and the audit fails the scan
    # as a nationality proxy (proxy and counterfactual checks on inlog_buitenland): riskscan would have
    # stopped it in 2022 on those grounds alone. The scenario is about lawfulness, so by default its world
    # has no such dependence and the scan can pass its audit as UWV's did; ``--proxy-strength 1`` shows
    # the refusal.
    proxy_strength: float = 0.0


@dataclass(frozen=True)
class ScenarioSummary:
    """The figures the scenario prints, in the order of the story."""

    version: str
    audit_verdict: str
    sample_fraction: float
    decision_id: int
    periods_scored: int
    selected: int
    controls: int
    outcomes_before_stop: int
    closed_at_random: int  # of outcomes_before_stop: random control draws, which UWV's scan did not have
    sanctions: int
    open_at_stop: int
    ruling_id: int
    withdrawn: tuple[str, ...]
    halted: int
    tasks: int
    worked: dict[str, int]
    service_before: dict[str, str]
    service_after: dict[str, str]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def generate_history(data_dir: Path, config: ScenarioConfig) -> Path:
    """The periods the scan is trained and audited on, written as a synthetic extract."""
    generated = GeneratorConfig(
        start=HISTORY[0],
        end=HISTORY[1],
        n_applications=1,
        n_periods=config.history_periods,
        seed=config.seed,
        hazards=Hazards(proxy_strength=config.proxy_strength),
    )
    return write_tables({PERIODS: generate_periods(generated)}, data_dir, generated)


def _caseload(config: ScenarioConfig) -> tuple[pd.DataFrame, pd.DataFrame, float]:
    """The periods of the months in use, until the stop, with their hidden truth and the fraction of the
    national periods they are."""
    generated = GeneratorConfig(
        start=IN_USE_FROM,
        end=f"{STOPPED:%Y-%m}",
        n_applications=1,
        n_periods=config.caseload_periods,
        seed=config.seed + 1,
        first_id=CASELOAD_FIRST_ID,
        hazards=Hazards(proxy_strength=config.proxy_strength),
    )
    table = generate_periods(generated)
    time = default_register().tables[PERIODS].time
    keep = (table.frame[time] < pd.Timestamp(STOPPED)).to_numpy()
    return (
        table.frame.loc[keep].reset_index(drop=True),
        table.truth.loc[keep].reset_index(drop=True),
        table.sample_fraction,
    )


def _approve_and_promote(
    governance: GovernanceStore, store: ServingStore, version: str, progress: Callable[[str], None]
) -> int:
    """Two DEMO committee members approve the version on its audit; an admin promotes it."""
    first = signatory(store.create_token(name="DEMO commissielid A (scenario)", role="committee")[1])
    second = signatory(store.create_token(name="DEMO commissielid B (scenario)", role="committee")[1])
    record = approve_as_proposed(
        governance,
        scan=SCAN,
        version=version,
        signers=(first, second),
        rationale=DEMO_APPROVAL,
        checklist=CHECKLIST,
        demo=True,
    )
    obligations = len(governance.obligations(record.id))
    progress(
        f"[committee] DEMO decision {record.id} ({record.decision}, {obligations} obligations), co-signed"
    )
    promote(governance, scan=SCAN, version=version, promoted_by="DEMO beheerder (scenario)")
    progress(f"[gate] riskscan-{SCAN} version {version} is champion")
    return record.id


def _score_in_use(
    frame: pd.DataFrame,
    work_dir: Path,
    clock: SimulatedClock,
    store: ServingStore,
    governance: GovernanceStore,
    sample_fraction: float,
) -> None:
    """Score the caseload week by week at the simulated time of scoring (capacity is per week).

    The caseload is a sample of the national periods, so each week it may select its share of the national
    capacity, ``investigations_per_week * sample_fraction``. That share is rarely a whole number: the
    fraction left over is carried to the next week (never unused capacity: staff time does not keep), so
    over the months the sample selects its exact share. Without it every week could select the whole
    national capacity from a sample, and the scan's coarse top scores (ties at the threshold) overflow it.
    """
    spec = load_spec(SCAN)
    model, ref = champion(SCAN, governance)
    time = default_register().tables[spec.table].time
    weeks = frame[time].dt.to_period("W-SUN")
    share = spec.capacity.investigations_per_week * sample_fraction
    carried = 0.0
    for week, cases in frame.groupby(weeks, sort=True):
        start = week.start_time.to_pydatetime()
        clock.now = start.replace(tzinfo=UTC) + timedelta(days=7, hours=9)  # the Monday after the week
        carried += share
        allowed = int(carried)
        carried -= allowed
        output = work_dir / f"scores-{start:%Y%m%d}.parquet"
        score_batch(
            spec, cases, output, model=model, ref=ref, store=store, progress=False, signals_allowed=allowed
        )


def _investigate(
    store: ServingStore, clock: SimulatedClock, truth: pd.DataFrame, key: str, config: ScenarioConfig
) -> pd.DataFrame:
    """Simulated staff record the outcome of each selected period they investigate, from the hidden truth,
    some weeks after scoring; only investigations ended before the stop have an outcome. Returns the
    selected cases with two columns added: ``closed`` (an outcome was recorded before the stop) and
    ``sanctioned``."""
    start = datetime.strptime(IN_USE_FROM, "%Y-%m").replace(tzinfo=UTC)
    stop = datetime(STOPPED.year, STOPPED.month, STOPPED.day, tzinfo=UTC)
    logged = logged_cases(store, SCAN, start=start - timedelta(days=1), end=stop + timedelta(days=10))
    selected = logged.loc[logged["signal"] | logged["control"]].reset_index(drop=True)
    violated = truth.set_index(key)[f"violation_{SCAN}"].reindex(selected["case_id"]).to_numpy(dtype=bool)
    rng = np.random.default_rng(config.seed + 2)
    assessed = rng.random(len(selected)) < config.assessed_share
    heard = rng.random(len(selected)) < config.heard_share
    days = rng.integers(config.min_days_to_outcome, config.max_days_to_outcome + 1, len(selected))
    _, staff = store.create_token(name="gesimuleerde handhaving (scenario)", role="handhaving")
    closed = np.zeros(len(selected), dtype=bool)
    sanctioned = np.zeros(len(selected), dtype=bool)
    for i, (request_id, scored) in enumerate(
        zip(selected["request_id"], selected["created_at"], strict=True)
    ):
        at = scored.to_pydatetime() + timedelta(days=int(days[i]))
        if not assessed[i] or at >= stop:
            continue  # never investigated, or still open when the scan was stopped
        clock.now = at
        found = bool(violated[i]) and bool(heard[i])
        store.record_outcome(
            recorded_by=staff,
            request_id=str(request_id),
            violation=found,
            sanction="maatregel verblijf buitenland zonder toestemming" if found else None,
            hoor_en_wederhoor=bool(heard[i]),
            notes="synthetic outcome from the generator's hidden truth (scenario verblijf buiten Nederland)",
        )
        closed[i], sanctioned[i] = True, found
    return selected.assign(closed=closed, sanctioned=sanctioned)


def _service_status(runtime: ScanRuntime) -> dict[str, str]:
    """What the service answers per scan now: 200 with the version, or 503 with the reason."""
    runtime.reload()
    return {
        scan: (
            f"200 (version {state['model']['version']})" if state["available"] else f"503: {state['reason']}"
        )
        for scan, state in runtime.status().items()
    }


def _work_tasks(
    runtime: ScanRuntime,
    truth: pd.DataFrame,
    key: str,
    config: ScenarioConfig,
    progress: Callable[[str], None],
) -> dict[str, int]:
    """Work the oldest tasks with a sanction through the re-examination page's form, as staff do."""
    with warnings.catch_warnings():  # starlette's note that it prefers httpx2; httpx is what the lock holds
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    from serving.web import build_app

    token, _ = runtime.store.create_token(name="DEMO herbeoordelaar (scenario)", role="handhaving")
    rulings = runtime.governance.rulings()
    tasks = [
        t
        for t in runtime.store.reexamination_tasks(rulings)
        if t.case.outcome is not None and t.case.outcome.violation
    ][: config.tasks_to_work]
    violated = truth.set_index(key)[f"violation_{SCAN}"]
    rng = np.random.default_rng(config.seed + 3)
    worked = {result: 0 for result in RESULT_NOTES}
    app = build_app()
    app.state.runtime, app.state.auth = runtime, Authenticator(runtime.store)
    with TestClient(app, base_url="https://riskscan.scenario", follow_redirects=False) as client:
        login = client.get("/ui/login")
        signed_in = client.post(
            "/ui/login", data={"token": token, "csrf": _csrf(login.text), "next": "/ui/reexamination"}
        )
        if signed_in.status_code != 303:
            raise Refusal(f"the re-examination page refused the scenario's login ({signed_in.status_code})")
        csrf = _csrf(client.get("/ui/reexamination").text)
        for task in tasks:
            if bool(violated.get(task.case.case_id, False)):
                result = "upheld" if rng.random() < config.upheld_share else "revised"
            else:
                result = "withdrawn"
            answer = client.post(
                "/ui/reexamination",
                data={
                    "reexamination_id": str(task.id),
                    "result": result,
                    "note": RESULT_NOTES[result],
                    "hoor_en_wederhoor": "on",
                    "csrf": csrf,
                },
            )
            if answer.status_code != 303:
                raise Refusal(
                    f"the re-examination page refused task {task.id}: {answer.status_code} {answer.text}"
                )
            worked[result] += 1
    progress(
        f"[re-examination] {len(tasks)} tasks worked on the page: "
        + ", ".join(f"{n} {result}" for result, n in worked.items())
    )
    return worked


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    if match is None:
        raise Refusal("the page carries no CSRF token")
    return match.group(1)


def replay(
    data_dir: Path, work_dir: Path, config: ScenarioConfig, *, progress: Callable[[str], None] = print
) -> ScenarioSummary:
    """The scenario, in the home and under the register the caller set up (see the module docstring).

    ``data_dir`` must hold the synthetic history (:func:`generate_history`); the caseload is generated here.
    """
    governance, store = GovernanceStore(), ServingStore()
    spec = load_spec(SCAN)
    source = read_source(data_dir, spec.table)
    trained = train_scan(spec, source, progress=progress)
    version = str(trained.version)
    audit = audit_version(SCAN, version, data_dir=data_dir, progress=progress)
    verdict = str(audit.verdict)
    progress(f"[audit] {SCAN} version {version}: verdict {verdict}")
    decision = _approve_and_promote(governance, store, version, progress)
    runtime = ScanRuntime(store=store, governance=governance)
    before = _service_status(runtime)

    frame, truth, fraction = _caseload(config)
    key = default_register().tables[spec.table].key
    clock = SimulatedClock()
    work_dir.mkdir(parents=True, exist_ok=True)
    with ServingStore(clock=clock) as simulated:
        _score_in_use(frame, work_dir, clock, simulated, governance, fraction)
        selected = _investigate(simulated, clock, truth, key, config)
    controls = int(selected["control"].sum())
    outcomes, sanctions = int(selected["closed"].sum()), int(selected["sanctioned"].sum())
    closed_at_random = int((selected["closed"] & selected["control"]).sum())
    progress(
        f"[in use] {len(frame)} periods of {IN_USE_FROM} to {STOPPED:%Y-%m-%d} scored; {len(selected)} selected "
        f"({controls} at random); {outcomes} investigations closed before the stop ({closed_at_random} of them "
        f"at random; {sanctions} sanctions); a {fraction:.2%} sample of the national periods"
    )

    _, ruler = store.create_token(name="DEMO commissielid C (scenario)", role="committee")
    report = rule_unlawful(governance, store, column=COLUMN, reason=DEMO_RULING, token=ruler)
    progress(
        f"[ruling] {report.ruling.sentence}: '{COLUMN}' unlawful; withdrawn: {', '.join(report.withdrawn) or 'none'}; "
        f"{report.halted} investigations halted, {report.tasks} re-examination tasks"
    )
    after = _service_status(runtime)
    worked = _work_tasks(runtime, truth, key, config, progress)
    return ScenarioSummary(
        version=version,
        audit_verdict=verdict,
        sample_fraction=fraction,
        decision_id=decision,
        periods_scored=len(frame),
        selected=len(selected),
        controls=controls,
        outcomes_before_stop=outcomes,
        closed_at_random=closed_at_random,
        sanctions=sanctions,
        open_at_stop=len(selected) - outcomes,
        ruling_id=report.ruling.id,
        withdrawn=report.withdrawn,
        halted=report.halted,
        tasks=report.tasks,
        worked=worked,
        service_before=before,
        service_after=after,
    )
