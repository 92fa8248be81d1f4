"""All access to MLflow: tracking store, experiments, model logging, registry versions, aliases and tags.

Other packages ask this module and never call the MLflow client themselves, so the rules live in one
place: models are named ``riskscan-<scan>``, registered versions start as ``status=candidate``, the
serving model is the alias ``champion`` (never the deprecated stages), and nothing whose signature names
an audit-only or forbidden column can be registered.

What is logged is declared, not inferred, so MLflow has nothing to guess and nothing to warn about: the
signature types every input from the register (an integer that may be missing as a double), the
environment is the locked requirements as an explicit conda environment (MLflow would otherwise look for
the version of pip, which a uv environment does not have), and a run's datasets share one declared source.
"""

from __future__ import annotations

import getpass
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.dataset_source_registry import get_registered_sources, resolve_dataset_source
from mlflow.entities.model_registry import ModelVersion
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.types.schema import ColSpec, Schema

from features.register import Column, FeatureRegister, default_register
from models.scorer import ScanModel
from riskscan import home
from riskscan.errors import ForbiddenColumn, NotFound

CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous"
PYFUNC_CODE = Path(__file__).with_name("pyfunc_model.py")
_MLFLOW_TYPES = {
    "category": "string",
    "string": "string",
    "int": "long",
    "float": "double",
    "bool": "boolean",
}


def model_name(scan: str) -> str:
    return f"riskscan-{scan}"


def configure() -> str:
    """Point MLflow at the project's tracking store; return its URI."""
    uri = home.tracking_uri()
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return uri


def client() -> MlflowClient:
    uri = configure()
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(scan: str, purpose: str | None = None) -> str:
    """The experiment of a scan (training runs), or of its scheduled jobs with ``purpose="jobs"``, created
    on first use with artifacts under the home folder."""
    configure()
    name = model_name(scan) if purpose is None else f"{model_name(scan)}-{purpose}"
    existing = mlflow.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    # A tracking server manages its own artifacts; a database store (SQLite, PostgreSQL) gets them in the
    # home folder, so nothing lands in a stray ./mlruns.
    uri = home.tracking_uri()
    location = None if uri.startswith(("http://", "https://")) else f"{home.artifact_root()}/{name}"
    return str(mlflow.create_experiment(name, artifact_location=location))


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parent,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=False,
            cwd=Path(__file__).resolve().parent,
        ).stdout.strip()
        return out.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _mlflow_type(column: Column) -> str:
    """The register's type in MLflow's words. An integer that may be missing arrives as a float (pandas has
    no missing integer in a float64 frame), so a nullable integer is declared a double."""
    if column.dtype == "int" and column.nullable:
        return "double"
    return _MLFLOW_TYPES[column.dtype]


def signature_for(columns: list[Column]) -> ModelSignature:
    inputs = Schema([ColSpec(_mlflow_type(c), c.name, required=not c.nullable) for c in columns])
    outputs = Schema([ColSpec("double", "score")])
    return ModelSignature(inputs=inputs, outputs=outputs)


def dataset_source(path: Path) -> DatasetSource:
    """The source of a run's datasets, declared once: the local file the source table was read from.

    MLflow registers its local-file source class twice (for the URI schemes ``""`` and ``file``), so
    resolving a bare path finds two equal candidates and warns that it "can be interpreted in multiple
    ways". Resolving against the first of them only gives the same source without the guess.
    """
    local = [source for source in get_registered_sources() if source._get_source_type() == "local"]
    return resolve_dataset_source(str(path), candidate_sources=local[:1] or None)


def check_signature(
    scan: str, signature: ModelSignature | None, register: FeatureRegister | None = None
) -> None:
    """The first lock: refuse a model whose inputs include any column the register does not allow."""
    if signature is None or signature.inputs is None:
        raise ForbiddenColumn("<signature>", None, "without a signature", "a model must declare its inputs")
    (register or default_register()).check_model_inputs(scan, signature.inputs.input_names())


