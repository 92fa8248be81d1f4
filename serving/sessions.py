"""Server-side page sessions: a random session id in the browser's cookie, the session's row here.

The cookie of a signed-in browser holds only a random id (256 bits); this table holds the SHA-256 of that
id, the *id* of the API token used to log in (never the token), the session's CSRF token, and when it was
made, when it expires and when it was last used. So a stolen cookie is worth one session that ends at
logout, at the token's revocation or after ``IDLE`` without use or ``LIFETIME`` in all, whichever comes
first; and a copy of this table gives no cookie and no token.

A session is a row that ends: logout deletes it (:func:`end_session`), revoking the token deletes every
session made with it (:func:`end_token_sessions`, called by :func:`serving.tokens.revoke_token` in the
same transaction), and an expired one is deleted when it is next presented or when a new session is made.
A page view moves the last use at most once every :data:`TOUCH_EVERY`. Sessions are not evidence (the log
rows and outcomes a user writes are, and they carry the token's identity), so unlike the tables of
``0002_serving`` this one may be updated (last use) and deleted.

Table from Alembic revision ``0005_web_sessions``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from sqlalchemy import (
    CheckConstraint,
    Connection,
    Engine,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from riskscan.db import Base, Record, UTCDateTime, write_transaction
from riskscan.errors import InvalidInput

#: A session ends after this long without a page view ...
IDLE: Final = timedelta(minutes=30)
#: ... and after this long in all, however busy (one working day).
LIFETIME: Final = timedelta(hours=8)
#: A page view moves the session's last use only when the last move is this old: a write on every view
#: cost each page a write transaction (0.6 ms of CPU) and, on SQLite, emptied the page cache of every other
#: connection, the worklist's included. So a session may end up to this much sooner than ``IDLE`` after
#: its last view, never later.
TOUCH_EVERY: Final = timedelta(minutes=1)
#: Bytes of randomness in a session id and a CSRF token.
SECRET_BYTES: Final = 32


class WebSessionRow(Base):
    """A signed-in page session (revision 0005)."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_hash: Mapped[str] = mapped_column(String(64))
    token_id: Mapped[int] = mapped_column(Integer)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("session_hash", name="session_hash"),
        ForeignKeyConstraint(["token_id"], ["api_tokens.id"], name="token_id"),
        CheckConstraint("length(csrf) >= 32", name="csrf_length"),
        CheckConstraint("expires_at > created_at", name="expires_after_created"),
        Index("ix_web_sessions_token_id", "token_id"),
        {"sqlite_autoincrement": True},
    )


SESSIONS: Final[Table] = WebSessionRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class WebSession(Record):
    """A live session, without its id: the store keeps only the id's SHA-256."""

    id: int
    token_id: int
    csrf: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime


def _session_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode("utf-8")).hexdigest()


def new_secret() -> str:
    """A fresh random secret for a session id or a CSRF token (URL-safe text)."""
    return secrets.token_urlsafe(SECRET_BYTES)


def start_session(engine: Engine, now: Callable[[], datetime], token_id: int) -> tuple[str, WebSession]:
    """A new session for ``token_id``, with a new CSRF token. The session id is returned here, once, for
    the cookie; the table keeps its SHA-256. Expired sessions of anyone are deleted on the way."""
    if isinstance(token_id, bool) or not isinstance(token_id, int):
        raise InvalidInput(f"token_id must be an integer, got {token_id!r}")
    session_id, moment = new_secret(), now()
    row = {
        "session_hash": _session_hash(session_id),
        "token_id": token_id,
        "csrf": new_secret(),
        "created_at": moment,
        "expires_at": moment + LIFETIME,
        "last_used_at": moment,
    }
    with write_transaction(engine) as connection:
        _delete_expired(connection, moment)
        new_id = connection.execute(insert(SESSIONS).returning(SESSIONS.c.id), row).scalar_one()
    return session_id, WebSession.from_row({**row, "id": new_id})


def _delete_expired(connection: Connection, moment: datetime) -> None:
    connection.execute(
        delete(SESSIONS).where((SESSIONS.c.expires_at <= moment) | (SESSIONS.c.last_used_at <= moment - IDLE))
    )


def use_session(engine: Engine, now: Callable[[], datetime], session_id: str) -> WebSession | None:
    """The live session with this id, its last use moved to now if it was last moved :data:`TOUCH_EVERY`
    ago or more; None for an unknown, ended or expired one (an expired one is deleted)."""
    if not isinstance(session_id, str) or not session_id:
        return None
    digest, moment = _session_hash(session_id), now()
    by_hash = select(SESSIONS).where(SESSIONS.c.session_hash == digest)
    with engine.connect() as connection:
        row = connection.execute(by_hash).first()
    if row is None:
        return None
    # Used within TOUCH_EVERY, so not idle either (TOUCH_EVERY < IDLE): live, and no write needed.
    if row.expires_at > moment and row.last_used_at > moment - TOUCH_EVERY:
        return WebSession.from_row(row)
    with write_transaction(engine) as connection:  # read again under the write lock: logout may have won
        row = connection.execute(by_hash).first()
        if row is None:
            return None
        if row.expires_at <= moment or row.last_used_at <= moment - IDLE:
            connection.execute(delete(SESSIONS).where(SESSIONS.c.id == row.id))
            return None
        connection.execute(update(SESSIONS).where(SESSIONS.c.id == row.id).values(last_used_at=moment))
    return WebSession.from_row(row, last_used_at=moment)


def end_session(engine: Engine, session_id: str) -> bool:
    """Delete the session with this id (logout); False if there was none."""
    if not isinstance(session_id, str) or not session_id:
        return False
    with write_transaction(engine) as connection:
        ended = connection.execute(
            delete(SESSIONS).where(SESSIONS.c.session_hash == _session_hash(session_id))
        ).rowcount
    return bool(ended)


def end_token_sessions(connection: Connection, token_id: int) -> int:
    """Delete every session made with ``token_id``, inside the caller's transaction; returns how many."""
    return int(connection.execute(delete(SESSIONS).where(SESSIONS.c.token_id == token_id)).rowcount)


def session_count(engine: Engine, token_id: int | None = None) -> int:
    """How many session rows exist (for one token, or all): for tests and the operator."""
    query = select(SESSIONS.c.id)
    if token_id is not None:
        query = query.where(SESSIONS.c.token_id == token_id)
    with engine.connect() as connection:
        return len(connection.execute(query).all())
