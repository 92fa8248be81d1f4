"""The committee's pages: every version, decision, promotion and withdrawal of each scan
(``GET /ui/audits``), and the stored documents of a version (its audit report, the retraining job's
comparison with the champion)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from models import registry
from models.registry import COMPARISON_TAG
from models.specs import scan_ids
from riskscan.errors import NotFound
from serving.runtime import ScanRuntime
from serving.tokens import TokenRecord
from serving.web._headers import DOCUMENT_POLICY
from serving.web._render import page
from serving.web._session import SignedIn, csrf_token
from serving.web._state import Runtime

router = APIRouter()

CommitteeMember = Annotated[TokenRecord, Depends(SignedIn("audits"))]


def _versions(scan: str) -> list[dict[str, Any]]:
    """Every registered version of a scan, newest first, with its alias and tags."""
    aliases = {
        str(mv.version): alias
        for alias in (registry.CHAMPION, registry.CHALLENGER, registry.PREVIOUS)
        if (mv := registry.version_by_alias(scan, alias)) is not None
    }
    return [
        {
            "version": v.version,
            "alias": aliases.get(str(v.version), ""),
            "tags": dict(v.tags),
            "created": datetime.fromtimestamp(v.creation_timestamp / 1000).isoformat(timespec="minutes"),
        }
        for v in reversed(registry.versions(scan))
    ]


def _scan_record(runtime: ScanRuntime, scan: str) -> dict[str, Any]:
    """What the committee page shows of one scan: what is served, the versions and the governance trail."""
    return {
        "scan": scan,
        "state": runtime.states[scan],
        "versions": _versions(scan),
        "decisions": list(reversed(runtime.governance.decisions(scan))),
        "promotions": list(reversed(runtime.governance.promotions(scan))),
        "withdrawals": list(reversed(runtime.governance.withdrawals(scan))),
    }


@router.get("/ui/audits", response_class=HTMLResponse)
def audits(request: Request, runtime: Runtime, user: CommitteeMember) -> Response:
    scans = [_scan_record(runtime, scan) for scan in scan_ids()]
    rulings = runtime.store.reexamination_progress(runtime.governance.rulings())
    return page("audits.html", scans=scans, rulings=rulings, user=user, csrf=csrf_token(request))


def committee_document(
    scan: str, version: str, fetch: Callable[[Path], Path | None], missing: str
) -> HTMLResponse:
    """A stored HTML report of a version for the committee; ``fetch`` downloads it into a folder."""
    if scan not in scan_ids():
        raise NotFound(f"unknown scan '{scan}'")
    with tempfile.TemporaryDirectory() as tmp:
        path = fetch(Path(tmp))
        if path is None:
            raise NotFound(f"version {version} of {scan} has no {missing}")
        html = path.read_text(encoding="utf-8")
    return HTMLResponse(html, headers={"Content-Security-Policy": DOCUMENT_POLICY})


@router.get("/ui/audits/{scan}/{version}/report", response_class=HTMLResponse)
def audit_report(scan: str, version: str, _: CommitteeMember) -> Response:
    return committee_document(
        scan,
        version,
        lambda folder: registry.download_audit_file(scan, version, "report.html", folder),
        "audit",
    )


@router.get("/ui/audits/{scan}/{version}/comparison", response_class=HTMLResponse)
def retrain_comparison(scan: str, version: str, _: CommitteeMember) -> Response:
    """The retraining job's comparison of a challenger with the champion (jobs/retrain.py)."""

    def fetch(folder: Path) -> Path | None:
        artifact = registry.get_version(scan, version).tags.get(COMPARISON_TAG)
        return registry.download_run_file(scan, version, artifact, folder) if artifact else None

    return committee_document(scan, version, fetch, "retraining comparison")
