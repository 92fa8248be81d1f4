"""Tokens as signing identities: the bridge from ``serving``'s tokens to ``models``' gate.

The gate (:mod:`models.gate`) records a committee decision under a :class:`~models.governance.Signatory`,
and a promotion or withdrawal under the admin token's identity (:func:`acting_as`), never a typed name;
``models`` may not import ``serving``, so the pages and the command line resolve a token here and hand
the identity down. A token is never echoed back in a refusal: an unknown token is
named by its position only.
"""

from __future__ import annotations

from collections.abc import Sequence

from models.governance import Signatory
from riskscan.errors import Forbidden, InvalidInput, Unauthenticated
from serving.store import ServingStore
from serving.tokens import TokenRecord


def signatory(record: TokenRecord) -> Signatory:
    """The identity of an authenticated token."""
    return Signatory(record.id, record.name, record.role)


def acting_as(record: TokenRecord) -> str:
    """How a promotion or a withdrawal names who did it (``promoted_by``, ``withdrawn_by``): the token's
    name and id, exactly as a signature names its signer, whether it came from the pages or the command
    line."""
    return str(signatory(record))


def committee_signatories(store: ServingStore, tokens: Sequence[str]) -> list[Signatory]:
    """The identities behind one or two committee tokens, in the order given (the first records the
    decision, the second co-signs it)."""
    if not 1 <= len(tokens) <= 2:
        raise InvalidInput(
            f"--token must be given once or twice (the member who decides, then the one who co-signs), "
            f"got {len(tokens)} token(s)"
        )
    signers = []
    for position, token in enumerate(tokens, start=1):
        record = store.authenticate(token.strip())
        if record is None:
            raise Unauthenticated(f"committee token {position} of {len(tokens)} is unknown or revoked")
        if record.role != "committee":
            raise Forbidden(
                f"token {position} of {len(tokens)} ({record.name}) has role '{record.role}'; "
                "committee decisions are signed with committee tokens"
            )
        signers.append(signatory(record))
    if len(signers) == 2 and signers[0].token_id == signers[1].token_id:
        raise Forbidden(
            f"both tokens are {signers[0]}: a decision takes effect when a second, different member co-signs"
        )
    return signers
