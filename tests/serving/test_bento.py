"""The Bento: ``bentoml build`` packs the service offline, and ``bentoml serve <tag>`` runs it on its own.

The build goes into a temporary ``BENTOML_HOME`` and installs nothing; the built Bento is served by this
environment's Python, but with the project's editable install switched off, so every module the service
imports must come from the Bento's own ``src/``: a file the ``bentofile.yaml`` forgets fails these tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from serving.gate import KEEP_ALIVE_SECONDS
from tests.lifecycle import CONTROL_KEY
from tests.processes import free_port, running_server
from tests.serving.conftest import ServedHome

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "docs" / "examples"
#: Removes the project's editable-install finder from every process that starts with this on PYTHONPATH
#: (``site`` imports ``sitecustomize`` after the ``.pth`` files), so imports resolve in the Bento or fail.
#: The flags of `make requirements`: the locked runtime dependencies, without the project and dev tools.
EXPORT_FLAGS = ["--frozen", "--no-hashes", "--no-dev", "--no-emit-project", "--no-annotate"]
WITHOUT_EDITABLE_INSTALL = """\
import sys
sys.meta_path[:] = [f for f in sys.meta_path if getattr(f, "__name__", "") != "_EditableFinder"]
"""


def uv_command() -> str:
    """The pinned uv that `make install` puts in .tools/ (BentoML calls ``uv`` while it builds)."""
    found = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(found).exists():
        pytest.fail("uv is not installed; `make install` puts it in .tools/bin")
    return found


def bentoml_environment(bentoml_home: Path, riskscan_home: Path) -> dict[str, str]:
    uv_dir = str(Path(uv_command()).parent)
    return {
        **os.environ,
        "BENTOML_HOME": str(bentoml_home),
        "BENTOML_DO_NOT_TRACK": "true",
        "RISKSCAN_HOME": str(riskscan_home),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{uv_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }


@dataclass
class BuiltBento:
    tag: str
    path: Path
    bentoml_home: Path
    output: str


@pytest.fixture(scope="module")
def built_bento(tmp_path_factory: pytest.TempPathFactory) -> BuiltBento:
    bentoml_home = tmp_path_factory.mktemp("bentoml_home")
    # Importing the service during the build writes the session key into a home: a throwaway one.
    env = bentoml_environment(bentoml_home, tmp_path_factory.mktemp("build_home"))
    bentoml = str(Path(sys.executable).parent / "bentoml")
    built = subprocess.run(
        [bentoml, "build", "--version", "test", str(ROOT)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,  # 50 s on the shared 2-core machine at load 11, 196 s at load 20
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    listed = subprocess.run(
        [bentoml, "list", "-o", "json"], env=env, capture_output=True, text=True, check=True, timeout=120
    )
    tags = [bento["tag"] for bento in json.loads(listed.stdout)]
    assert tags == ["riskscan:test"], tags
    return BuiltBento(
        "riskscan:test", bentoml_home / "bentos" / "riskscan" / "test", bentoml_home, built.stdout
    )


def test_the_bento_holds_code_templates_and_locked_requirements_but_no_model_and_no_state(
    built_bento: BuiltBento,
) -> None:
    src = built_bento.path / "src"
    files = {p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file()}
    for needed in (
        "serving/service.py",
        "serving/web/templates/worklist.html",
        "models/scans/vw.yaml",
        "models/scans/sollicitatie.yaml",
        "features/register.yaml",
        "riskscan/migrations/alembic.ini",
    ):
        assert needed in files
    assert {f.split("/")[0] for f in files} <= {"serving", "models", "features", "riskscan", "bentofile.yaml"}
    state = [f for f in files if f.endswith((".db", ".key", ".parquet", ".pkl", ".skops", ".lgb"))]
    assert state == [], "a Bento carries no models and no state"
    assert not any(f.startswith(("var/", "mlruns/", "riskscan/cli/")) for f in files)

    manifest = yaml.safe_load((built_bento.path / "bento.yaml").read_text(encoding="utf-8"))
    assert manifest["models"] == [] and manifest["service"] == "serving.service:RiskScan"
    requirements = (built_bento.path / "env" / "python" / "requirements.txt").read_text(encoding="utf-8")
    pinned = {line.split("==")[0] for line in requirements.splitlines() if "==" in line}
    assert {"bentoml", "mlflow", "lightgbm", "shap", "psycopg", "sqlalchemy"} <= pinned
    assert not {"pytest", "ruff", "mypy", "playwright"} & pinned, "the image gets no development tools"
    unpinned = [
        line for line in requirements.splitlines() if line and not line.startswith("#") and "==" not in line
    ]
    assert unpinned == []


def test_the_committed_requirements_are_the_lock_file_exported() -> None:
    """``requirements.txt`` is what the Bento installs; it must be ``uv.lock`` exported, not an older copy."""
    exported = subprocess.run(
        [uv_command(), "export", *EXPORT_FLAGS],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    committed = (ROOT / "requirements.txt").read_text(encoding="utf-8")
    assert _pins(committed) == _pins(exported), "requirements.txt is stale: run `make requirements`"


def _pins(requirements: str) -> list[str]:
    """The requirement lines, without the header comment that names the command."""
    return [line for line in requirements.splitlines() if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def bento_server(
    built_bento: BuiltBento, served_home: ServedHome, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    shim = tmp_path_factory.mktemp("no_editable_install")
    (shim / "sitecustomize.py").write_text(WITHOUT_EDITABLE_INSTALL, encoding="utf-8")
    env = {
        **{k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "RISKSCAN_DATABASE_URL")},
        "RISKSCAN_HOME": str(served_home.path),
        "RISKSCAN_CONTROL_KEY": CONTROL_KEY,
        "BENTOML_HOME": str(built_bento.bentoml_home),
        "BENTOML_DO_NOT_TRACK": "true",
        "PYTHONPATH": str(shim),
    }
    outside = tmp_path_factory.mktemp(
        "elsewhere"
    )  # not the checkout, so the code can come only from the Bento
    probe = subprocess.run(
        [sys.executable, "-c", "import serving"], env=env, cwd=outside, capture_output=True, check=False
    )
    assert probe.returncode != 0, "the editable install must be off, or the test proves nothing"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    bentoml = str(Path(sys.executable).parent / "bentoml")
    with running_server(
        # As docs/operations.md runs the image: BentoML's 5 s keep-alive drops requests (serving/gate.py).
        [
            bentoml,
            "serve",
            built_bento.tag,
            "--port",
            str(port),
            "--timeout-keep-alive",
            str(KEEP_ALIVE_SECONDS),
        ],
        env=env,
        cwd=outside,
        ready_url=f"{url}/readyz",
        log_path=tmp_path_factory.mktemp("bento_server") / "server.log",
    ):
        yield url


def test_the_served_bento_is_ready_and_scores_the_example_body(
    bento_server: str, served_home: ServedHome
) -> None:
    assert httpx.get(f"{bento_server}/readyz", timeout=10).status_code == 200
    body = json.loads((EXAMPLES / "score-vw.json").read_text(encoding="utf-8"))
    answer = httpx.post(
        f"{bento_server}/score",
        json=body,
        headers={"Authorization": f"Bearer {served_home.tokens['systeem']}"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["case_id"] for r in results] == [c["case_id"] for c in body["cases"]]
    assert all(r["model"]["version"] == served_home.versions["vw"] for r in results)
    assert all(0 < r["score"] < 1 and len(r["explanation"]) == body["top_n"] for r in results)
