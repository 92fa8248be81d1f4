"""Bounded work over real HTTP (issue 13, defects 11-13): authentication before the body, body and answer
sizes, metrics that need the admin role and keep their labels bounded, a 405 that says what is allowed,
and overload answered with 503 and Retry-After, never a dropped connection."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import re
import secrets
import socket
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlparse

import httpx

from serving.gate import Limits
from serving.requests import MAX_NOTE_LENGTH
from tests.serving.conftest import Server, caseload, serving

MB = 1_000_000


def raw_request(
    server: Server, head: str, chunks: list[bytes] | None = None, *, wait: float = 10
) -> tuple[str, int]:
    """Send ``head`` (and then ``chunks`` until the server answers) on a raw socket; return the status
    line and how many body bytes had been sent when the answer came."""
    address = urlparse(server.url)
    with socket.create_connection((address.hostname, address.port), timeout=wait) as sock:
        sock.sendall(head.encode("latin-1"))
        sent = 0
        sock.setblocking(False)
        answer = b""
        deadline = time.monotonic() + wait
        pending = b"".join(chunks or [])  # sent in whatever pieces the socket takes, never reordered
        while pending:
            with contextlib.suppress(BlockingIOError):
                answer += sock.recv(65536)
            if answer or time.monotonic() > deadline:
                break
            try:
                taken = sock.send(pending[:65536])
            except BlockingIOError:
                time.sleep(0.01)
                continue
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += taken
            pending = pending[taken:]
        sock.setblocking(True)
        sock.settimeout(wait)
        while b"\r\n" not in answer:
            more = sock.recv(65536)
            if not more:
                break
            answer += more
    return answer.split(b"\r\n", 1)[0].decode(), sent


def test_an_unauthenticated_request_with_an_invalid_body_gets_401(server: Server) -> None:
    invalid = {"scan": "ziekte", "cases": "none", "top_n": "5"}
    anonymous = httpx.post(f"{server.url}/score", json=invalid)
    assert anonymous.status_code == 401 and "problems" not in anonymous.json()
    unknown = httpx.post(
        f"{server.url}/score", json=invalid, headers={"Authorization": "Bearer rs_not-a-token"}
    )
    assert unknown.status_code == 401
    wrong_role = httpx.post(f"{server.url}/score", json=invalid, headers=server.headers("committee"))
    assert wrong_role.status_code == 403


def test_a_50_mb_body_is_refused_from_its_content_length_before_it_is_read(server: Server) -> None:
    token = server.home.tokens["systeem"]
    head = (
        "POST /score HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nContent-Length: {50 * MB}\r\n\r\n"
    )
    started = time.monotonic()
    status, sent = raw_request(server, head)
    assert status.split()[1] == "413" and sent == 0, "answered with no byte of the body sent"
    assert time.monotonic() - started < 5


def test_a_streamed_body_is_cut_off_soon_after_the_limit(server: Server) -> None:
    token = server.home.tokens["systeem"]
    head = (
        "POST /score HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    piece = b"x" * 65536
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    status, sent = raw_request(server, head, [chunk] * (50 * MB // len(piece)), wait=30)
    assert status.split()[1] == "413"
    assert sent < Limits().body_bytes + 8 * MB, f"{sent} bytes were sent before the answer (of 50 MB)"


def test_a_300_kb_invalid_body_gets_a_small_answer(server: Server) -> None:
    cases = [{"case_id": f"c{index}", "dagloon": "veel" * 70} for index in range(1000)]
    body = json.dumps({"scan": "vw", "cases": cases}).encode()
    assert len(body) > 300_000
    response = httpx.post(
        f"{server.url}/score",
        content=body,
        headers={**server.headers("systeem"), "Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 422
    answer = response.json()
    assert len(response.content) < 32_000, f"{len(response.content)} bytes"
    assert len(answer["problems"]) == 50 and answer["total"] > 1000


def test_a_long_note_is_refused_naming_notes_and_an_11_mb_one_is_not_read(server: Server) -> None:
    outcome = {"request_id": "0" * 32, "violation": False, "hoor_en_wederhoor": True, "investigator": "T"}
    long_note = httpx.post(
        f"{server.url}/outcome",
        json={**outcome, "notes": "n" * (MAX_NOTE_LENGTH + 1)},
        headers=server.headers("handhaving"),
    )
    assert long_note.status_code == 422
    problem = long_note.json()["problems"][0]
    assert problem["field"] == "notes" and len(problem["value"]) < 300
    huge = httpx.post(
        f"{server.url}/outcome",
        json={**outcome, "notes": "n" * (11 * MB)},
        headers=server.headers("handhaving"),
        timeout=60,
    )
    assert huge.status_code == 413 and huge.json()["field"] == "body"


def test_metrics_need_the_admin_role(server: Server) -> None:
    assert httpx.get(f"{server.url}/metrics").status_code == 401
    assert httpx.get(f"{server.url}/metrics", headers=server.headers("handhaving")).status_code == 403
    admin = httpx.get(f"{server.url}/metrics", headers=server.headers("admin"))
    assert admin.status_code == 200 and "riskscan_http_requests_total" in admin.text


def series(server: Server) -> set[str]:
    text = httpx.get(f"{server.url}/metrics", headers=server.headers("admin")).text
    return {line.rsplit(" ", 1)[0] for line in text.splitlines() if line and not line.startswith("#")}


def test_one_hundred_random_paths_add_no_series_per_path(server: Server) -> None:
    httpx.get(f"{server.url}/no-such-page-warm-up")  # the 'other' series, made once
    before = series(server)
    paths = [f"/{secrets.token_hex(6)}/{secrets.token_hex(4)}" for _ in range(100)]
    with httpx.Client() as client:
        for path in paths:
            client.get(f"{server.url}{path}")
    added = series(server) - before
    assert not any(path in line for line in added for path in paths)
    assert len(added) <= 2, added  # at most a new status for 'other'; the metrics call adds none


def test_the_openapi_document_is_public_and_declares_the_bearer_scheme(server: Server) -> None:
    response = httpx.get(f"{server.url}/docs.json")
    assert response.status_code == 200
    document = response.json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    score = document["paths"]["/score"]["post"]
    assert score["security"] == [{"bearer": []}]
    assert {"200", "401", "403", "413", "422", "503"} <= set(score["responses"])
    assert {"404"} <= set(document["paths"]["/outcome"]["post"]["responses"])
    assert document["paths"]["/readyz"]["get"]["security"] == []
    assert '"ge"' not in response.text and '"le"' not in response.text, "JSON Schema says minimum/maximum"
    schemas = document["components"]["schemas"]
    assert schemas["VwCase"]["additionalProperties"] is False
    assert schemas["ScoreVwRequest"]["properties"]["top_n"]["maximum"] == 50


def test_a_wrong_method_gets_405_with_allow(server: Server) -> None:
    response = httpx.put(f"{server.url}/score", json={}, headers=server.headers("systeem"))
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    docs = httpx.post(f"{server.url}/docs.json")
    assert docs.status_code == 405 and docs.headers["allow"] == "GET, HEAD"


async def _storm(server: Server, body: bytes, requests: int, concurrency: int) -> list[httpx.Response | str]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {**server.headers("systeem"), "Content-Type": "application/json"}
    answers: list[httpx.Response | str] = []
    queue = iter(range(requests))
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker() -> None:
            for _ in queue:
                try:
                    answers.append(await client.post(f"{server.url}/score", content=body, headers=headers))
                except httpx.HTTPError as error:
                    answers.append(repr(error))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return answers


def test_overload_is_answered_503_with_retry_after_never_a_dropped_connection(
    server: Server, tmp_path: Path
) -> None:
    body = json.dumps({"scan": "vw", "cases": caseload(server.home, "vw", 200), "top_n": 0}).encode()
    limits = {"RISKSCAN_MAX_CONCURRENCY": "2", "RISKSCAN_MAX_QUEUE": "2", "RISKSCAN_RETRY_AFTER": "3"}
    with serving(server.home.path, tmp_path / "server.log", **limits) as (url, process):
        answers = asyncio.run(_storm(Server(url, server.home, process), body, requests=200, concurrency=48))
    errors = [answer for answer in answers if isinstance(answer, str)]
    statuses = Counter(answer.status_code for answer in answers if isinstance(answer, httpx.Response))
    assert not errors, f"{len(errors)} dropped connections, e.g. {errors[0]}"
    assert set(statuses) == {200, 503}, statuses
    busy = [a for a in answers if isinstance(a, httpx.Response) and a.status_code == 503]
    assert all(a.headers["retry-after"] == "3" and re.search("overloaded", a.json()["error"]) for a in busy)


def test_the_default_limits_serve_concurrency_32_without_a_failed_request(server: Server) -> None:
    body = json.dumps({"scan": "vw", "cases": caseload(server.home, "vw", 1)}).encode()
    answers = asyncio.run(_storm(server, body, requests=2400, concurrency=32))
    errors = [answer for answer in answers if isinstance(answer, str)]
    statuses = Counter(answer.status_code for answer in answers if isinstance(answer, httpx.Response))
    assert not errors and statuses == {200: 2400}, (statuses, errors[:1])


def test_an_idle_keep_alive_connection_is_still_open_after_the_servers_old_5_s(server: Server) -> None:
    """A client that reuses an idle connection is answered: BentoML's default closed it after 5 s, the
    idle expiry of httpx itself, and a request sent as it closed was dropped (ReadError, unanswered)."""
    address = urlparse(server.url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    try:
        connection.request("GET", "/healthz")
        first = connection.getresponse()
        first.read()
        time.sleep(6.5)
        connection.request("GET", "/healthz")  # the same socket: http.client reconnects only when told to
        second = connection.getresponse()
        second.read()
    finally:
        connection.close()
    assert (first.status, second.status) == (200, 200)


def test_a_body_that_is_not_json_gets_415(server: Server) -> None:
    form = httpx.post(f"{server.url}/score", data={"scan": "vw"}, headers=server.headers("systeem"))
    assert form.status_code == 415 and form.json()["field"] == "Content-Type"
