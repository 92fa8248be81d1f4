"""Property-based API tests from the service's own OpenAPI document: schemathesis, every check.

Schemathesis' command line runs against the running service with ``--checks all``: no 500, every status
and body as documented, valid data accepted and invalid data refused, 401 without a token, 405 with the
right ``Allow``. The test fails on any failure and prints schemathesis' own report.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx

from tests.serving.conftest import Server

EXAMPLES = 30  # per operation and phase; the run reports how many cases it sent in all


def test_schemathesis_with_every_check_finds_no_failure(server: Server, tmp_path: Path) -> None:
    report = tmp_path / "schemathesis.json"
    config = tmp_path / "schemathesis.toml"
    # 413 refuses a body with more cases than one request may carry (maxItems): a rejection, like 422.
    rejections = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"]
    config.write_text(f"[checks.negative_data_rejection]\nexpected-statuses = {json.dumps(rejections)}\n")
    command = [
        str(Path(sys.executable).parent / "st"),
        "--config-file",
        str(config),
        "run",
        f"{server.url}/docs.json",
        "--checks",
        "all",
        "--header",
        f"Authorization: Bearer {server.home.tokens['admin']}",
        "--max-examples",
        str(EXAMPLES),
        "--phases",
        "examples,coverage,fuzzing",
        "--seed",
        "20261202",
        "--workers",
        "1",
        "--request-timeout",
        "60",
        "--report",
        "json",
        "--report-json-path",
        str(report),
        "--no-color",
    ]
    # In tmp_path: schemathesis keeps a cache folder in its working directory.
    run = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False, cwd=tmp_path)
    print(run.stdout[-6000:])
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    generated = re.search(r"(\d+) generated", run.stdout)
    assert generated and int(generated[1]) > 300, "every operation was exercised"
    assert report.exists()


def test_case_list_rejects_garbage_without_500(server: Server) -> None:
    for params in ({"scan": "x"}, {"scan": "vw", "from": "x"}, {"scan": "vw", "limit": "-1"}, {}):
        response = httpx.get(f"{server.url}/cases", params=params, headers=server.headers("committee"))
        assert 400 <= response.status_code < 500, (params, response.status_code, response.text)
