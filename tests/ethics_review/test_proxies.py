"""Proxy scan: single-feature association, set AUC, and ``riskscan proxy-scan``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import synthetic as generator
from ethics_review.proxies import category_codes, cramers_v, proxy_scan
from riskscan.cli import invoke
from riskscan.errors import InvalidInput, Refusal

GROUPS = np.array(["nederlands", "midden_oost_eu", "turks_marokkaans"])


def _synthetic(n: int = 6000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sensitive = rng.choice(GROUPS, p=[0.6, 0.2, 0.2], size=n)
    # 90% a copy of the sensitive attribute, 10% a random group.
    near_copy = np.where(rng.random(n) < 0.9, sensitive, rng.choice(GROUPS, size=n))
    return pd.DataFrame(
        {
            "taal": near_copy,
            "inkomen": rng.normal(2500, 400, size=n),
            "sector": rng.choice(["zorg", "bouw", "horeca", "onderwijs"], size=n),
            "vast_contract": rng.random(n) < 0.5,
            "aanvraag_id": [f"A{i:07d}" for i in range(n)],
            "nationaliteit": sensitive,
        }
    )


def test_cramers_v_is_zero_for_independence_and_one_for_identity() -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(0, 4, size=5000)
    y = rng.integers(0, 3, size=5000)
    assert cramers_v(x, y) < 0.03
    assert cramers_v(x, x) == pytest.approx(1.0, abs=1e-3)
    # A unique identifier determines every row, yet says nothing: the bias correction removes it.
    assert cramers_v(np.arange(5000), y) == pytest.approx(0.0, abs=1e-9)
    assert cramers_v(np.zeros(100, dtype=np.intp), y[:100]) == 0.0


def test_numeric_features_are_binned_by_quantile_with_missing_as_a_category() -> None:
    values = pd.Series(np.r_[np.arange(100, dtype=float), [np.nan] * 5])
    codes = category_codes(values, "numeric")
    assert len(np.unique(codes[:100])) == 10
    assert np.all(codes[100:] == codes.max())
    assert set(codes[100:]).isdisjoint(codes[:100])
    assert len(np.unique(category_codes(pd.Series([1, 2, 2, 3]), "numeric"))) == 3


def test_a_near_copy_is_flagged_and_noise_is_not() -> None:
    frame = _synthetic()
    features = ["taal", "inkomen", "sector", "vast_contract", "aanvraag_id"]
    scan = proxy_scan(frame, features, frame["nationaliteit"], association_threshold=0.3, auc_threshold=0.65)
    result = scan.to_dict()
    json.dumps(result, allow_nan=False)
    by_name = {f["feature"]: f for f in result["features"]}
    assert result["flagged"] == ["taal"]
    assert by_name["taal"]["association"]["nationaliteit"]["cramers_v"] > 0.8
    assert by_name["taal"]["association"]["nationaliteit"]["nmi"] > 0.5
    assert by_name["taal"]["dtype"] == "categorical"
    assert by_name["inkomen"]["dtype"] == "numeric"
    assert by_name["vast_contract"]["dtype"] == "bool"
    for noise in ("inkomen", "sector", "vast_contract", "aanvraag_id"):
        assert by_name[noise]["max_association"] < 0.05, noise
        assert not by_name[noise]["flagged"]
    assert result["features"][0]["feature"] == "taal"  # strongest first
    nationality = result["set"]["nationaliteit"]
    assert nationality["auc"] >= 0.9
    assert nationality["flagged"]
    assert set(nationality["auc_per_group"]) == set(GROUPS)
    assert nationality["auc_without_flagged"] == pytest.approx(0.5, abs=0.05)
    assert result["thresholds"] == {"association": 0.3, "auc": 0.65}


def test_a_table_of_noise_has_no_proxies() -> None:
    frame = _synthetic().drop(columns=["taal"])
    features = ["inkomen", "sector", "vast_contract"]
    scan = proxy_scan(frame, features, frame["nationaliteit"], association_threshold=0.3, auc_threshold=0.65)
    assert scan.flagged == []
    nationality = scan.sets["nationaliteit"]
    assert nationality.auc == pytest.approx(0.5, abs=0.05)
    assert not nationality.flagged
    assert nationality.auc_without_flagged == nationality.auc


def test_a_combination_of_weak_features_is_caught_by_the_set_model() -> None:
    rng = np.random.default_rng(3)
    n = 6000
    sensitive = rng.choice(["a", "b"], size=n)
    # Each feature alone is below the threshold; together they separate the groups well: a shift of 0.4
    # standard deviations in each of 8 independent features is a Mahalanobis distance of 1.13 (AUC 0.79).
    shift = np.where(sensitive == "b", 0.4, 0.0)
    frame = pd.DataFrame({f"x{i}": rng.normal(shift, 1.0) for i in range(8)})
    scan = proxy_scan(
        frame,
        list(frame.columns),
        pd.Series(sensitive, name="groep"),
        association_threshold=0.3,
        auc_threshold=0.65,
    )
    assert scan.flagged == []
    assert scan.sets["groep"].auc is not None
    assert scan.sets["groep"].auc > 0.7
    assert scan.sets["groep"].flagged


def test_several_attributes_and_a_separate_set() -> None:
    frame = _synthetic()
    sensitive = frame[["nationaliteit"]].assign(
        geslacht=np.where(np.arange(len(frame)) % 2 == 0, "man", "vrouw")
    )
    scan = proxy_scan(
        frame,
        ["taal", "inkomen", "sector"],
        sensitive,
        association_threshold=0.3,
        auc_threshold=0.65,
        set_features=["inkomen", "sector"],
    )
    taal = next(f for f in scan.features if f.feature == "taal")
    assert taal.strongest_with == "nationaliteit"
    assert set(taal.association) == {"nationaliteit", "geslacht"}
    assert scan.sets["nationaliteit"].auc == pytest.approx(0.5, abs=0.05)  # the set leaves out taal
    assert set(scan.sets) == {"nationaliteit", "geslacht"}


def test_invalid_input_is_refused() -> None:
    frame = _synthetic(n=200)
    with pytest.raises(InvalidInput, match="feature\\(s\\) nope not in the table"):
        proxy_scan(frame, ["nope"], frame["nationaliteit"], association_threshold=0.3, auc_threshold=0.65)
    one_group = pd.Series("x", index=frame.index, name="nationaliteit")
    with pytest.raises(InvalidInput, match="sensitive attribute 'nationaliteit' has fewer than two groups"):
        proxy_scan(frame, ["taal"], one_group, association_threshold=0.3, auc_threshold=0.65)
    with pytest.raises(InvalidInput, match="thresholds out of range"):
        proxy_scan(frame, ["taal"], frame["nationaliteit"], association_threshold=0.3, auc_threshold=0.4)


def test_known_proxies_in_the_generated_applications(
    small_tables: dict[str, generator.GeneratedTable],
) -> None:
    frame = small_tables["ww_aanvragen"].frame
    features = ["correspondentietaal", "aanvraagkanaal", "uren_per_week", "sector", "aanvraagdatum"]
    scan = proxy_scan(frame, features, frame["nationaliteit"], association_threshold=0.3, auc_threshold=0.65)
    by_name = {f.feature: f for f in scan.features}
    assert by_name["correspondentietaal"].flagged
    assert not by_name["uren_per_week"].flagged
    assert by_name["aanvraagdatum"].kind == "numeric"
    assert scan.sets["nationaliteit"].flagged


# -- riskscan proxy-scan ---------------------------------------------------------------------------------


def _run(argv: list[str], out: Path) -> dict[str, Any]:
    payload = invoke(argv).payload
    out.write_text(json.dumps({"verb": argv[0], **payload}, allow_nan=False), encoding="utf-8")
    return dict(json.loads(out.read_text(encoding="utf-8")))


def test_proxy_scan_verb_writes_features_flagged_and_auc(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    _synthetic().to_csv(path, index=False)
    argv = [
        "proxy-scan",
        "--input",
        str(path),
        "--sensitive-col",
        "nationaliteit",
        "--exclude",
        "aanvraag_id",
    ]
    result = _run(argv, tmp_path / "out.json")
    assert list(result)[:4] == ["verb", "input", "features", "flagged"]
    assert {f["feature"] for f in result["features"]} == {"taal", "inkomen", "sector", "vast_contract"}
    assert result["flagged"] == ["taal"]
    assert result["auc"] >= 0.9
    assert result["auc_flagged"] is True
    assert result["auc_without_flagged"] == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(
    ("content", "argv_extra", "message"),
    [
        ("a,b\n1,x\n2,y\n", ["--sensitive-col", "nationaliteit"], "column 'nationaliteit' not found in"),
        ("a,b\n1,x\n2,y\n", ["--sensitive-col", "b", "--exclude", "c"], "column 'c' not found in"),
        ("a,b\n1,x\n2,x\n", ["--sensitive-col", "b"], "group column 'b' has only one group ('x')"),
        (
            "a,b\n1,x\n2,\n",
            ["--sensitive-col", "b"],
            "group column 'b' has 1 rows with an empty or missing group",
        ),
        ("", ["--sensitive-col", "b"], "is empty"),
        ("a,b\n1,x\n2,y\n", ["--sensitive-col", "b", "--exclude", "a"], "no feature columns left"),
    ],
)
def test_proxy_scan_verb_refuses_bad_input(
    tmp_path: Path, content: str, argv_extra: list[str], message: str
) -> None:
    path = tmp_path / "table.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(Refusal) as excinfo:
        _run(["proxy-scan", "--input", str(path), *argv_extra], tmp_path / "out.json")
    assert message in str(excinfo.value)
