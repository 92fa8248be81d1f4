"""Rulings that a source column is unlawful: the table, the record, and the rules for recording one.

A ruling is evidence like a committee decision: appended once per column (revision
``0007_unlawful_rulings``: UNIQUE on the column, triggers that refuse UPDATE and DELETE, a hash chain), tied to the
identity of the committee or admin token that recorded it (its id and name, resolved by the caller from
the token; this package imports no serving code and never sees the token itself).

From the moment a ruling is recorded the register treats the column as ``forbidden``
(:meth:`features.register.FeatureRegister.with_rulings`, read through :func:`ruled_register`) and the
promotion gate refuses every version that uses it (:func:`models.gate.check_promotion`). The rest of the
cascade (withdrawal, halted investigations, re-examination tasks) is :mod:`serving.cascade`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy import CheckConstraint, Integer, String, Table, Text, UniqueConstraint, select
from sqlalchemy.orm import Mapped, mapped_column

from features.register import FeatureRegister, Role
from riskscan.chain import Chain, ChainedRow
from riskscan.db import KEY_LENGTH, NAME_LENGTH, Base, Record, text_field
from riskscan.errors import Conflict, InvalidInput, NotFound


class UnlawfulRuling(ChainedRow, Base):
    """A ruling that a register column is unlawful (revision 0007). ``ruled_by_token_id`` cites
    ``api_tokens.id`` in the database; the foreign key is left out here because the tokens table belongs
    to the serving stage, which this package may not import."""

    __tablename__ = "unlawful_rulings"

    column_name: Mapped[str] = mapped_column(String(KEY_LENGTH))
    reason: Mapped[str] = mapped_column(Text)
    ruled_by_token_id: Mapped[int] = mapped_column(Integer)
    ruled_by: Mapped[str] = mapped_column(String(NAME_LENGTH))

    __table_args__ = (
        CheckConstraint("length(trim(column_name)) > 0", name="column_name"),
        CheckConstraint("length(trim(reason)) > 0", name="reason"),
        CheckConstraint("length(trim(ruled_by)) > 0", name="ruled_by"),
        UniqueConstraint("column_name", name="column_name"),
        {"sqlite_autoincrement": True},
    )


RULINGS: Final[Table] = UnlawfulRuling.__table__  # type: ignore[assignment]
#: The rulings' hash chain (:mod:`riskscan.chain`): a ruling edited or removed with the triggers dropped
#: still shows in ``riskscan log verify``.
RULING_CHAIN: Final = Chain(
    RULINGS, fields=("column_name", "reason", "ruled_by_token_id", "ruled_by", "created_at")
)


@dataclass(frozen=True)
class RulingRecord(Record):
    """A column ruled unlawful: which, why, by which token (id and name), when."""

    id: int
    column_name: str
    reason: str
    ruled_by_token_id: int
    ruled_by: str
    created_at: datetime

    @property
    def forbidden_reason(self) -> str:
        """The ruling as the register's ``forbidden_reason`` reads it."""
        return f"ruled unlawful on {self.created_at:%Y-%m-%d} by {self.ruled_by} (ruling {self.id}): {self.reason}"

    @property
    def sentence(self) -> str:
        """The ruling as a refusal names it."""
        return f"ruling {self.id} of {self.created_at:%Y-%m-%d}"


def checked_ruling(register: FeatureRegister, column: object, reason: object) -> tuple[str, str]:
    """The column and reason of a new ruling, or a refusal naming the field and the value.

    A column the register does not hold, or already holds as ``forbidden`` (by the reviewed file), cannot
    be ruled: there is nothing to rule. A ruling without a reason is refused: the people re-examined are
    owed the reason.
    """
    name = text_field("column", column)
    if name not in register:
        raise NotFound(f"column {name!r} is not in the feature register; a ruling names a register column")
    if register[name].role is Role.FORBIDDEN:
        raise Conflict(
            f"column {name!r} is already forbidden in the register ({register[name].forbidden_reason}); "
            "a ruling names a column that is still in use"
        )
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput(f"reason must be non-empty text saying why {name!r} is unlawful, got {reason!r}")
    return name, reason.strip()


def ruling_row(
    column: str, reason: str, token_id: object, token_name: object, created_at: datetime
) -> dict[str, object]:
    """The row of a new ruling, its identity checked (a token's id and name, never a typed name)."""
    if isinstance(token_id, bool) or not isinstance(token_id, int):
        raise InvalidInput(f"ruled_by_token_id must be a token id (an integer), got {token_id!r}")
    return {
        "column_name": column,
        "reason": reason,
        "ruled_by_token_id": token_id,
        "ruled_by": text_field("ruled_by", token_name, max_length=NAME_LENGTH),
        "created_at": created_at,
    }


SELECT_RULINGS = select(RULINGS).order_by(RULINGS.c.id)


def rulings_by_column(rulings: list[RulingRecord]) -> Mapping[str, str]:
    """Column -> the ruling in words, as :meth:`FeatureRegister.with_rulings` takes them."""
    return {ruling.column_name: ruling.forbidden_reason for ruling in rulings}
