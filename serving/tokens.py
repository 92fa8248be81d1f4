"""API tokens: made once, shown once, stored as the SHA-256 of the token only, revoked for good.

A token is never edited or deleted: taking one out of use is a row in ``token_revocations`` (at most one
per token), and both tables are append-only in the database (revision ``0002_serving``), so the list of
who could call the service, and until when, is evidence too. Checking a request's token and role is
:mod:`serving.auth`'s business; this module only keeps the records.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
    CheckConstraint,
    Engine,
    ForeignKeyConstraint,
    Integer,
    Select,
    String,
    Table,
    Text,
    UniqueConstraint,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from riskscan.db import NAME_LENGTH, Base, Record, UTCDateTime, text_field, write_transaction
from riskscan.errors import Conflict, InvalidInput, NotFound
from serving.sessions import end_token_sessions

#: ``systeem`` is the case-management system calling ``POST /score`` (revision 0005): a machine, not a
#: person, and the only role besides ``admin`` that sees a score, the threshold and the control flag.
ROLES: Final = ("handhaving", "committee", "retrain", "admin", "systeem")
TOKEN_PREFIX: Final = "rs_"


class ApiTokenRow(Base):
    """An API token, stored as the SHA-256 of the token only (revision 0002; role ``systeem`` from 0005)."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("length(trim(name)) > 0", name="name"),
        CheckConstraint("role IN ('handhaving', 'committee', 'retrain', 'admin', 'systeem')", name="role"),
        UniqueConstraint("token_hash", name="token_hash"),
        {"sqlite_autoincrement": True},
    )


class TokenRevocationRow(Base):
    """A token taken out of use: a new row, at most one per token (revision 0002)."""

    __tablename__ = "token_revocations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_id: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("length(trim(reason)) > 0", name="reason"),
        UniqueConstraint("token_id", name="token_id"),
        ForeignKeyConstraint(["token_id"], ["api_tokens.id"], name="token_id"),
        {"sqlite_autoincrement": True},
    )


_TOKENS: Final[Table] = ApiTokenRow.__table__  # type: ignore[assignment]
_REVOCATIONS: Final[Table] = TokenRevocationRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class TokenRecord(Record):
    """An API token without its secret: the store keeps only the SHA-256 of the token."""

    id: int
    name: str
    role: str
    created_at: datetime
    revoked_at: datetime | None = None
    revocation_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def as_dict(self) -> dict[str, Any]:
        """The fields, with ``active`` before the revocation it depends on."""
        fields = list(Record.as_dict(self).items())
        at = [name for name, _value in fields].index("revoked_at")
        return dict([*fields[:at], ("active", self.active), *fields[at:]])


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _token_query() -> Select[Any]:
    return select(
        _TOKENS,
        _REVOCATIONS.c.created_at.label("revoked_at"),
        _REVOCATIONS.c.reason.label("revocation_reason"),
    ).select_from(_TOKENS.outerjoin(_REVOCATIONS, _REVOCATIONS.c.token_id == _TOKENS.c.id))


def create_token(
    engine: Engine, now: Callable[[], datetime], *, name: str, role: str
) -> tuple[str, TokenRecord]:
    """A new token for ``role``. The plain token is returned here, once; the store keeps its SHA-256."""
    name = text_field("name", name, NAME_LENGTH)
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(map(repr, ROLES))}, got {role!r}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with write_transaction(engine) as connection:
        row = {"name": name, "role": role, "token_hash": _token_hash(token), "created_at": now()}
        token_id = connection.execute(insert(_TOKENS).returning(_TOKENS.c.id), row).scalar_one()
    return token, TokenRecord.from_row({**row, "id": token_id}, revoked_at=None, revocation_reason=None)


def authenticate(engine: Engine, token: str) -> TokenRecord | None:
    """The token's record, or None for an unknown or revoked token."""
    if not isinstance(token, str) or not token:
        return None
    digest = _token_hash(token)
    with engine.connect() as connection:
        row = connection.execute(_token_query().where(_TOKENS.c.token_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    record = TokenRecord.from_row(row)
    return record if record.active else None


def _token_id_field(token_id: object) -> int:
    if isinstance(token_id, bool) or not isinstance(token_id, int):
        raise InvalidInput(f"token_id must be an integer, got {token_id!r}")
    return token_id


def active_token(engine: Engine, token_id: int) -> TokenRecord | None:
    """The record of the token with this id, or None when there is none or it is revoked (a page session
    holds the token's id, never the token)."""
    token_id = _token_id_field(token_id)
    with engine.connect() as connection:
        row = connection.execute(_token_query().where(_TOKENS.c.id == token_id)).first()
    record = None if row is None else TokenRecord.from_row(row)
    return record if record is not None and record.active else None


def revoke_token(engine: Engine, now: Callable[[], datetime], token_id: int, reason: str) -> None:
    """Take a token out of use, for good: a revocation row, never an edit. Every page session opened with
    the token ends in the same transaction."""
    token_id = _token_id_field(token_id)
    reason = text_field("reason", reason)
    with write_transaction(engine) as connection:
        row = connection.execute(_token_query().where(_TOKENS.c.id == token_id)).first()
        if row is None:
            raise NotFound(f"no API token with id {token_id}")
        if row.revoked_at is not None:
            raise Conflict(f"API token {token_id} ({row.name!r}) is already revoked")
        connection.execute(
            insert(_REVOCATIONS), {"token_id": token_id, "reason": reason, "created_at": now()}
        )
        end_token_sessions(connection, token_id)


def tokens(engine: Engine) -> list[TokenRecord]:
    """Every token ever made, revoked ones included, oldest first."""
    with engine.connect() as connection:
        return [
            TokenRecord.from_row(row) for row in connection.execute(_token_query().order_by(_TOKENS.c.id))
        ]