def log_scan_model(
    model: ScanModel,
    input_example: pd.DataFrame,
    name: str = "model",
    register: FeatureRegister | None = None,
) -> ModelInfo:
    """Log a ScanModel to the active run as a pyfunc that returns probabilities; ``register`` is the one
    its inputs are checked against (the caller's, with any rulings; default: the shipped one)."""
    signature = signature_for(list(model.features.columns))
    check_signature(model.scan, signature, register)
    example = input_example[model.features.names].head(5).copy()
    for column in model.features.categorical:
        example[column.name] = example[column.name].astype(str)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = model.save(Path(tmp) / "scan_model")
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(PYFUNC_CODE),
            artifacts={"scan_model": str(model_dir)},
            signature=signature,
            input_example=example,
            conda_env=conda_environment(),
        )


def conda_environment() -> dict[str, Any]:
    """The logged model's environment: this Python and the locked requirements, declared in full."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"
    return {
        "name": "riskscan",
        "channels": ["conda-forge"],
        "dependencies": [f"python={python}", "pip", {"pip": requirements()}],
    }


def requirements() -> list[str]:
    from importlib.metadata import version

    packages = [
        "lightgbm",
        "scikit-learn",
        "skops",
        "pandas",
        "numpy",
        "pandera",
        "pydantic",
        "pyyaml",
        "mlflow",
    ]
    return [f"{p}=={version(p)}" for p in packages]


def register_candidate(
    scan: str, info: ModelInfo, tags: dict[str, str], register: FeatureRegister | None = None
) -> ModelVersion:
    """Register a logged model as a new version of ``riskscan-<scan>``, tagged ``status=candidate``; its
    inputs are checked against ``register`` (default: the shipped one).

    ``registered_by`` names who registered it (the operating-system user running training or the
    retraining job, as MLflow's ``mlflow.user`` run tag does) unless ``tags`` names it: the promotion gate
    refuses that identity's signature on the version's committee decision (separation of duties).
    """
    check_signature(scan, info.signature, register)
    c = client()
    name = model_name(scan)
    try:
        c.get_registered_model(name)
    except mlflow.exceptions.MlflowException:
        c.create_registered_model(
            name, description=f"riskscan {scan}: signals select cases for investigation."
        )
    # The client, not mlflow.register_model: the fluent call prints "Registered model ... already exists"
    # and "Created version ..." to stderr, in the middle of the verb's own summary.
    return c.create_model_version(
        name,
        info.model_uri,
        run_id=info.run_id,
        tags={"registered_by": getpass.getuser(), **tags, "status": "candidate"},
        model_id=info.model_id,
    )


def get_version(scan: str, version: int | str) -> ModelVersion:
    try:
        return client().get_model_version(model_name(scan), str(version))
    except mlflow.exceptions.MlflowException:
        raise NotFound(f"{model_name(scan)} has no version {version}") from None


def version_by_alias(scan: str, alias: str) -> ModelVersion | None:
    try:
        return client().get_model_version_by_alias(model_name(scan), alias)
    except mlflow.exceptions.MlflowException:
        return None


def set_alias(scan: str, alias: str, version: int | str) -> None:
    client().set_registered_model_alias(model_name(scan), alias, str(version))


def delete_alias(scan: str, alias: str) -> None:
    client().delete_registered_model_alias(model_name(scan), alias)


def set_version_tag(scan: str, version: int | str, key: str, value: str) -> None:
    client().set_model_version_tag(model_name(scan), str(version), key, value)


def versions(scan: str) -> list[ModelVersion]:
    found = client().search_model_versions(f"name='{model_name(scan)}'")
    return sorted(found, key=lambda v: int(v.version))


def load_scan_model(scan: str, version: int | str) -> ScanModel:
    """Download a registered version's ScanModel folder and load it (register checks included)."""
    mv = get_version(scan, version)
    with tempfile.TemporaryDirectory() as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{model_name(scan)}/{mv.version}", dst_path=tmp
        )
        return ScanModel.load(Path(local) / "artifacts" / "scan_model")


def run_data(run_id: str) -> dict[str, Any]:
    run = client().get_run(run_id)
    return {"params": run.data.params, "metrics": run.data.metrics, "tags": run.data.tags}


def version_signature(scan: str, version: int | str) -> ModelSignature | None:
    """The signature the registered model was logged with."""
    return mlflow.models.get_model_info(f"models:/{model_name(scan)}/{version}").signature


