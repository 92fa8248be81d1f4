"""MLflow as teams run it: a tracking server with a PostgreSQL backend store and proxied artifacts.

``mlflow server`` runs on a free port, backed by a throwaway PostgreSQL database and a temporary artifact
root that only the server writes (``--serve-artifacts``). The whole life cycle then goes through
``MLFLOW_TRACKING_URI=http://127.0.0.1:PORT``: train, audit, decide, promote, serve, score and retrain.
Nothing may fall back to a local store: the home's own ``mlflow.db`` and ``mlartifacts/`` stay absent.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import mlflow
import pytest

import synthetic as generator
from models import registry
from riskscan.cli import main
from serving.store import ServingStore
from tests.browser import chromium_page
from tests.lifecycle import home_environment, promote_new_champion
from tests.postgres import temporary_database
from tests.processes import free_port, running_server
from tests.serving.conftest import caseload_from

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

AUDIT_FILES = {"report.html", "audit.json", "model_card.md", "algoritmeregister.json"}


@dataclass
class TrackedHome:
    home: Path
    data: Path
    tracking_uri: str
    artifact_root: Path
    champion: str


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """``mlflow server`` on PostgreSQL, serving its own artifact root; yields its URL and that root."""
    artifact_root = tmp_path_factory.mktemp("mlflow_artifacts")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with temporary_database() as backend:
        command = [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            backend,
            "--serve-artifacts",
            "--artifacts-destination",
            str(artifact_root),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ]
        with running_server(
            command,
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},  # no GenAI job workers
            ready_url=f"{url}/health",
            log_path=tmp_path_factory.mktemp("mlflow_server") / "server.log",
        ):
            yield url, artifact_root


@pytest.fixture(scope="module")
def tracked(
    tracking_server: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TrackedHome]:
    """The VW scan trained, audited, approved and promoted with every MLflow call going to the server."""
    url, artifact_root = tracking_server
    home = tmp_path_factory.mktemp("tracked")
    data = home / "data"
    with home_environment(home), pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", url)
        config = generator.GeneratorConfig(n_applications=60_000, n_periods=1_000, seed=13)
        generator.write_tables(generator.generate(config), data, config)
        champion = promote_new_champion("vw", data)
        yield TrackedHome(home, data, url, artifact_root, champion)


def test_training_and_the_audit_land_on_the_server_and_nowhere_else(tracked: TrackedHome) -> None:
    client = mlflow.MlflowClient(tracking_uri=tracked.tracking_uri, registry_uri=tracked.tracking_uri)
    version = client.get_model_version_by_alias("riskscan-vw", "champion")
    assert version.version == tracked.champion
    audit_path = version.tags["audit_artifact_path"]
    listed = {Path(a.path).name for a in client.list_artifacts(version.run_id, audit_path)}
    assert listed >= AUDIT_FILES, "the audit is findable in the run, where the MLflow UI shows it"
    # The server wrote the files into its own artifact root: the client never touched a local store.
    on_server = {p.name for p in tracked.artifact_root.rglob("*") if p.parent.name == Path(audit_path).name}
    assert on_server >= AUDIT_FILES
    assert not (tracked.home / "mlflow.db").exists() and not (tracked.home / "mlartifacts").exists()
    experiment = client.get_experiment(client.get_run(version.run_id).info.experiment_id)
    assert experiment.artifact_location.startswith("mlflow-artifacts:")


def test_the_service_loads_its_champion_from_the_server_and_scores(
    tracked: TrackedHome, tmp_path_factory: pytest.TempPathFactory
) -> None:
    with home_environment(tracked.home):
        token, _ = ServingStore().create_token(name="test case system", role="systeem")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "RISKSCAN_HOME": str(tracked.home),
        "RISKSCAN_CONTROL_KEY": "test-control-key",
        "MLFLOW_TRACKING_URI": tracked.tracking_uri,
    }
    env.pop("RISKSCAN_DATABASE_URL", None)
    with running_server(
        [str(Path(sys.executable).parent / "riskscan"), "serve", "--port", str(port)],
        env=env,
        ready_url=f"{url}/readyz",
        log_path=tmp_path_factory.mktemp("tracked_service") / "server.log",
    ):
        cases = caseload_from(tracked.data, "vw", 5)
        answer = httpx.post(
            f"{url}/score",
            json={"scan": "vw", "cases": cases, "top_n": 3},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["case_id"] for r in results] == [c["case_id"] for c in cases]
    assert {r["model"]["version"] for r in results} == {tracked.champion}


def test_retraining_through_the_server_registers_a_challenger(tracked: TrackedHome, tmp_path: Path) -> None:
    today = datetime.now(UTC).date().isoformat()
    report = tmp_path / "retrain.json"
    with home_environment(tracked.home), pytest.MonkeyPatch.context() as mp:
        mp.setenv("MLFLOW_TRACKING_URI", tracked.tracking_uri)
        code = main(["retrain", "--scan", "vw", "--as-of", today, "--json", str(report)])
        result = json.loads(report.read_text(encoding="utf-8"))
        challenger = result["challenger"]["version"]
        assert code == 0 and challenger != tracked.champion
        assert str(registry.version_by_alias("vw", registry.CHALLENGER).version) == challenger
        assert str(registry.version_by_alias("vw", registry.CHAMPION).version) == tracked.champion
        tags = registry.get_version("vw", challenger).tags
        fetched = registry.download_run_file("vw", challenger, tags[registry.COMPARISON_TAG], tmp_path)
    assert fetched is not None and fetched.stat().st_size > 0
    assert not (tracked.home / "mlflow.db").exists()


@pytest.mark.browser
def test_the_mlflow_ui_shows_the_audit_artifacts_of_the_run(tracked: TrackedHome, tmp_path: Path) -> None:
    """The page people browse: the champion's run, its ``audits/<hash>/`` folder opened on the report.

    ``RISKSCAN_MLFLOW_SCREENSHOT=docs/mlflow-ui.png`` keeps the screenshot for the README."""
    client = mlflow.MlflowClient(tracking_uri=tracked.tracking_uri, registry_uri=tracked.tracking_uri)
    version = client.get_model_version_by_alias("riskscan-vw", "champion")
    run = client.get_run(version.run_id)
    audit_path = version.tags["audit_artifact_path"]
    screenshot = Path(os.environ.get("RISKSCAN_MLFLOW_SCREENSHOT", tmp_path / "mlflow-ui.png"))
    page_url = (
        f"{tracked.tracking_uri}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
        f"/artifacts/{audit_path}/report.html"
    )
    with chromium_page(width=1440, height=900) as page:
        # Not "networkidle": the MLflow UI keeps requests going; the texts below are what must be there.
        page.goto(page_url, wait_until="load", timeout=120_000)
        page.get_by_text("algoritmeregister.json").first.wait_for(timeout=60_000)
        page.get_by_text("model_card.md").first.wait_for(timeout=60_000)
        page.wait_for_timeout(2_000)  # the report's preview frame renders after the tree
        page.screenshot(path=str(screenshot), full_page=False)
    assert screenshot.stat().st_size > 20_000
