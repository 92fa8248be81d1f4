"""``riskscan audit-scores``: rates against a hand-counted table, the JSON contract, and precise refusals.

``_run`` runs the verb through ``riskscan.cli.invoke`` (refusals propagate) and writes its payload with a
strict encoder, so a NaN in the payload fails the test instead of becoming null.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from riskscan.cli import Outcome, invoke
from riskscan.errors import Refusal

METRICS = (
    "selection_rate",
    "false_positive_rate",
    "false_negative_rate",
    "false_discovery_rate",
    "precision",
    "true_positive_rate",
)
LOOSE = ["--min-group-size", "1", "--min-denominator", "1", "--n-boot", "50"]


def _run(argv: list[str], out: Path | None = None) -> tuple[Outcome, dict[str, Any]]:
    outcome = invoke(argv)
    if out is None:
        return outcome, {}
    out.write_text(json.dumps({"verb": argv[0], **outcome.payload}, allow_nan=False), encoding="utf-8")
    return outcome, json.loads(out.read_text(encoding="utf-8"))


# Twenty rows counted by hand at threshold 0.5 (flag = score >= 0.5):
#   group A: TP 3 (rows 1, 2, 10), FP 2 (rows 3, 4), FN 1 (row 5), TN 4 (rows 6-9)
#   group B: TP 1 (row 3), FP 4 (rows 1, 2, 4, 9; row 9 scores exactly 0.5), FN 3 (rows 5, 6, 10), TN 2
SCORES_A = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1, 0.05, 0.55]
LABELS_A = [1, 1, 0, 0, 1, 0, 0, 0, 0, 1]
SCORES_B = [0.95, 0.85, 0.75, 0.65, 0.45, 0.35, 0.25, 0.15, 0.5, 0.02]
LABELS_B = [0, 0, 1, 0, 1, 1, 0, 0, 0, 1]
EXPECTED = {
    "A": {"tp": 3, "fp": 2, "fn": 1, "tn": 4},
    "B": {"tp": 1, "fp": 4, "fn": 3, "tn": 2},
}


def _rates(tp: int, fp: int, fn: int, tn: int) -> dict[str, float]:
    return {
        "selection_rate": (tp + fp) / (tp + fp + fn + tn),
        "false_positive_rate": fp / (fp + tn),
        "false_negative_rate": fn / (fn + tp),
        "false_discovery_rate": fp / (tp + fp),
        "precision": tp / (tp + fp),
        "true_positive_rate": tp / (tp + fn),
    }


def _table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "score": SCORES_A + SCORES_B,
            "label": LABELS_A + LABELS_B,
            "groep": ["A"] * 10 + ["B"] * 10,
            "sex": ["m", "v"] * 10,
        }
    )


@pytest.fixture
def table_csv(tmp_path: Path) -> Path:
    path = tmp_path / "scores.csv"
    _table().to_csv(path, index=False)
    return path


def _audit_args(path: Path, *extra: str) -> list[str]:
    return ["audit-scores", "--input", str(path), "--score-col", "score", "--label-col", "label", *extra]


def test_rates_match_the_hand_counted_confusion_matrix(table_csv: Path, tmp_path: Path) -> None:
    argv = _audit_args(table_csv, "--group-col", "groep", "--threshold", "0.5", "--reference", "A", *LOOSE)
    _, result = _run(argv, tmp_path / "out.json")
    assert result["threshold"]["value"] == 0.5
    assert result["threshold"]["flagged"] == 10
    assert result["references"] == {"groep": "A"}
    groups = result["groups"]["groep"]
    for group, cells in EXPECTED.items():
        entry = groups[group]
        assert entry["n"] == 10
        assert entry["confusion"] == cells
        for metric, value in _rates(**cells).items():
            assert entry[metric] == pytest.approx(value, abs=1e-12), (group, metric)
            low, high = entry["ci"][metric]
            assert low <= high
    expected_a, expected_b = _rates(**EXPECTED["A"]), _rates(**EXPECTED["B"])
    for metric in METRICS:
        assert groups["A"]["ratio"][metric] == pytest.approx(1.0)
        assert groups["B"]["ratio"][metric] == pytest.approx(
            expected_b[metric] / expected_a[metric], abs=1e-12
        )
    assert groups["B"]["ratio"]["false_negative_rate"] == pytest.approx(3.0)
    assert groups["B"]["verdict"].keys() == {"false_positive_rate", "selection_rate"}
    assert groups["A"]["verdict"] == {"false_positive_rate": "reference", "selection_rate": "reference"}
    assert {"input", "threshold", "policy", "groups", "checks", "summary", "sentences"} <= set(result)
    assert len(result["checks"]) == 2


def test_every_group_column_is_audited(table_csv: Path, tmp_path: Path) -> None:
    argv = _audit_args(
        table_csv,
        "--group-col",
        "groep",
        "--group-col",
        "sex",
        "--threshold",
        "0.5",
        "--reference",
        "sex=v",
        *LOOSE,
    )
    _, result = _run(argv, tmp_path / "out.json")
    table = _table()
    flagged = table["score"] >= 0.5
    for sex in ("m", "v"):
        rows = table["sex"] == sex
        cells = {
            "tp": int((rows & flagged & (table["label"] == 1)).sum()),
            "fp": int((rows & flagged & (table["label"] == 0)).sum()),
            "fn": int((rows & ~flagged & (table["label"] == 1)).sum()),
            "tn": int((rows & ~flagged & (table["label"] == 0)).sum()),
        }
        entry = result["groups"]["sex"][sex]
        assert entry["confusion"] == cells
        for metric, value in _rates(**cells).items():
            assert entry[metric] == pytest.approx(value, abs=1e-12)
    assert result["references"] == {"groep": "A", "sex": "v"}  # A: the larger of two equal groups by name


def test_top_fraction_sets_the_threshold_from_the_scores(table_csv: Path, tmp_path: Path) -> None:
    argv = _audit_args(table_csv, "--group-col", "groep", "--top-fraction", "0.25", *LOOSE)
    outcome, result = _run(argv, tmp_path / "out.json")
    # The 5th highest of the 20 scores is 0.75.
    assert result["threshold"] == {
        "value": 0.75,
        "rule": "flag = score >= value",
        "top_fraction": 0.25,
        "flagged": 5,
        "flagged_share": 0.25,
    }
    assert "flagged 5 (25.0%) with score >= 0.75 (the top 0.25 of scores)" in outcome.lines[0]


def test_parquet_input_and_a_clear_disparity_end_to_end(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    n = 20_000
    group = rng.choice(["nederlands", "turks_marokkaans"], p=[0.75, 0.25], size=n)
    label = (rng.random(n) < 0.2).astype(int)
    noise = rng.random(n)
    # Innocent members of the second group score higher: twice the false-positive rate.
    score = np.where(label == 1, 0.5 + 0.5 * noise, np.where(group == "nederlands", noise, 0.5 + 0.5 * noise))
    path = tmp_path / "scores.parquet"
    pd.DataFrame({"score": score, "label": label, "nationaliteit": group}).to_parquet(path)
    argv = _audit_args(path, "--group-col", "nationaliteit", "--threshold", "0.9")
    outcome, result = _run(argv, tmp_path / "out.json")
    (check,) = [c for c in result["checks"] if c["metric"] == "false_positive_rate"]
    assert check["group"] == "turks_marokkaans"
    assert check["reference"] == "nederlands"
    assert check["verdict"] == "fail"
    assert check["ratio_ci"][0] > 1.25
    assert check["sentence_en"] in result["sentences"]["en"]
    assert any(
        line.strip().startswith("FAIL: An innocent applicant in group 'turks_marokkaans'")
        for line in outcome.lines
    )


def _write(tmp_path: Path, frame: pd.DataFrame, name: str = "bad.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_missing_column_is_named_with_the_available_columns(table_csv: Path) -> None:
    argv = _audit_args(table_csv, "--group-col", "nationaliteit", "--threshold", "0.5")
    with pytest.raises(Refusal) as excinfo:
        _run(argv)
    assert str(excinfo.value) == (
        f"column 'nationaliteit' not found in {table_csv}; available columns: score, label, groep, sex"
    )


def test_non_binary_labels_show_the_offending_values(tmp_path: Path) -> None:
    frame = _table().astype({"label": object})
    frame.loc[0, "label"] = 2
    frame.loc[1, "label"] = "ja"
    argv = _audit_args(_write(tmp_path, frame), "--group-col", "groep", "--threshold", "0.5")
    with pytest.raises(Refusal) as excinfo:
        _run(argv)
    assert str(excinfo.value) == (
        "label column 'label' must be binary (0/1 or true/false); found '2' (1 rows), 'ja' (1 rows)"
    )


def test_missing_labels_are_refused(tmp_path: Path) -> None:
    frame = _table().astype({"label": float})
    frame.loc[3, "label"] = np.nan
    argv = _audit_args(_write(tmp_path, frame), "--group-col", "groep", "--threshold", "0.5")
    with pytest.raises(Refusal, match="label column 'label' has 1 rows without a value"):
        _run(argv)


def test_rows_without_a_group_are_counted_and_refused(tmp_path: Path) -> None:
    frame = _table()
    frame.loc[0, "groep"] = ""
    frame.loc[5, "groep"] = None
    frame.loc[7, "groep"] = "  "
    argv = _audit_args(_write(tmp_path, frame), "--group-col", "groep", "--threshold", "0.5")
    with pytest.raises(Refusal) as excinfo:
        _run(argv)
    assert str(excinfo.value).startswith("group column 'groep' has 3 rows with an empty or missing group; ")


def test_a_reference_group_that_does_not_occur_is_refused(table_csv: Path) -> None:
    argv = _audit_args(table_csv, "--group-col", "groep", "--threshold", "0.5", "--reference", "C")
    with pytest.raises(Refusal) as excinfo:
        _run(argv)
    assert (
        str(excinfo.value)
        == "reference group 'C' does not occur in 'groep'; its groups are 'A' (n=10), 'B' (n=10)"
    )
    argv = _audit_args(
        table_csv, "--group-col", "groep", "--group-col", "sex", "--threshold", "0.5", "--reference", "sex=x"
    )
    with pytest.raises(Refusal, match="reference group 'x' does not occur in 'sex'"):
        _run(argv)


def test_non_numeric_scores_are_refused(tmp_path: Path) -> None:
    frame = _table().astype({"score": object})
    frame.loc[2, "score"] = "hoog"
    argv = _audit_args(_write(tmp_path, frame), "--group-col", "groep", "--threshold", "0.5")
    with pytest.raises(Refusal) as excinfo:
        _run(argv)
    assert str(excinfo.value) == "score column 'score' must be numeric; found 'hoog' (1 rows)"


@pytest.mark.parametrize(
    ("threshold_args", "message"),
    [
        ([], "give exactly one of --threshold T or --top-fraction F (neither was given)"),
        (
            ["--threshold", "0.5", "--top-fraction", "0.1"],
            "give exactly one of --threshold T or --top-fraction F, not both",
        ),
        (["--top-fraction", "1.5"], "--top-fraction must lie in (0, 1], not 1.5"),
    ],
)
def test_threshold_choice_is_checked(table_csv: Path, threshold_args: list[str], message: str) -> None:
    with pytest.raises(Refusal) as excinfo:
        _run(_audit_args(table_csv, "--group-col", "groep", *threshold_args))
    assert str(excinfo.value) == message


def test_empty_and_unreadable_inputs_are_refused(tmp_path: Path) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    header_only = tmp_path / "header.csv"
    header_only.write_text("score,label,groep\n", encoding="utf-8")
    absent, xlsx = tmp_path / "absent.csv", tmp_path / "scores.xlsx"
    cases = {
        empty: f"input file {empty} is empty",
        header_only: f"input file {header_only} has no rows (columns: score, label, groep)",
        absent: f"input file {absent} does not exist",
        xlsx: f"input file {xlsx} has suffix '.xlsx'; use a .csv or .parquet file",
    }
    (tmp_path / "scores.xlsx").write_text("x", encoding="utf-8")
    for path, message in cases.items():
        with pytest.raises(Refusal) as excinfo:
            _run(_audit_args(path, "--group-col", "groep", "--threshold", "0.5"))
        assert str(excinfo.value) == message


def test_one_group_and_an_invalid_band_are_refused(tmp_path: Path) -> None:
    frame = _table().assign(groep="A")
    with pytest.raises(
        Refusal, match=r"group column 'groep' has only one group \('A'\); a comparison needs two"
    ):
        _run(_audit_args(_write(tmp_path, frame), "--group-col", "groep", "--threshold", "0.5"))
    table = _write(tmp_path, _table(), "ok.csv")
    with pytest.raises(Refusal, match=r"invalid fairness policy: ratio band \[0.9, 0.95\]"):
        _run(_audit_args(table, "--group-col", "groep", "--threshold", "0.5", "--band", "0.9", "0.95"))
