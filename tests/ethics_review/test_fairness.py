"""Group metrics, intervals, ratios, verdicts and sentences of ethics_review.fairness."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame, false_positive_rate, selection_rate

from ethics_review.fairness import (
    METRICS,
    Policy,
    audit_groups,
    confusion_cells,
    fairlearn_point_estimates,
    rates_from_cells,
)
from models.specs import load_spec
from riskscan.errors import InvalidInput

LOOSE = Policy(min_group_size=1, min_denominator=1)  # every group gets a verdict


def _simulate(
    rng: np.random.Generator,
    sizes: dict[str, int],
    fpr: dict[str, float],
    *,
    base_rate: float = 0.3,
    tpr: float = 0.6,
) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """Labels and flags with known per-group false-positive rates."""
    group = np.repeat(list(sizes), list(sizes.values()))
    y = rng.random(len(group)) < base_rate
    innocent_flag = rng.random(len(group)) < np.array([fpr[g] for g in group])
    f = np.where(y, rng.random(len(group)) < tpr, innocent_flag)
    return y.astype(int), f.astype(int), pd.DataFrame({"g": group})


def test_fairlearn_point_estimates_on_weighted_cells_equal_row_level_fairlearn() -> None:
    rng = np.random.default_rng(0)
    y, f, groups = _simulate(rng, {"a": 300, "b": 200}, {"a": 0.1, "b": 0.2})
    codes = (groups["g"] == "b").to_numpy().astype(np.intp)
    cells = confusion_cells(y.astype(np.int8), f.astype(np.int8), codes, 2)
    ours = fairlearn_point_estimates(cells, ["a", "b"])
    rows = MetricFrame(
        metrics={"selection_rate": selection_rate, "false_positive_rate": false_positive_rate},
        y_true=y,
        y_pred=f,
        sensitive_features=groups["g"],
    ).by_group
    for metric in ("selection_rate", "false_positive_rate"):
        assert ours[metric].to_numpy() == pytest.approx(rows[metric].to_numpy(), abs=1e-12)
    direct = rates_from_cells(cells)
    for metric in METRICS:
        assert ours[metric].to_numpy() == pytest.approx(direct[metric], abs=1e-12)


def test_a_metric_with_an_empty_denominator_is_undefined_not_zero() -> None:
    # Group "b" has no innocents: its false-positive rate is undefined (scikit-learn would say 0).
    y = np.array([0, 0, 1, 1, 1, 1])
    f = np.array([1, 0, 1, 0, 1, 0])
    groups = pd.DataFrame({"g": ["a", "a", "a", "b", "b", "b"]})
    audit = audit_groups(y, f, groups, policy=LOOSE, reference={"g": "a"})
    b = audit.attributes["g"].groups["b"]
    assert np.isnan(b.rates["false_positive_rate"].estimate)
    entry = audit.to_dict()["attributes"]["g"]["groups"]["b"]
    assert entry["false_positive_rate"] is None
    assert entry["ci"]["false_positive_rate"] is None
    assert entry["ratio"]["false_positive_rate"] is None
    json.dumps(audit.to_dict(), allow_nan=False)


def test_intervals_cover_the_true_rates_in_repeated_audits() -> None:
    """Empirical coverage of the 95% intervals of a group's FPR and of its ratio to the reference.

    100 audits, each with a reference group and two others of 400 rows (about 280 innocents each). Group
    intervals are independent across groups; ratio intervals share the reference draw within an audit,
    which widens the spread of the coverage estimate but not its expectation.
    """
    true_fpr = {"a": 0.10, "b": 0.15, "c": 0.08}
    rng = np.random.default_rng(2024)
    covered_rate, covered_ratio, total = 0, 0, 0
    for seed in range(100):
        y, f, groups = _simulate(rng, dict.fromkeys(true_fpr, 400), true_fpr)
        policy = replace(LOOSE, random_state=seed, gating_metrics=("false_positive_rate",))
        audit = audit_groups(
            y, f, groups, policy=policy, reference={"g": "a"}, metrics=("false_positive_rate",)
        )
        for group in ("b", "c"):
            result = audit.attributes["g"].groups[group]
            low, high = result.rates["false_positive_rate"].interval or (np.nan, np.nan)
            covered_rate += low <= true_fpr[group] <= high
            low, high = result.ratios["false_positive_rate"].interval or (np.nan, np.nan)
            covered_ratio += low <= true_fpr[group] / true_fpr["a"] <= high
            total += 1
    assert 0.88 <= covered_rate / total <= 0.99
    assert 0.88 <= covered_ratio / total <= 0.99


def test_fairlearn_bootstrap_and_multinomial_bootstrap_agree() -> None:
    """Fairlearn's row bootstrap and the multinomial draws give the same intervals up to Monte Carlo error."""
    rng = np.random.default_rng(3)
    y, f, groups = _simulate(rng, {"a": 600, "b": 600}, {"a": 0.10, "b": 0.15})
    metrics = ("false_positive_rate", "false_discovery_rate")
    fairlearn = audit_groups(y, f, groups, policy=Policy(n_boot=60, ci_method="fairlearn"), metrics=metrics)
    multinomial = audit_groups(y, f, groups, policy=Policy(n_boot=4000), metrics=metrics)
    for group in ("a", "b"):
        for metric in metrics:
            ours = multinomial.attributes["g"].groups[group].rates[metric].interval
            theirs = fairlearn.attributes["g"].groups[group].rates[metric].interval
            assert ours is not None
            assert theirs is not None
            width = ours[1] - ours[0]
            assert abs(theirs[0] - ours[0]) < 0.25 * width
            assert abs(theirs[1] - ours[1]) < 0.25 * width


