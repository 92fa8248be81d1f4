"""A glass-box version end to end: a logistic VW model is trained, audited, approved, promoted and served
with exact explanations like a LightGBM one; its register entry follows it from development to use to
withdrawal, and an entry the register would refuse fails the audit.

The committee decisions here are test decisions on test data, made through the same gate as real ones.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

import synthetic as generator
from ethics_review.algoritmeregister import AlgorithmIn
from ethics_review.audit import AuditResult, audit_version
from features.sources import read_source
from models import registry
from models.gate import promote, withdraw
from models.governance import GovernanceStore
from models.specs import load_spec
from riskscan import jsonio
from riskscan.cli import invoke
from riskscan.errors import InvalidInput, Refusal
from serving.runtime import ScanRuntime
from tests.lifecycle import committee_approval, home_environment
from training.train import TrainResult, train_scan


@dataclass
class GlassBox:
    home: Path
    data: Path
    trained: TrainResult
    audit: AuditResult


@pytest.fixture(scope="module")
def glass_box(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GlassBox]:
    home = tmp_path_factory.mktemp("glass-box")
    data = home / "data"
    with home_environment(home):
        config = generator.GeneratorConfig(n_applications=40_000, n_periods=5_000, seed=17)
        generator.write_tables(generator.generate(config), data, config)
        spec = load_spec("vw").with_family("logistic")
        trained = train_scan(spec, read_source(data, spec.table), progress=lambda _: None)
        audit = audit_version("vw", trained.version, data_dir=data, progress=lambda _: None)
        yield GlassBox(home, data, trained, audit)


def _cases(data: Path, n: int) -> list[dict[str, object]]:
    frame = read_source(data, "ww_aanvragen").frame
    cases = []
    for _, row in frame.loc[~frame["wajong"]].tail(n).iterrows():
        case: dict[str, object] = {"case_id": str(row["aanvraag_id"])}
        for column in [*load_spec("vw").features, "wajong"]:
            value = row[column].item() if hasattr(row[column], "item") else row[column]
            case[column] = None if isinstance(value, float) and math.isnan(value) else value
        cases.append(case)
    return cases


def _entry(path: Path) -> dict[str, object]:
    entry: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    AlgorithmIn.model_validate(entry)
    return entry


def test_the_run_registers_the_logistic_family_and_compares_it_with_lightgbm(glass_box: GlassBox) -> None:
    assert glass_box.trained.family == "logistic"
    version = registry.get_version("vw", glass_box.trained.version)
    assert version.tags["model_family"] == "logistic"
    comparison = glass_box.audit.audit["family_comparison"]
    assert comparison == jsonio.json_safe(glass_box.trained.family_comparison)
    assert (comparison["this"]["family"], comparison["other"]["family"]) == ("logistic", "lightgbm")


def test_the_audit_documents_a_readable_model(glass_box: GlassBox) -> None:
    audit = glass_box.audit.audit
    assert audit["model_family"] == "logistic"
    labels = {row["label"] for row in audit["coefficients"]["rows"]}
    assert "Reden einde dienstverband" in labels
    card = glass_box.audit.local_paths["model_card.md"].read_text(encoding="utf-8")
    assert "Logistische regressie (scikit-learn)" in card and "## Gewichten (logistische regressie)" in card
    assert "| Reden einde dienstverband | ontslag op staande voet (t.o.v. " in card
    assert "| logistic (deze versie) |" in card and "| lightgbm |" in card
    entry = _entry(glass_box.audit.local_paths["algoritmeregister.json"])
    assert entry["status"] == "In ontwikkeling" and "begin_date" not in entry
    assert "logistische regressie" in str(entry["methods_and_models"])


def test_a_register_entry_the_api_would_refuse_fails_the_audit(
    glass_box: GlassBox, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ethics_review.audit

    version = glass_box.trained.version
    before = registry.get_version("vw", version).tags["audit_sha256"]
    long_name = load_spec("vw").model_copy(update={"name": "Risicoscan " + "x" * 90})
    assert len(long_name.name) == 101
    monkeypatch.setattr(ethics_review.audit, "load_spec", lambda *_args, **_kw: long_name)
    with home_environment(glass_box.home), pytest.raises(InvalidInput) as refused:
        audit_version("vw", version, data_dir=glass_box.data, progress=lambda _: None)
    message = str(refused.value)
    assert "does not meet publication standard 1.0" in message
    assert "name: 101 tekens zonder HTML; maximaal 100" in message
    assert [p.column for p in refused.value.problems] == ["name"]
    assert registry.get_version("vw", version).tags["audit_sha256"] == before, "nothing was attached"


def test_a_promoted_logistic_version_serves_exact_explanations_and_is_in_use(
    glass_box: GlassBox, tmp_path: Path
) -> None:
    version = glass_box.trained.version
    with home_environment(glass_box.home):
        governance = GovernanceStore()
        committee_approval(governance, "vw", version)
        promote(governance, scan="vw", version=version, promoted_by="test")
        runtime = ScanRuntime(governance=governance)
        model = runtime.states["vw"].model
        assert model is not None and model.family == "logistic"
        cases = _cases(glass_box.data, 20)
        response = runtime.score("vw", cases, top_n=0)
        frame = pd.DataFrame(cases).drop(columns=["case_id", "wajong"])
        frame = frame.astype({c.name: "category" for c in model.features.categorical})
        contributions, base = model.explain(model.encode(frame, validate=False))
        for row, result in enumerate(response["results"]):
            assert result["explanation_scale"] == model.margin_scale
            total = result["base_value"] + sum(e["contribution"] for e in result["explanation"])
            assert total == pytest.approx(result["margin"], abs=1e-9)
            by_feature = {e["feature"]: e["contribution"] for e in result["explanation"]}
            expected = dict(zip(model.encoded_names, contributions[row], strict=True))
            assert by_feature == pytest.approx(expected)
            assert result["base_value"] == pytest.approx(base[row])
        out = tmp_path / "entry.json"
        outcome = invoke(["register-entry", "--scan", "vw", "--out", str(out)])
        entry = _entry(out)
        assert entry["status"] == "In gebruik" and "end_date" not in entry
        assert str(entry["begin_date"]) == pd.Timestamp.now(tz="UTC").strftime("%Y-%m")
        assert "goedgekeurd" in str(entry["impacttoetsen"])
        assert f"version {version}" in outcome.lines[0]


def test_a_withdrawn_version_is_out_of_use_from_the_month_of_its_withdrawal(
    glass_box: GlassBox, tmp_path: Path
) -> None:
    version = glass_box.trained.version
    with home_environment(glass_box.home):
        withdraw(GovernanceStore(), scan="vw", reason="test withdrawal", withdrawn_by="test")
        with pytest.raises(Refusal, match="no champion"):
            invoke(["register-entry", "--scan", "vw", "--out", str(tmp_path / "none.json")])
        out = tmp_path / "withdrawn.json"
        invoke(["register-entry", "--scan", "vw", "--version", version, "--out", str(out)])
        entry = _entry(out)
        assert entry["status"] == "Buiten gebruik"
        assert entry["end_date"] == pd.Timestamp.now(tz="UTC").strftime("%Y-%m")
        assert str(entry["begin_date"]) <= str(entry["end_date"])
