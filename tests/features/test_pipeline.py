"""Feature pipelines: built only from register features, precise errors on malformed input, routing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import synthetic as generator
from features.pipeline import (
    build_feature_matrix,
    build_linear_pipeline,
    build_tree_pipeline,
    feature_set,
    route,
)
from features.register import default_register
from features.schemas import record_model
from models.specs import load_spec
from riskscan.errors import ForbiddenColumn, InvalidInput


@pytest.fixture(scope="module")
def applications(small_tables: dict[str, generator.GeneratedTable]) -> pd.DataFrame:
    return small_tables["ww_aanvragen"].frame


@pytest.mark.parametrize(
    ("column", "role"),
    [
        ("nationaliteit", "audit_only"),
        ("migratieachtergrond", "audit_only"),
        ("geslacht", "audit_only"),
        ("leeftijdsklasse", "audit_only"),
        ("wajong", "audit_only"),
        ("inlog_buitenland", "forbidden"),
        ("persoon_id", "identifier"),
        ("controlesteekproef", "selection"),
    ],
)
def test_pipeline_refuses_non_features_naming_column_and_role(column: str, role: str) -> None:
    with pytest.raises(ForbiddenColumn) as excinfo:
        feature_set("vw", ["sector", column])
    assert excinfo.value.column == column
    assert excinfo.value.role == role
    assert f"'{column}'" in str(excinfo.value)
    assert f"'{role}'" in str(excinfo.value)


def test_tree_matrix_is_one_column_per_feature_and_carries_register_hash(applications: pd.DataFrame) -> None:
    spec = load_spec("vw")
    features = spec.feature_set()
    scored = route(applications, "vw").scored
    matrix = build_feature_matrix(
        scored, features, build_tree_pipeline(features), key_column="aanvraag_id", fit=True
    )
    assert matrix.shape == (len(scored), len(spec.features))
    assert sorted(matrix.feature_names) == sorted(spec.features)
    assert matrix.feature_names == features.tree_order
    assert matrix.register_hash == default_register().content_hash
    assert matrix.to_frame().attrs["register_hash"] == default_register().content_hash
    reason_codes = matrix.to_frame()["reden_einde_dienstverband"]
    expected = scored["reden_einde_dienstverband"].cat.codes.to_numpy()
    assert np.array_equal(reason_codes.to_numpy(), expected)


def test_category_codes_come_from_the_register_not_the_data(applications: pd.DataFrame) -> None:
    features = load_spec("vw").feature_set()
    only_one_reason = route(applications, "vw").scored.copy()
    only_one_reason["reden_einde_dienstverband"] = pd.Categorical(
        ["overig"] * len(only_one_reason),
        categories=list(default_register()["reden_einde_dienstverband"].allowed_categories),
    )
    matrix = build_feature_matrix(only_one_reason, features, build_tree_pipeline(features), fit=True)
    assert set(matrix.to_frame()["reden_einde_dienstverband"]) == {7.0}  # 'overig' is the 8th code


def test_linear_pipeline_one_hot_encodes(applications: pd.DataFrame) -> None:
    features = load_spec("vw").feature_set()
    pipeline = build_linear_pipeline(features)
    matrix = build_feature_matrix(route(applications, "vw").scored, features, pipeline, fit=True)
    assert "reden_einde_dienstverband_ontslag_staande_voet" in matrix.feature_names
    assert not np.isnan(matrix.values).any()


def test_malformed_input_gets_precise_errors(applications: pd.DataFrame) -> None:
    features = load_spec("vw").feature_set()
    bad = route(applications, "vw").scored.head(5).copy()
    bad["reden_einde_dienstverband"] = bad["reden_einde_dienstverband"].astype(object)
    first, second, third = bad["aanvraag_id"].iloc[:3]
    bad.loc[bad.index[0], "reden_einde_dienstverband"] = "ontslagen"
    bad["dagloon"] = bad["dagloon"].astype(float)
    bad.loc[bad.index[1], "dagloon"] = -1.0
    bad["dienstverband_maanden"] = bad["dienstverband_maanden"].astype(object)
    bad.loc[bad.index[2], "dienstverband_maanden"] = "12"
    bad = bad.drop(columns=["sector"])
    with pytest.raises(InvalidInput) as excinfo:
        build_feature_matrix(bad, features, build_tree_pipeline(features), key_column="aanvraag_id", fit=True)
    found = {(p.case_id, p.column, str(p.value)) for p in excinfo.value.problems}
    assert (first, "reden_einde_dienstverband", "ontslagen") in found
    assert (second, "dagloon", "-1.0") in found
    assert (third, "dienstverband_maanden", "12") in found
    assert (None, "sector", "<missing column>") in found
    message = str(excinfo.value)
    assert "expected one of: bedrijfseconomisch" in message
    assert "expected a number in [0, 300]" in message
    assert "expected an integer in [0, 600]" in message


def test_floats_in_an_integer_column_are_not_coerced(applications: pd.DataFrame) -> None:
    features = load_spec("vw").feature_set()
    frame = route(applications, "vw").scored.head(3).copy()
    frame["weken_gewerkt_36"] = frame["weken_gewerkt_36"].astype(float)
    with pytest.raises(InvalidInput, match="field 'weken_gewerkt_36' = 3?[0-9]\\.0; expected an integer"):
        features.validate(frame, key_column="aanvraag_id")


def test_wajong_applicants_are_routed_to_a_labour_expert(applications: pd.DataFrame) -> None:
    routing = route(applications, "vw")
    assert routing.destination == "arbeidsdeskundige"
    assert routing.routed["wajong"].all()
    assert not routing.scored["wajong"].any()
    assert len(routing.routed) + len(routing.scored) == len(applications)
    assert "arbeidsdeskundige" in (routing.reason or "")
    assert "wajong" not in load_spec("vw").features


def test_sollicitatie_has_no_routing(small_tables: dict[str, generator.GeneratedTable]) -> None:
    periods = small_tables["ww_sollicitatieperiodes"].frame
    routing = route(periods, "sollicitatie")
    assert routing.routed.empty
    assert len(routing.scored) == len(periods)


def test_record_model_reports_field_value_and_expectation() -> None:
    features = load_spec("vw").feature_set()
    model = record_model("VwCase", features.columns)
    with pytest.raises(ValueError, match="reden_einde_dienstverband") as excinfo:
        model.model_validate({"case_id": "A1", "reden_einde_dienstverband": "ontslagen"})
    assert "'ontslagen'" in str(excinfo.value)