def test_clear_disparity_with_large_groups_fails_and_equal_rates_pass() -> None:
    rng = np.random.default_rng(1)
    sizes = {"nederlands": 20_000, "turks_marokkaans": 5_000, "overig_eu": 5_000}
    y, f, groups = _simulate(rng, sizes, {"nederlands": 0.06, "turks_marokkaans": 0.12, "overig_eu": 0.06})
    groups = groups.rename(columns={"g": "nationaliteit"})
    audit = audit_groups(y, f, groups, policy=Policy(gating_metrics=("false_positive_rate",)))
    nationality = audit.attributes["nationaliteit"]
    assert nationality.reference == "nederlands"  # the register's audit_reference
    assert nationality.groups["nederlands"].verdict == {"false_positive_rate": "reference"}
    assert nationality.groups["turks_marokkaans"].verdict == {"false_positive_rate": "fail"}
    assert nationality.groups["overig_eu"].verdict == {"false_positive_rate": "pass"}
    assert audit.summary == {"pass": 1, "fail": 1, "insufficient_evidence": 0}
    low, high = nationality.groups["turks_marokkaans"].ratios["false_positive_rate"].interval or (0, 0)
    assert 1.25 < low < 2 < high


def test_small_groups_and_small_denominators_give_insufficient_evidence() -> None:
    rng = np.random.default_rng(4)
    y, f, groups = _simulate(rng, {"a": 5_000, "tiny": 60}, {"a": 0.05, "tiny": 0.5})
    audit = audit_groups(y, f, groups, policy=Policy(min_group_size=100), reference={"g": "a"})
    (check, *_) = [c for c in audit.checks if c.metric == "false_positive_rate"]
    assert check.verdict == "insufficient_evidence"
    assert check.reason is not None
    assert "60 rows, fewer than the minimum group size of 100" in check.reason.en
    assert check.flagged  # the point ratio lies far outside the band: reported as not proven
    assert "not proven" in check.sentence_en
    assert "niet aangetoond" in check.sentence_nl

    # Large enough group, but only a handful of innocents: the FPR has too small a denominator.
    y = np.r_[np.zeros(5000, int), np.ones(190, int), np.zeros(10, int)]
    f = np.r_[(np.arange(5000) % 10 == 0).astype(int), np.ones(190, int), np.ones(10, int)]
    groups = pd.DataFrame({"g": ["a"] * 5000 + ["b"] * 200})
    audit = audit_groups(y, f, groups, policy=Policy(min_group_size=100), reference={"g": "a"})
    verdict = audit.attributes["g"].groups["b"].verdict
    reason = audit.attributes["g"].groups["b"].reasons["false_positive_rate"]
    assert verdict["false_positive_rate"] == "insufficient_evidence"
    assert reason is not None
    assert "only 10 innocent applicants" in reason.en


