"""Server-side page sessions, on SQLite and the real PostgreSQL: the cookie holds a random id only, logout
and revocation end the session on the server, the CSRF token rotates at login, sessions expire; the
security headers are on every answer; revision 0005 migrates up and down with records in the tables."""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import pytest
from fastapi import Depends
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from starlette.testclient import TestClient

from riskscan import db
from riskscan.db import current_revision, head_revision, upgrade
from riskscan.errors import ConfigError
from serving.auth import PERMISSIONS, Authenticator
from serving.sessions import IDLE, LIFETIME, SESSIONS, TOUCH_EVERY
from serving.store import ServingStore, TokenRecord
from serving.tokens import ROLES
from serving.web import build_app
from serving.web._headers import CONTENT_SECURITY_POLICY
from serving.web._session import ACTIONS_NL, COOKIE_SECURE_ENV, LOGIN_COOKIE, SESSION_COOKIE, SignedIn
from tests.serving.conftest import ServedHome, form_csrf, sign_in

#: The revision 0005 follows.
PREVIOUS = "0006_committee_signatures"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(database_url: str, clock: Clock) -> Iterator[ServingStore]:
    with ServingStore(database_url, clock=clock) as opened:
        yield opened


@pytest.fixture
def pages(store: ServingStore) -> Iterator[TestClient]:
    """The web app on this backend's store, with one signed-in probe page (the real pages also need
    trained champions; the full service is tested on the served home below)."""
    app = build_app()
    app.state.auth = Authenticator(store)

    @app.get("/ui/probe")
    def probe(user: Annotated[TokenRecord, Depends(SignedIn("worklist"))]) -> dict[str, str]:
        return {"name": user.name}

    with TestClient(app, follow_redirects=False) as client:
        yield client


def log_in(client: TestClient, token: str) -> tuple[str, str]:
    """Log in through the form; returns (the CSRF token before login, the session's CSRF token)."""
    before = form_csrf(client.get("/ui/login").text)
    response = client.post("/ui/login", data={"token": token, "csrf": before, "next": "/ui/probe"})
    assert response.status_code == 303 and response.headers["location"] == "/ui/probe", response.text
    return before, form_csrf(client.get("/ui/login").text)


def test_the_cookie_holds_a_random_id_and_the_table_no_token(pages: TestClient, store: ServingStore) -> None:
    token, record = store.create_token(name="T. Tester", role="handhaving")
    log_in(pages, token)
    cookie = pages.cookies[SESSION_COOKIE]
    assert token not in cookie and "T. Tester" not in cookie and "handhaving" not in cookie
    for decode in (base64.urlsafe_b64decode, base64.b64decode):
        try:
            decoded = decode(cookie + "=" * (-len(cookie) % 4))
        except (binascii.Error, ValueError):
            continue
        assert b"token" not in decoded and b"handhaving" not in decoded and not decoded.isascii()
    with store.engine.connect() as connection:
        rows = connection.execute(text("SELECT * FROM web_sessions")).mappings().all()
    [row] = rows
    assert row["token_id"] == record.id
    assert row["session_hash"] == hashlib.sha256(cookie.encode()).hexdigest()
    assert token not in str(dict(row)) and cookie not in str(dict(row))
    assert pages.get("/ui/probe").json() == {"name": "T. Tester"}


def test_a_cookie_replayed_after_logout_is_sent_to_login(pages: TestClient, store: ServingStore) -> None:
    token, _ = store.create_token(name="T. Tester", role="handhaving")
    _, csrf = log_in(pages, token)
    stolen = pages.cookies[SESSION_COOKIE]
    assert pages.post("/ui/logout", data={"csrf": csrf}).status_code == 303
    assert store.session_count() == 0
    pages.cookies.clear()
    pages.cookies.set(SESSION_COOKIE, stolen)
    replayed = pages.get("/ui/probe")
    assert replayed.status_code == 303 and replayed.headers["location"].startswith("/ui/login?next=/ui/probe")


def test_revoking_the_token_ends_its_sessions(pages: TestClient, store: ServingStore) -> None:
    token, record = store.create_token(name="T. Tester", role="handhaving")
    other, _ = store.create_token(name="O. Ther", role="handhaving")
    log_in(pages, token)
    second = TestClient(pages.app, follow_redirects=False)
    log_in(second, other)
    assert store.session_count(record.id) == 1 and store.session_count() == 2
    store.revoke_token(record.id, "laptop lost")
    assert store.session_count(record.id) == 0 and store.session_count() == 1
    assert pages.get("/ui/probe").status_code == 303
    assert second.get("/ui/probe").status_code == 200, "another token's session lives on"


