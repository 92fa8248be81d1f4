"""The model families: a logistic model explains exactly, per register input, against a stated reference,
and is saved and loaded without pickle like a LightGBM one."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import synthetic as generator
from features.pipeline import route
from models.families import LINEAR_HEAD_FILE, LinearMargin, other_family
from models.scorer import ScanModel
from models.specs import load_spec
from riskscan.errors import ConfigError, InvalidInput
from training.fit import fit_scan_model, set_operating_threshold
from training.split import TemporalSplit, temporal_split


@pytest.fixture(scope="module")
def split(small_tables: dict[str, generator.GeneratedTable]) -> TemporalSplit:
    scored = route(small_tables["ww_aanvragen"].frame, "vw").scored
    return temporal_split(scored, load_spec("vw"), "aanvraagdatum")


@pytest.fixture(scope="module")
def tree(split: TemporalSplit) -> ScanModel:
    model, _ = fit_scan_model(load_spec("vw"), split, ipw=True)
    return model


@pytest.fixture(scope="module")
def logistic(split: TemporalSplit) -> ScanModel:
    model, _ = fit_scan_model(load_spec("vw"), split, ipw=True, family="logistic")
    set_operating_threshold(model, split, 0.15)
    return model


def test_the_spec_chooses_the_family_and_refuses_an_unknown_one() -> None:
    spec = load_spec("vw")
    assert spec.model.family == "lightgbm"
    assert spec.with_family("logistic").model.family == "logistic"
    assert other_family("lightgbm") == "logistic" and other_family("logistic") == "lightgbm"
    content = spec.model_dump(mode="json", exclude={"content_hash"})
    content["model"]["family"] = "neural"
    from models.specs import parse_spec

    with pytest.raises(ConfigError, match=r"model\.family"):
        parse_spec(content)


def test_logistic_contributions_add_up_to_the_margin_one_per_input(
    logistic: ScanModel, split: TemporalSplit
) -> None:
    encoded = logistic.encode(split.test, validate=False)
    contributions, base = logistic.explain(encoded)
    assert contributions.shape == (len(split.test), len(logistic.features.names))
    assert np.allclose(base + contributions.sum(axis=1), logistic.raw_margin(encoded), atol=1e-10)
    assert np.allclose(
        logistic.calibration.apply(logistic.raw_margin(encoded)), logistic.predict_proba(split.test)
    )
    assert logistic.margin_scale.startswith("log-odds")


def test_a_contribution_is_the_coefficient_times_the_distance_from_the_training_mean(
    logistic: ScanModel, split: TemporalSplit
) -> None:
    linear = logistic.estimator
    assert isinstance(linear, LinearMargin)
    train_design = linear.design(logistic.encode(split.train_labelled, validate=False))
    assert np.allclose(linear.reference, train_design.mean(axis=0)), "the reference is the training mean"
    encoded = logistic.encode(split.test.head(50), validate=False)
    contributions, base = logistic.explain(encoded)
    design = linear.design(encoded)
    assert base[0] == pytest.approx(linear.intercept + float(linear.coefficients @ linear.reference))
    for j, name in enumerate(logistic.encoded_names):
        columns = [d for d, term in enumerate(linear.terms) if term.input == name]
        expected = (design[:, columns] - linear.reference[columns]) @ linear.coefficients[columns]
        assert np.allclose(contributions[:, j], expected)


def test_changing_one_input_changes_only_its_own_contribution(
    logistic: ScanModel, split: TemporalSplit
) -> None:
    case = split.test.head(1).copy()
    changed = case.copy()
    changed["eerdere_ww_uitkeringen"] = case["eerdere_ww_uitkeringen"] + 3
    before, _ = logistic.explain(logistic.encode(case, validate=False))
    after, _ = logistic.explain(logistic.encode(changed, validate=False))
    moved = np.flatnonzero(~np.isclose(before[0], after[0]))
    assert [logistic.encoded_names[j] for j in moved] == ["eerdere_ww_uitkeringen"]


def test_logistic_model_round_trips_without_pickle(
    logistic: ScanModel, split: TemporalSplit, tmp_path: Path
) -> None:
    folder = logistic.save(tmp_path / "model")
    assert sorted(p.name for p in folder.iterdir()) == [
        "linear_head.skops",
        "model.json",
        "preprocessor.skops",
    ]
    meta = json.loads((folder / "model.json").read_text())
    assert meta["family"] == "logistic"
    assert meta["linear"]["reference_rule"].startswith("unweighted mean")
    loaded = ScanModel.load(folder)
    encoded = logistic.encode(split.test, validate=False)
    assert np.array_equal(loaded.raw_margin(encoded), logistic.raw_margin(encoded))
    assert np.array_equal(loaded.explain(encoded)[0], logistic.explain(encoded)[0])
    assert loaded.threshold == logistic.threshold


def test_a_logistic_head_with_untrusted_types_is_refused(logistic: ScanModel, tmp_path: Path) -> None:
    import skops.io as sio

    folder = logistic.save(tmp_path / "model")
    sio.dump({"head": pd.Timestamp("2024-01-01")}, folder / LINEAR_HEAD_FILE)
    with pytest.raises(InvalidInput, match="untrusted types"):
        ScanModel.load(folder)


def test_the_coefficient_table_reads_in_dutch_against_the_usual_value(
    logistic: ScanModel, split: TemporalSplit
) -> None:
    table = logistic.coefficient_table()
    assert table is not None
    rows = {(r["feature"], r["term"]): r for r in table["rows"]}
    reasons = [r for (feature, _), r in rows.items() if feature == "reden_einde_dienstverband"]
    assert reasons and all("(t.o.v. " in r["term"] for r in reasons), "each category against the baseline"
    assert all(r["label"] == "Reden einde dienstverband" for r in reasons)
    numbers = [r for r in table["rows"] if r["kind"] == "value"]
    assert {r["feature"] for r in numbers} == {c.name for c in logistic.features.numeric}
    for row in table["rows"]:
        assert row["odds_ratio"] == pytest.approx(np.exp(row["coefficient"]))
    assert table["base_value"] == pytest.approx(logistic.explain(logistic.encode(split.test.head(1)))[1][0])


def test_a_lightgbm_model_has_no_coefficients_and_a_logistic_one_no_booster(
    logistic: ScanModel, tree: ScanModel
) -> None:
    assert tree.family == "lightgbm" and tree.booster.num_trees() >= 1
    assert tree.coefficient_table() is None
    with pytest.raises(TypeError, match="no LightGBM booster"):
        _ = logistic.booster


def test_one_row_is_predicted_by_the_fast_single_row_api_with_booster_predicts_numbers_bit_for_bit(
    tree: ScanModel, split: TemporalSplit
) -> None:
    encoded = tree.encode(split.test.head(300), validate=False)
    encoded[::7, 0] = np.nan  # missing values take the trees' default branches
    encoded[::5, -1] = np.nan
    booster = tree.booster
    for row in encoded:
        one = row.reshape(1, -1)
        margin = tree.raw_margin(one, num_threads=1)
        contributions, base = tree.explain(one, num_threads=1)
        assert margin.shape == (1,) and contributions.shape == (1, encoded.shape[1]) and base.shape == (1,)
        assert np.array_equal(margin, booster.predict(one, raw_score=True, num_threads=1))
        expected = booster.predict(one, pred_contrib=True, num_threads=1)
        assert np.array_equal(contributions, expected[:, :-1]) and np.array_equal(base, expected[:, -1])
    assert tree.estimator._single, "the fast path was taken"
    # Threads share the predictors (LightGBM locks the booster): each still gets its own row's numbers.
    with ThreadPoolExecutor(4) as pool:
        margins = list(pool.map(lambda row: tree.raw_margin(row.reshape(1, -1), num_threads=1)[0], encoded))
    assert np.array_equal(np.array(margins), booster.predict(encoded, raw_score=True, num_threads=1))


def test_a_row_of_the_wrong_width_is_refused_by_lightgbm_as_before(tree: ScanModel) -> None:
    with pytest.raises(Exception, match="number of features"):
        tree.raw_margin(np.zeros((1, len(tree.encoded_names) + 1)), num_threads=1)