def test_an_interval_across_the_band_edge_is_insufficient_evidence() -> None:
    rng = np.random.default_rng(5)
    y, f, groups = _simulate(rng, {"a": 3000, "b": 400}, {"a": 0.10, "b": 0.125})
    audit = audit_groups(
        y, f, groups, policy=Policy(gating_metrics=("false_positive_rate",)), reference={"g": "a"}
    )
    check = audit.checks[0]
    assert check.ratio.interval is not None
    assert check.ratio.interval[0] < 1.25 < check.ratio.interval[1]
    assert check.verdict == "insufficient_evidence"
    assert check.reason is not None
    assert "too wide" in check.reason.en


def test_sentences_carry_intervals_and_use_dutch_labels() -> None:
    rng = np.random.default_rng(6)
    sizes = {"nederlands": 20_000, "turks_marokkaans": 5_000}
    y, f, groups = _simulate(rng, sizes, {"nederlands": 0.06, "turks_marokkaans": 0.12})
    groups = groups.rename(columns={"g": "nationaliteit"})
    audit = audit_groups(y, f, groups, policy=Policy(gating_metrics=("false_positive_rate",)))
    (check,) = audit.checks
    assert check.sentence_en.startswith(
        "An innocent applicant in group 'turks_marokkaans' (nationaliteit) has a "
    )
    assert "95% CI" in check.sentence_en
    assert "for the reference group 'nederlands'" in check.sentence_en
    assert "times as often (" in check.sentence_en
    assert "policy band 0.80–1.25" in check.sentence_en
    assert check.sentence_nl.startswith(
        "Een onschuldige aanvrager in groep 'Turks of Marokkaans' (Nationaliteitsgroep) heeft "
    )
    assert "kans (95%-BI " in check.sentence_nl
    assert "om onderzocht te worden, tegen " in check.sentence_nl
    assert "voor de referentiegroep 'Nederlands'" in check.sentence_nl
    assert "beleidsband 0,80–1,25" in check.sentence_nl
    assert audit.sentences == {"nl": [check.sentence_nl], "en": [check.sentence_en]}


def test_passing_checks_are_not_in_the_flagged_sentences() -> None:
    rng = np.random.default_rng(7)
    y, f, groups = _simulate(rng, {"a": 20_000, "b": 20_000}, {"a": 0.1, "b": 0.1})
    audit = audit_groups(y, f, groups)
    assert {c.verdict for c in audit.checks} == {"pass"}
    assert audit.sentences == {"nl": [], "en": []}
    assert all(
        c.sentence_en.endswith("Verdict: pass (the whole interval lies inside the band).")
        for c in audit.checks
    )


