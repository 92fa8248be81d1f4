"""What ``log verify`` checks on a decision-log row beyond its link and hash: its recipe, seal and erasure.

:data:`serving.log._chain.LOG_CHAIN` hands :meth:`RecipeChecks.read` to :class:`riskscan.chain.Chain` as
its ``row_checks``: at the start of a verification it reads revision 0008's checkpoint (table
``decision_log_recipes``), then checks every row against it (recipe 1 strictly before the switch, recipe 2
from it on, the chain reaching the switch with exactly the recorded head) and the seal of every recipe-2
row (:mod:`serving.log._recipe` says why there are two recipes). After the last row it checks that the log
still has the rows the checkpoint counted before the switch: a tail removed before any recipe-2 row was
written is found without an anchor.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Row, select

from serving.log._encode import personal_sha256
from serving.log._tables import RECIPES


class RecipeChecks:
    """The recipe, seal and erasure checks of one verification (:class:`riskscan.chain.RowChecks`)."""

    def __init__(self, switch: Row[Any] | None) -> None:
        self._switch = switch
        self._erased = 0

    @classmethod
    def read(cls, connection: Connection) -> RecipeChecks:
        """The checks against the checkpoint of the switch to recipe 2 (none before revision 0008)."""
        return cls(connection.execute(select(RECIPES).where(RECIPES.c.hash_recipe == 2)).first())

    def problem(self, values: Mapping[Any, Any], prev_id: int, prev_hash: str) -> str | None:
        """What is wrong with a row's recipe, seal or erasure, or None."""
        switch, row_id, recipe = self._switch, values["id"], values["hash_recipe"]
        expected = 1 if switch is None or row_id < switch.first_id else 2
        if recipe != expected:
            return (
                f"hash recipe {recipe} where recipe {expected} was due: the checkpoint of revision 0008 puts "
                + (
                    "the switch to recipe 2 at row " + str(switch.first_id)
                    if switch
                    else "no row under recipe 2"
                )
            )
        if (
            switch is not None
            and row_id == switch.first_id
            and (prev_id, prev_hash) != (switch.rows_before, switch.head_hash_before)
        ):
            return (
                f"the chain reaches the switch to hash recipe 2 after {prev_id} row(s) with head hash "
                f"{prev_hash}, but the checkpoint recorded {switch.rows_before} row(s) and "
                f"{switch.head_hash_before}"
            )
        if recipe == 1:
            if any(values[name] is not None for name in ("personal_sha256", "personal_salt", "erased_at")):
                return "a recipe-1 row carries a seal or an erasure, which only recipe-2 rows have"
            return None
        return _seal_problem(values)

    def passed(self, values: Mapping[Any, Any]) -> None:
        """Count the verified rows whose personal values a purge erased."""
        self._erased += values["erased_at"] is not None

    def end(self, head_id: int | None) -> str | None:
        """The log must still hold the rows the checkpoint counted before the switch to recipe 2."""
        rows = head_id or 0
        if self._switch is not None and rows < self._switch.rows_before:
            return (
                f"rows removed: the log ends at row {rows}, but the checkpoint of the switch to hash "
                f"recipe 2 recorded {self._switch.rows_before} row(s) before it"
            )
        return None

    def facts(self) -> dict[str, int | None]:
        """``erased_rows`` (verified rows a purge erased) and ``recipe_2_from`` (the first recipe-2 row id,
        None before revision 0008)."""
        return {
            "erased_rows": self._erased,
            "recipe_2_from": None if self._switch is None else int(self._switch.first_id),
        }


def _seal_problem(values: Mapping[Any, Any]) -> str | None:
    """A recipe-2 row: unerased, its values still hash to its seal; erased, it holds nothing any more."""
    salt, erased_at = values["personal_salt"], values["erased_at"]
    if erased_at is not None:
        if salt is not None or values["inputs"] != {} or values["explanation"] != []:
            return f"erased at {erased_at.isoformat()} but still holds personal values or their salt"
        return None
    if (
        salt is None
        or personal_sha256(salt, values["inputs"], values["explanation"]) != values["personal_sha256"]
    ):
        return (
            "personal values changed: inputs and explanation no longer match the row's personal_sha256; "
            "the row was changed after it was written"
        )
    return None
