"""Scan specs: both load, and a spec that asks for nationality or another non-feature cannot be used."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from models.specs import SCANS_DIR, load_spec, parse_spec
from riskscan.errors import ConfigError


@pytest.mark.parametrize("scan", ["vw", "sollicitatie"])
def test_shipped_specs_load(scan: str) -> None:
    spec = load_spec(scan)
    assert spec.id == scan
    assert len(spec.content_hash) == 64
    assert spec.excluded_windows[0].start.isoformat() == "2020-03-15"
    assert spec.fairness.ratio_band == (0.8, 1.25)


def _raw(scan: str) -> dict[str, Any]:
    content = yaml.safe_load((SCANS_DIR / f"{scan}.yaml").read_text(encoding="utf-8"))
    assert isinstance(content, dict)
    return content


@pytest.mark.parametrize(
    "column", ["nationaliteit", "geslacht", "wajong", "inlog_buitenland", "maatregel_vw"]
)
def test_spec_listing_a_non_feature_is_refused(column: str) -> None:
    content = _raw("vw")
    content["features"] = [*content["features"], column]
    content["excluded_features"] = [e for e in content["excluded_features"] if e["name"] != column]
    with pytest.raises(ConfigError, match=f"column '{column}' has register role"):
        parse_spec(content)


def test_unknown_scan_and_unknown_key() -> None:
    with pytest.raises(ConfigError, match="unknown scan 'ziekte'"):
        load_spec("ziekte")
    content = _raw("vw")
    content["drempel"] = 0.5
    with pytest.raises(ConfigError, match="drempel"):
        parse_spec(content)


def test_unbounded_depth_is_refused() -> None:
    content = _raw("vw")
    content["model"]["max_depth"] = 17
    with pytest.raises(ConfigError, match=r"model\.max_depth"):
        parse_spec(content)


def test_window_must_end_after_it_starts() -> None:
    content = _raw("sollicitatie")
    content["excluded_windows"][0]["end"] = "2020-01-01"
    with pytest.raises(ConfigError, match="ends"):
        parse_spec(content)


def test_spec_hash_changes_with_capacity() -> None:
    content = _raw("vw")
    before = parse_spec(content).content_hash
    content["capacity"]["investigations_per_week"] += 1
    assert parse_spec(content).content_hash != before