def test_intersections_boolean_groups_and_the_json_shape() -> None:
    rng = np.random.default_rng(8)
    n = 4000
    groups = pd.DataFrame(
        {
            "nationaliteit": rng.choice(["nederlands", "overig_eu"], size=n),
            "geslacht": rng.choice(["man", "vrouw"], size=n),
            "wajong": rng.random(n) < 0.3,
        }
    )
    y = (rng.random(n) < 0.3).astype(int)
    f = (rng.random(n) < 0.2).astype(int)
    audit = audit_groups(y, f, groups, intersections=[("nationaliteit", "geslacht")])
    result = audit.to_dict()
    json.dumps(result, allow_nan=False)
    assert set(result) == {"policy", "attributes", "checks", "summary", "sentences"}
    assert list(result["attributes"]) == ["nationaliteit", "geslacht", "wajong", "nationaliteit × geslacht"]
    cross = result["attributes"]["nationaliteit × geslacht"]
    assert cross["reference"] == "nederlands × man"
    assert set(cross["groups"]) == {
        f"{a} × {b}" for a in ("nederlands", "overig_eu") for b in ("man", "vrouw")
    }
    assert result["attributes"]["wajong"]["reference"] == "False"  # the register's audit_reference
    entry = result["attributes"]["wajong"]["groups"]["True"]
    assert {"n", *METRICS, "ci", "ratio", "ratio_ci", "verdict", "confusion"} <= set(entry)
    assert set(entry["ci"]) == set(METRICS)
    assert set(entry["verdict"]) == {"false_positive_rate", "selection_rate"}
    wajong_nl = [c.sentence_nl for c in audit.checks if c.attribute == "wajong"]
    assert all("groep 'ja' (Wajong-gerechtigd)" in s and "referentiegroep 'nee'" in s for s in wajong_nl)
    check = result["checks"][0]
    assert {
        "attribute",
        "group",
        "metric",
        "value",
        "ci",
        "reference_value",
        "ratio",
        "ratio_ci",
        "verdict",
        "sentence_nl",
        "sentence_en",
    } <= set(check)
    n_groups = {attr: len(a["groups"]) for attr, a in result["attributes"].items()}
    assert len(result["checks"]) == 2 * sum(k - 1 for k in n_groups.values())


def test_reference_defaults_to_the_largest_group_outside_the_register() -> None:
    groups = pd.DataFrame({"regio": ["noord"] * 30 + ["zuid"] * 50 + ["west"] * 20})
    y = np.zeros(100, int)
    f = np.r_[np.ones(10, int), np.zeros(90, int)]
    audit = audit_groups(y, f, groups, policy=LOOSE)
    assert audit.attributes["regio"].reference == "zuid"
    assert list(audit.attributes["regio"].groups) == ["zuid", "noord", "west"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"reference": {"g": "c"}},
            "reference group 'c' does not occur in 'g'; its groups are 'a' (n=2), 'b' (n=2)",
        ),
        ({"reference": {"h": "a"}}, "reference given for unknown attribute(s) h"),
        ({"metrics": ("recall",)}, "metrics must be a non-empty choice of"),
        ({"intersections": [("g", "h")]}, "intersection ['g', 'h'] needs at least two of the group columns"),
    ],
)
def test_invalid_requests_are_refused_with_a_precise_message(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        audit_groups([0, 1, 0, 1], [0, 1, 1, 0], pd.DataFrame({"g": ["a", "a", "b", "b"]}), **kwargs)
    assert message in str(excinfo.value)


def test_invalid_labels_groups_and_policies_are_refused() -> None:
    groups = pd.DataFrame({"g": ["a", "a", "b", "b"]})
    with pytest.raises(InvalidInput, match=r"y_true must be binary \(0/1\); found 2"):
        audit_groups([0, 2, 0, 1], [0, 1, 1, 0], groups)
    with pytest.raises(InvalidInput, match="group column 'g' has 1 rows without a group value"):
        audit_groups([0, 1, 0, 1], [0, 1, 1, 0], pd.DataFrame({"g": ["a", None, "b", "b"]}))
    with pytest.raises(InvalidInput, match=r"ratio band \[1.2, 1.5\] must satisfy 0 < low < 1 < high"):
        Policy(ratio_band=(1.2, 1.5))
    with pytest.raises(InvalidInput, match="unknown gating metric"):
        Policy(gating_metrics=("accuracy",))


def test_policy_from_the_vw_spec() -> None:
    spec = load_spec("vw")
    policy = Policy.from_spec(spec.fairness)
    assert policy.ratio_band == (0.8, 1.25)
    assert policy.min_group_size == spec.fairness.min_group_size
    assert policy.n_boot == spec.fairness.n_boot
    assert policy.gating_metrics == ("false_positive_rate", "selection_rate")
    assert Policy.from_spec(spec.fairness, n_boot=50).n_boot == 50
