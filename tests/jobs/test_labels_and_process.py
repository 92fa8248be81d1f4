"""The rules that turn logged cases and outcomes into labels, process figures and a comparison."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import binomtest

import synthetic as generator
from jobs.process import process_health
from models.specs import load_spec
from riskscan.errors import Conflict, InvalidInput
from training.compare import compare_on_control
from training.retrain import assemble_training_table, job_lock, maturity_cutoff

AS_OF = date(2025, 4, 1)


def _logged(rows: list[dict]) -> pd.DataFrame:
    """Logged cases in the shape of serving.history.logged_cases."""
    defaults = {
        "score": 0.5,
        "threshold": 0.4,
        "signal": True,
        "control": False,
        "outcome_recorded": True,
        "violation": False,
        "hoor_en_wederhoor": True,
        "created_at": datetime(2025, 1, 10, 9, tzinfo=UTC),
    }
    frame = pd.DataFrame([{**defaults, **row} for row in rows])
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    frame["violation"] = frame["violation"].astype("boolean")
    frame["hoor_en_wederhoor"] = frame["hoor_en_wederhoor"].astype("boolean")
    return frame


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    return generator.generate_applications(generator.GeneratorConfig(n_applications=2_000, seed=5)).frame


def test_labels_follow_the_rules_of_the_retraining_table(source: pd.DataFrame) -> None:
    spec = load_spec("vw")
    ids = source["aanvraag_id"].astype(str).tolist()
    recent = datetime.combine(AS_OF - timedelta(days=3), datetime.min.time(), tzinfo=UTC)
    logged = _logged(
        [
            {"case_id": ids[0], "violation": True},  # heard violation: a positive label, weight 1
            {"case_id": ids[1], "violation": False},  # heard, nothing found: a negative label
            {"case_id": ids[2], "hoor_en_wederhoor": False},  # not heard: not a label
            {"case_id": ids[3], "outcome_recorded": False, "violation": None, "hoor_en_wederhoor": None},
            {"case_id": ids[4], "violation": True, "created_at": recent},  # too recent: censored
            {
                "case_id": ids[5],
                "signal": False,
                "outcome_recorded": False,
                "violation": None,
            },  # not selected
            # drawn at random below the threshold: a label, weighted by 1 / control share
            {"case_id": ids[6], "control": True, "score": 0.1, "violation": True},
            {"case_id": "A999999999"},  # not in the extract
        ]
    )
    table, accounting = assemble_training_table(spec, source, logged, as_of=AS_OF)
    rows = table.set_index("aanvraag_id").loc[ids[:7]]
    label = spec.label.column
    assert rows["onderzocht"].tolist() == [True, True, False, False, False, False, True]
    assert rows[label].iloc[[0, 1, 6]].tolist() == [True, False, True]
    assert rows[label].iloc[2:6].isna().all()
    assert rows["selectiekans"].iloc[6] == pytest.approx(spec.random_control_share)
    assert rows["selectiekans"].iloc[0] == 1.0
    assert rows["controlesteekproef"].tolist() == [False] * 6 + [True]
    assert (
        accounting.labelled == 3 and accounting.labelled_violations == 2 and accounting.labelled_control == 1
    )
    assert accounting.without_hoor_en_wederhoor == 1
    assert accounting.never_assessed == 1
    assert accounting.censored_recent == 1
    assert accounting.not_in_source == 1
    # Every other case keeps its historical selection and label.
    others = ~table["aanvraag_id"].isin(ids[:7])
    pd.testing.assert_frame_equal(
        table.loc[others, ["onderzocht", "selectiekans", label]],
        source.loc[others, ["onderzocht", "selectiekans", label]],
    )


def test_a_rescored_case_counts_once_by_the_row_that_carries_its_outcome(source: pd.DataFrame) -> None:
    case = str(source["aanvraag_id"].iloc[0])
    logged = _logged(
        [
            {"case_id": case, "outcome_recorded": False, "violation": None, "hoor_en_wederhoor": None},
            {"case_id": case, "violation": True, "created_at": datetime(2025, 1, 11, tzinfo=UTC)},
        ]
    )
    table, accounting = assemble_training_table(load_spec("vw"), source, logged, as_of=AS_OF)
    assert accounting.labelled == 1 and accounting.never_assessed == 0
    assert bool(table.set_index("aanvraag_id").loc[case, "maatregel_vw"]) is True


def test_assembly_names_missing_log_columns(source: pd.DataFrame) -> None:
    with pytest.raises(InvalidInput, match="lack the columns hoor_en_wederhoor"):
        assemble_training_table(
            load_spec("vw"),
            source,
            _logged([{"case_id": "x"}]).drop(columns="hoor_en_wederhoor"),
            as_of=AS_OF,
        )


def test_the_maturity_cutoff_is_midnight_utc() -> None:
    assert maturity_cutoff(date(2025, 3, 1), 28) == datetime(2025, 2, 1, tzinfo=UTC)


def test_process_health_counts_and_intervals() -> None:
    old = datetime(2025, 1, 5, tzinfo=UTC)
    rows = (
        [{"signal": True, "violation": True}] * 12  # model-selected, heard, violation
        + [{"signal": True}] * 28  # model-selected, heard, no violation
        + [{"signal": True, "hoor_en_wederhoor": False}] * 2  # outcome without hearing
        + [{"signal": True, "outcome_recorded": False, "violation": None, "hoor_en_wederhoor": None}] * 8
        + [{"control": True, "violation": True, "score": 0.1}] * 3  # random control, heard
        + [{"control": True, "score": 0.1}] * 27
        + [{"signal": False, "outcome_recorded": False, "violation": None, "hoor_en_wederhoor": None}] * 100
    )
    logged = _logged([{"case_id": f"c{i}", "created_at": old, **row} for i, row in enumerate(rows)])
    health = process_health(logged, as_of=AS_OF, maturity_days=42, level=0.95)
    assert (health.scored, health.selected, health.model_selected, health.control) == (180, 80, 50, 30)
    assert (health.never_assessed.k, health.never_assessed.n) == (8, 80)
    assert (health.hoor_en_wederhoor.k, health.hoor_en_wederhoor.n) == (70, 72)
    assert (health.model_selected_violation_rate.k, health.model_selected_violation_rate.n) == (12, 40)
    assert (health.control_violation_rate.k, health.control_violation_rate.n) == (3, 30)
    wilson = binomtest(12, 40).proportion_ci(method="wilson")
    assert health.model_selected_violation_rate.low == pytest.approx(wilson.low)
    ratio = health.effectiveness_ratio
    assert ratio.estimate == pytest.approx((12 / 40) / (3 / 30))
    assert ratio.low < ratio.estimate < ratio.high


def test_process_health_without_violations_gives_no_ratio() -> None:
    logged = _logged([{"case_id": f"c{i}", "control": i % 2 == 0} for i in range(20)])
    assert np.isnan(
        process_health(logged, as_of=AS_OF, maturity_days=42, level=0.95).effectiveness_ratio.estimate
    )


def test_the_comparison_is_paired_and_says_when_it_cannot_tell() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(2_000) < 0.1
    good = np.clip(y * 0.5 + rng.random(2_000) * 0.6, 0, 1)
    noise = rng.random(2_000)
    better = compare_on_control(y, (noise, 0.8), (good, 0.8), n_boot=300)
    assert better.verdict() == "challenger better"
    assert better.difference["roc_auc"].low > 0
    same = compare_on_control(y, (good, 0.8), (good, 0.8), n_boot=300)
    assert same.difference["precision_at_op"].estimate == 0
    assert same.difference["precision_at_op"].low == 0 == same.difference["precision_at_op"].high
    with pytest.raises(InvalidInput, match="both models must be scored on the same cases"):
        compare_on_control(y, (good, 0.5), (good[:10], 0.5))


def test_one_retraining_run_per_scan_at_a_time(tmp_path: Path) -> None:
    with job_lock(tmp_path, "retrain-vw"):
        with (
            pytest.raises(Conflict, match="another 'retrain-vw' job is running"),
            job_lock(tmp_path, "retrain-vw"),
        ):
            pass
        with job_lock(tmp_path, "retrain-sollicitatie"):  # another scan is another lock
            pass
    with job_lock(tmp_path, "retrain-vw"):  # released when the first run ends
        pass


def test_live_fairness_without_the_attributes_of_many_cases_is_a_finding(tmp_path: Path) -> None:
    """Fairness that cannot be measured is not fairness shown: cases missing from the extract are counted."""
    from features.register import default_register
    from jobs.monitor import COMMITTEE, _live_fairness

    config = generator.GeneratorConfig(n_applications=3_000, n_periods=100, seed=9)
    generator.write_tables(generator.generate(config), tmp_path, config)
    known = [f"A{i:07d}" for i in range(1, 1_001)]
    spec = load_spec("vw")
    few_missing = _logged([{"case_id": case} for case in [*known, "A999999999"]])
    result, findings, notes = _live_fairness(spec, few_missing, tmp_path, default_register())
    assert result is not None and not findings
    assert any("1 of 1001 logged cases (0.1%) are not in the source extract" in note for note in notes)

    many_missing = _logged([{"case_id": case} for case in [*known[:100], *(f"X{i}" for i in range(100))]])
    _, findings, _ = _live_fairness(spec, many_missing, tmp_path, default_register())
    assert [(f.severity, f.subject) for f in findings][:1] == [
        (COMMITTEE, "cases missing from the source extract")
    ]