#: Set by the retraining job: where the comparison report with the champion is, and its verdict in words.
COMPARISON_TAG = "retrain_comparison"
COMPARISON_VERDICT_TAG = "retrain_verdict"

AUDIT_TAGS = ("audit_sha256", "audit_verdict", "audit_fail_count", "audit_artifact_path", "audited_at")


def attach_audit(
    scan: str, version: int | str, local_dir: Path, report_sha256: str, tags: dict[str, str]
) -> str:
    """Log an audit's files to the version's run and tag the version with the report's hash.

    Each audit gets its own folder (named by its hash), so a re-audit never overwrites the evidence an
    earlier committee decision referred to.
    """
    mv = get_version(scan, version)
    if mv.run_id is None:
        raise NotFound(f"{model_name(scan)} version {version} has no training run to attach the audit to")
    path = f"audits/{report_sha256[:16]}"
    client().log_artifacts(mv.run_id, str(local_dir), artifact_path=path)
    for key, value in {**tags, "audit_sha256": report_sha256, "audit_artifact_path": path}.items():
        set_version_tag(scan, version, key, value)
    return path


def download_audit_file(scan: str, version: int | str, name: str, dst: Path) -> Path | None:
    """Fetch one file of the version's latest audit, or None if it has never been audited."""
    mv = get_version(scan, version)
    path = mv.tags.get("audit_artifact_path")
    if not path:
        return None
    return Path(
        mlflow.artifacts.download_artifacts(
            run_id=mv.run_id, artifact_path=f"{path}/{name}", dst_path=str(dst)
        )
    )


def download_run_file(scan: str, version: int | str, artifact_path: str, dst: Path) -> Path | None:
    """Fetch one artifact of the version's training run (e.g. ``evaluation/reference_profile.json``), or
    None if the run has no such file (versions trained before the file existed)."""
    mv = get_version(scan, version)
    if mv.run_id is None:
        return None
    try:
        return Path(
            mlflow.artifacts.download_artifacts(
                run_id=mv.run_id, artifact_path=artifact_path, dst_path=str(dst)
            )
        )
    except (mlflow.exceptions.MlflowException, OSError):
        return None


#: Where a training run records both families' control-sample figures (training.evaluate.family_comparison).
FAMILY_COMPARISON_FILE = "evaluation/family_comparison.json"


def family_comparison(scan: str, version: int | str) -> dict[str, Any] | None:
    """``{"this": {"family", "precision_at_op", "lift"}, "other": {...}}`` of the version's training run, or
    None for a version trained before runs fitted both families."""
    with tempfile.TemporaryDirectory() as tmp:
        path = download_run_file(scan, version, FAMILY_COMPARISON_FILE, Path(tmp))
        if path is None:
            return None
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return loaded


def log_job_run(
    scan: str,
    *,
    job: str,
    params: dict[str, str],
    metrics: dict[str, float],
    tags: dict[str, str],
    files: list[Path],
) -> str:
    """Log one run of a scheduled job (``monitor``) to the experiment ``riskscan-<scan>-jobs``, so the
    history of a scan's health sits beside its training runs. Returns the run id."""
    experiment = experiment_id(scan, "jobs")
    c = client()
    run = c.create_run(experiment, run_name=f"{job}-{scan}", tags={"scan": scan, "job": job, **tags})
    try:
        for key, value in params.items():
            c.log_param(run.info.run_id, key, value)
        for key, number in metrics.items():
            c.log_metric(run.info.run_id, key, number)
        for path in files:
            c.log_artifact(run.info.run_id, str(path), artifact_path=job)
    except Exception:
        c.set_terminated(run.info.run_id, status="FAILED")
        raise
    c.set_terminated(run.info.run_id)
    return str(run.info.run_id)


def attach_run_files(scan: str, version: int | str, files: list[Path], artifact_path: str) -> None:
    """Add files (a retrain comparison report) to the training run of a version."""
    mv = get_version(scan, version)
    if mv.run_id is None:
        raise NotFound(f"{model_name(scan)} version {version} has no training run to attach files to")
    for path in files:
        client().log_artifact(mv.run_id, str(path), artifact_path=artifact_path)
