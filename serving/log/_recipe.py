"""The recipes of a decision-log row hash, and why there are two.

Recipe 1 (every revision from 0002 to the one before 0008) hashes every column of the row, the personal
input values and the explanation included. That makes the values impossible to erase: an erased value no
longer hashes to the stored ``row_hash``, and the chain breaks at the first erased row. Storage limitation
(AVG/GDPR art. 5(1)(e)) needs the values gone after the scan's retention period, and the chain intact.

Recipe 2 (revision ``0008_hash_recipe_v2``) seals the personal values first and hashes the seal instead::

    personal_sha256 = sha256_hex(utf8(personal_salt + canonical_json({"explanation": explanation,
                                                                     "inputs": inputs})))
    row_hash        = sha256_hex(utf8(prev_hash + canonical_json(record)))

where ``record`` is every column except ``prev_hash``, ``row_hash``, ``inputs``, ``explanation``,
``personal_salt`` and ``erased_at`` (so it holds ``hash_recipe`` = 2 and ``personal_sha256``), with the
canonical JSON of the package docstring. ``personal_salt`` is 128 random bits per row, as 32 hex digits.

Why a salt: the inputs of a case are a handful of small-domain values (a sector, a contract type, a few
counts). An unsalted SHA-256 of them could be inverted by trying every combination, and an "erased" value
would still be readable from its digest. The salt is erased together with the values, and after that the
digest says nothing about them; while the values are there, anyone can recompute the digest from the row.

A purge sets ``inputs`` to ``{}``, ``explanation`` to ``[]``, ``personal_salt`` to NULL and ``erased_at`` to
the moment of the purge. :meth:`DecisionLog.verify` then checks, per row: an unerased recipe-2 row's values
still hash to its ``personal_sha256`` (an edit of an input is found), an erased row holds nothing, and
``row_hash`` over the remaining fields (an edit of any field that was not erased is found). The database
allows exactly that one UPDATE of a recipe-2 row and refuses every other (triggers of revision 0008).

Rows written under recipe 1 are kept as they are, and are never purged
--------------------------------------------------------------------------
The alternative, rehashing them under recipe 2 in the migration, would rewrite ``row_hash`` of every row
that exists: the chain would then prove only what the migration wrote, and every head hash kept outside
the database (in audit files, anchors, tickets) would stop matching. Evidence is not rewritten. So the
migration records a checkpoint instead (table ``decision_log_recipes``, append-only): the first row id
written under recipe 2, and the number of rows and the head hash before it. ``log verify`` checks the
recipe of every row against it (recipe 1 strictly before the switch, recipe 2 from it on) and that the
chain reaches the switch with exactly the recorded head hash; the first recipe-2 row links to that hash,
so the two parts stay one chain. A purge leaves recipe-1 rows whole and says how many it kept for that
reason. Their values can go only with a new release of the log (a fresh database) after the retention
period of the newest of them, which is an operator's decision, not the purge's.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from typing import Final

from serving.log._fields import CHAIN_FIELDS, ENTRY_FIELDS, PERSONAL_FIELDS

#: The recipe every new row is written under.
CURRENT_RECIPE: Final = 2
#: The fields of the hashed record, per recipe (without ``prev_hash`` and ``row_hash``).
RECIPE_FIELDS: Final[dict[int, tuple[str, ...]]] = {
    1: (*ENTRY_FIELDS, *(name for name in CHAIN_FIELDS if name not in ("prev_hash", "row_hash"))),
    2: (
        *(name for name in ENTRY_FIELDS if name not in PERSONAL_FIELDS),
        "hash_recipe",
        "personal_sha256",
        *(name for name in CHAIN_FIELDS if name not in ("prev_hash", "row_hash")),
    ),
}
SALT_HEX_DIGITS: Final = 32


def new_salts(count: int) -> list[str]:
    """``count`` salts of 128 random bits each, as 32 hex digits, from one ``os.urandom`` call."""
    text = os.urandom(SALT_HEX_DIGITS // 2 * count).hex()
    return [
        text[start : start + SALT_HEX_DIGITS] for start in range(0, SALT_HEX_DIGITS * count, SALT_HEX_DIGITS)
    ]


def personal_text(inputs: str, explanation: str) -> str:
    """The canonical JSON of ``{"explanation": ..., "inputs": ...}`` from the canonical texts of both."""
    return '{"explanation":' + explanation + ',"inputs":' + inputs + "}"


def seal(salt: str, inputs: str, explanation: str) -> str:
    """``personal_sha256`` of a row, from its salt and the canonical texts of its inputs and explanation."""
    return hashlib.sha256((salt + personal_text(inputs, explanation)).encode("utf-8")).hexdigest()


def seals(salts: Iterable[str], inputs: Iterable[str], explanations: Iterable[str]) -> list[str]:
    """:func:`seal` of many rows, in one loop without a call per row (the batch job seals a million)."""
    sha256 = hashlib.sha256
    return [
        sha256(f'{salt}{{"explanation":{explanation},"inputs":{row_inputs}}}'.encode()).hexdigest()
        for salt, row_inputs, explanation in zip(salts, inputs, explanations, strict=True)
    ]