def test_the_csrf_token_rotates_at_login_and_the_old_one_is_refused(
    pages: TestClient, store: ServingStore
) -> None:
    token, _ = store.create_token(name="T. Tester", role="handhaving")
    before, after = log_in(pages, token)
    assert before != after and len(after) >= 32
    assert LOGIN_COOKIE not in pages.cookies, "the login cookie ends at login"
    refused = pages.post("/ui/logout", data={"csrf": before})
    assert refused.status_code == 403 and "CSRF" in refused.text
    assert pages.get("/ui/probe").status_code == 200
    # A second login in the same browser gets a new session id and a new CSRF token again.
    first_cookie = pages.cookies[SESSION_COOKIE]
    again = pages.post("/ui/login", data={"token": token, "csrf": after, "next": "/ui/probe"})
    assert again.status_code == 303 and pages.cookies[SESSION_COOKIE] != first_cookie
    assert form_csrf(pages.get("/ui/login").text) not in (before, after)
    assert store.session_count() == 1


def test_a_forged_login_without_the_login_cookie_is_refused(pages: TestClient, store: ServingStore) -> None:
    token, _ = store.create_token(name="T. Tester", role="handhaving")
    csrf = form_csrf(pages.get("/ui/login").text)
    pages.cookies.clear()
    forged = pages.post("/ui/login", data={"token": token, "csrf": csrf})
    assert forged.status_code == 403 and "CSRF" in forged.text
    assert store.session_count() == 0


def test_sessions_expire_when_idle_and_after_their_lifetime(
    pages: TestClient, store: ServingStore, clock: Clock
) -> None:
    token, _ = store.create_token(name="T. Tester", role="handhaving")
    log_in(pages, token)
    clock.now += IDLE - timedelta(seconds=1)
    assert pages.get("/ui/probe").status_code == 200, "use keeps a session alive"
    clock.now += IDLE - timedelta(seconds=1)
    assert pages.get("/ui/probe").status_code == 200
    clock.now += IDLE
    idle = pages.get("/ui/probe")
    assert idle.status_code == 303 and store.session_count() == 0
    assert 'riskscan_session=""' in idle.headers["set-cookie"] or "Max-Age=0" in idle.headers["set-cookie"]

    log_in(pages, token)
    started = clock.now
    while clock.now < started + LIFETIME - IDLE:
        clock.now += IDLE / 2
        assert pages.get("/ui/probe").status_code == 200
    clock.now = started + LIFETIME
    assert pages.get("/ui/probe").status_code == 303, "however busy, a session ends after its lifetime"


def test_a_page_view_moves_the_last_use_at_most_once_every_touch_interval(
    pages: TestClient, store: ServingStore, clock: Clock
) -> None:
    token, _ = store.create_token(name="T. Tester", role="handhaving")
    log_in(pages, token)
    logged_in = clock.now

    def last_used() -> datetime:
        with store.engine.connect() as connection:
            moment: datetime = connection.execute(select(SESSIONS.c.last_used_at)).scalar_one()
        return moment

    clock.now += TOUCH_EVERY - timedelta(seconds=1)
    assert pages.get("/ui/probe").status_code == 200
    assert last_used() == logged_in, "a view within TOUCH_EVERY of the last move writes nothing"
    clock.now = logged_in + TOUCH_EVERY
    assert pages.get("/ui/probe").status_code == 200
    assert last_used() == clock.now
    # Idle is counted from the last move: a session used just before a move was due ends at most
    # TOUCH_EVERY early, never late.
    moved = clock.now
    clock.now += TOUCH_EVERY - timedelta(seconds=1)
    assert pages.get("/ui/probe").status_code == 200
    clock.now = moved + IDLE
    assert pages.get("/ui/probe").status_code == 303 and store.session_count() == 0


def test_every_answer_carries_the_security_headers_and_the_cookies_their_flags(
    pages: TestClient, store: ServingStore
) -> None:
    token, _ = store.create_token(name="T. Tester", role="committee")
    form = pages.get("/ui/login")
    login = pages.post("/ui/login", data={"token": token, "csrf": form_csrf(form.text), "next": "/ui/probe"})
    answers = [
        form,
        login,
        pages.get("/ui/probe"),
        pages.get("/ui/static/riskscan.css"),
        pages.get("/nowhere"),
    ]
    for answer in answers:
        assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, answer.url
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "no-referrer"
    assert answers[2].status_code == 403, "committee may not see the worklist"
    assert "uw rol 'committee' mag niet de werklijst van handhaving inzien" in html.unescape(
        answers[2].text
    ), "said in Dutch"
    for cookie in (form.headers["set-cookie"], login.headers["set-cookie"]):
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie


def test_cookies_are_secure_when_the_operator_says_https(
    store: ServingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(COOKIE_SECURE_ENV, "1")
    app = build_app()
    app.state.auth = Authenticator(store)
    with TestClient(app) as client:
        assert "; Secure" in client.get("/ui/login").headers["set-cookie"]
    with TestClient(build_app(), base_url="https://riskscan.example") as client:
        client.app.state.auth = Authenticator(store)  # type: ignore[attr-defined]
        assert "; Secure" in client.get("/ui/login").headers["set-cookie"]
    monkeypatch.setenv(COOKIE_SECURE_ENV, "yes")
    with pytest.raises(ConfigError, match="RISKSCAN_COOKIE_SECURE must be '1' .* got 'yes'"):
        build_app()


# ------------------------------------------------------------------------------------------- migration


def test_0005_migrates_up_and_down_with_records(database_url: str, clock: Clock) -> None:
    """Down with sessions and tokens in the tables (sessions go, tokens stay), refused while a systeem
    token exists; the role check follows the revision; the append-only triggers survive the rebuild."""
    upgrade(database_url, PREVIOUS)
    with db._engine_for(database_url) as engine, engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO api_tokens (name, role, token_hash, created_at) "
                "VALUES ('old', 'handhaving', :hash, :at)"
            ),
            {"hash": "a" * 64, "at": clock.now},
        )
    with ServingStore(database_url, clock=clock) as store:
        assert current_revision(database_url) == head_revision()
        [old] = store.tokens()
        store.start_session(old.id)
        store.revoke_token(old.id, "test")  # the revocation's foreign key reaches the rebuilt table
        _, handhaving = store.create_token(name="h", role="handhaving")
        store.start_session(handhaving.id)
        assert store.session_count() == 1
        with pytest.raises(IntegrityError, match="append-only"), store.engine.begin() as connection:
            connection.execute(text("DELETE FROM api_tokens"))

    db.downgrade(database_url, PREVIOUS)
    with db._engine_for(database_url) as engine:
        with engine.connect() as connection:
            names = [row[0] for row in connection.execute(text("SELECT name FROM api_tokens ORDER BY id"))]
            assert names == ["old", "h"]
        with pytest.raises(IntegrityError), engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO api_tokens (name, role, token_hash, created_at) "
                    "VALUES ('s', 'systeem', :hash, :at)"
                ),
                {"hash": "b" * 64, "at": clock.now},
            )

    with ServingStore(database_url, clock=clock) as store:
        store.create_token(name="case system", role="systeem")
        assert store.session_count() == 0
    with pytest.raises(RuntimeError, match="1 API token.* role 'systeem'"):
        db.downgrade(database_url, PREVIOUS)
    assert current_revision(database_url) == head_revision()


# ----------------------------------------------------------------------------- the full service (SQLite)


def test_the_real_worklist_refuses_a_cookie_replayed_after_logout(
    client: TestClient, served_home: ServedHome
) -> None:
    csrf = sign_in(client, served_home, "handhaving")
    assert client.get("/ui/worklist?scan=vw").status_code == 200
    stolen = client.cookies[SESSION_COOKIE]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", stolen), "a random id, not a payload"
    assert client.post("/ui/logout", data={"csrf": csrf}).status_code == 303
    client.cookies.clear()  # the client is shared by the session's tests: replay in a header instead
    replayed = client.get("/ui/worklist?scan=vw", headers={"Cookie": f"{SESSION_COOKIE}={stolen}"})
    assert replayed.status_code == 303 and replayed.headers["location"].startswith("/ui/login")


def test_token_create_offers_exactly_the_roles_the_store_accepts(riskscan_home: Path) -> None:
    from riskscan.cli._main import main

    for role in ROLES:
        assert main(["token", "create", "--role", role, "--name", f"test {role}"]) == 0
    with ServingStore() as store:
        assert [t.role for t in store.tokens()] == list(ROLES)
    with pytest.raises(SystemExit):  # argparse refuses a role it does not offer
        main(["token", "create", "--role", "root", "--name", "x"])


def test_every_action_a_page_may_refuse_has_a_dutch_wording() -> None:
    assert set(ACTIONS_NL) == set(PERMISSIONS)
