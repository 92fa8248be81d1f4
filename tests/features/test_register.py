"""The register is the authority on column roles; a malformed register must never load."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from features.register import (
    DEFAULT_REGISTER_PATH,
    ConfigError,
    ForbiddenColumn,
    Role,
    default_register,
    load_register,
    parse_register,
)

AUDIT_ONLY = ["nationaliteit", "migratieachtergrond", "geslacht", "leeftijdsklasse", "wajong"]


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return yaml.safe_load(DEFAULT_REGISTER_PATH.read_text(encoding="utf-8"))


def test_shipped_register_loads_with_a_stable_hash() -> None:
    first = load_register()
    second = load_register()
    assert len(first.content_hash) == 64
    assert first.content_hash == second.content_hash


def test_audit_attributes_are_never_features() -> None:
    register = default_register()
    for name in AUDIT_ONLY:
        assert register[name].role is Role.AUDIT_ONLY
        assert register[name].scans == ()


def test_forbidden_column_is_documented_and_unlawful() -> None:
    forbidden = default_register().by_role(Role.FORBIDDEN)
    assert [c.name for c in forbidden] == ["inlog_buitenland"]
    assert forbidden[0].lawful is False
    assert "cookies" in (forbidden[0].forbidden_reason or "")


def test_each_table_has_key_time_label_and_selection_flags() -> None:
    register = default_register()
    for table_name, table in register.tables.items():
        roles = {c.role for c in register.table_columns(table_name)}
        assert {Role.FEATURE, Role.AUDIT_ONLY, Role.IDENTIFIER, Role.LABEL, Role.SELECTION} <= roles
        assert register[table.key].role is Role.IDENTIFIER
        assert register.label_for_scan(table.scans[0]).name.startswith("maatregel_")


@pytest.mark.parametrize(
    "name", [*AUDIT_ONLY, "inlog_buitenland", "aanvraag_id", "maatregel_vw", "onderzocht"]
)
def test_model_inputs_refuse_every_non_feature_role(name: str) -> None:
    with pytest.raises(ForbiddenColumn, match=f"column '{name}' has register role"):
        default_register().check_model_inputs("vw", ["sector", name])


def test_model_inputs_refuse_a_feature_of_another_scan() -> None:
    with pytest.raises(ForbiddenColumn, match="allows it only for sollicitatie"):
        default_register().check_model_inputs("vw", ["werkmap_logins"])


def test_model_inputs_refuse_unknown_columns() -> None:
    with pytest.raises(ForbiddenColumn, match="is not in the feature register"):
        default_register().check_model_inputs("vw", ["schoenmaat"])


def _entry(raw: dict[str, Any], name: str) -> dict[str, Any]:
    return next(e for e in raw["columns"] if e["name"] == name)


def test_unknown_role_is_a_clear_error(raw: dict[str, Any]) -> None:
    broken = copy.deepcopy(raw)
    _entry(broken, "sector")["role"] = "kenmerk"
    with pytest.raises(
        ConfigError, match=r"column 'sector': unknown role 'kenmerk' \(expected one of: feature"
    ):
        parse_register(broken)


def test_duplicate_name_is_a_clear_error(raw: dict[str, Any]) -> None:
    broken = copy.deepcopy(raw)
    broken["columns"].append(copy.deepcopy(_entry(broken, "sector")))
    with pytest.raises(ConfigError, match="duplicate column 'sector'"):
        parse_register(broken)


@pytest.mark.parametrize("empty", [None, "", "TODO"])
def test_missing_legal_basis_is_a_clear_error(raw: dict[str, Any], empty: str | None) -> None:
    broken = copy.deepcopy(raw)
    entry = _entry(broken, "dagloon")
    if empty is None:
        del entry["legal_basis"]
    else:
        entry["legal_basis"] = empty
    with pytest.raises(ConfigError, match="column 'dagloon': .*legal_basis"):
        parse_register(broken)


def test_unlawful_column_must_be_forbidden(raw: dict[str, Any]) -> None:
    broken = copy.deepcopy(raw)
    _entry(broken, "werkmap_logins")["lawful"] = False
    with pytest.raises(ConfigError, match="lawful is false, so role must be 'forbidden'"):
        parse_register(broken)


def test_all_problems_are_reported_at_once(raw: dict[str, Any]) -> None:
    broken = copy.deepcopy(raw)
    _entry(broken, "sector")["role"] = "kenmerk"
    del _entry(broken, "dagloon")["legal_basis"]
    with pytest.raises(ConfigError) as excinfo:
        parse_register(broken)
    assert "sector" in str(excinfo.value)
    assert "dagloon" in str(excinfo.value)


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_register(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns: [\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_register(bad)


def test_content_hash_changes_with_content(raw: dict[str, Any]) -> None:
    changed = copy.deepcopy(raw)
    _entry(changed, "dagloon")["max"] = 250
    assert parse_register(changed).content_hash != parse_register(raw).content_hash


def test_display_values_are_dutch() -> None:
    register = default_register()
    assert (
        register["reden_einde_dienstverband"].display_value("ontslag_staande_voet")
        == "ontslag op staande voet"
    )
    assert register["vaststellingsovereenkomst"].display_value(True) == "ja"
    assert register["dagloon"].display_value(123.5) == "123.5 euro"
    assert register["postcode_regio"].display_value("30") == "postcodegebied 30"
