"""The committee and the promotion gate on the command line: ``decide``, ``cosign``, ``promote``, ``withdraw``.

``decide`` is for scripted use; it follows the same rules as the decision form. The decision is recorded
under the identity of a committee *token* (``--token``, or ``RISKSCAN_COMMITTEE_TOKENS``, comma-separated),
never under a typed name; with a second token the second member co-signs it at once, otherwise it waits
for ``riskscan cosign`` or the co-sign page. An ``approve-with-conditions`` takes the audit's proposed
obligations unless ``--obligations FILE`` gives them (a JSON list in ``audit.json``'s shape).

``promote`` and ``withdraw`` are the admin's, as on the pages (``/ui/admin``): they take one admin token
(``--token``, or ``RISKSCAN_TOKEN``) and record its identity as ``promoted_by`` / ``withdrawn_by``, in the
same words the pages record. Another role's token is refused naming the role, a missing one asks for it.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from models.specs import scan_ids
from riskscan.cli._caller import TOKEN_VARIABLE, caller
from riskscan.cli._verb import Outcome, Verb, day
from riskscan.errors import InvalidInput, NotFound

# -- decide and cosign ------------------------------------------------------------------------------------


#: Where ``riskscan decide`` looks for committee tokens when none is given with ``--token``.
COMMITTEE_TOKENS_ENV = "RISKSCAN_COMMITTEE_TOKENS"


def _token_help() -> str:
    return (
        "a committee member's API token (give it twice: the member who decides, then the one who co-signs; "
        f"default: {COMMITTEE_TOKENS_ENV}, comma-separated)"
    )


def _configure_decide(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan", choices=scan_ids(), required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--decision", choices=["approve", "reject", "approve-with-conditions"], required=True)
    parser.add_argument("--token", action="append", default=[], help=_token_help())
    parser.add_argument("--rationale", required=True)
    parser.add_argument("--condition", action="append", default=[], help="a further condition (repeat)")
    parser.add_argument(
        "--obligations",
        type=Path,
        help="JSON list of obligations {check, text_nl, cases_needed, due} (default: the audit's proposal)",
    )
    parser.add_argument("--valid-until", type=day, help="YYYY-MM-DD, at most 12 months ahead; every approval")
    parser.add_argument("--checklist", type=Path, help="YAML file answering the assessment checklist")
    parser.add_argument(
        "--answer",
        action="append",
        default=[],
        metavar="KEY=TEXT",
        help="one checklist answer (repeat); overrides the file",
    )
    parser.add_argument("--demo", action="store_true", help="mark the decision clearly as a demo decision")


def _checklist(args: argparse.Namespace) -> dict[str, str]:
    answers: dict[str, str] = {}
    if args.checklist:
        loaded = _yaml_file(args.checklist, "checklist") or {}
        if not isinstance(loaded, dict):
            raise InvalidInput(f"checklist {args.checklist} must map each question to an answer")
        answers.update({str(k): str(v) for k, v in loaded.items()})
    for item in args.answer:
        key, sep, text = item.partition("=")
        if not sep:
            raise InvalidInput(f"--answer '{item}' must look like KEY=TEXT")
        answers[key.strip()] = text.strip()
    return answers


def _yaml_file(path: Path, what: str) -> Any:
    """The content of a YAML file the user named; a missing or unreadable one is a refusal, not a bug."""
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"{what} {path} does not exist") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{what} {path} is not valid YAML: {exc}") from None


def _tokens(args: argparse.Namespace) -> list[str]:
    given = list(args.token) or [t for t in os.environ.get(COMMITTEE_TOKENS_ENV, "").split(",") if t.strip()]
    if not given:
        raise InvalidInput(
            f"--token is required (or {COMMITTEE_TOKENS_ENV}): decisions are signed with tokens"
        )
    return given


def _obligations(args: argparse.Namespace, decision: str) -> list[Any]:
    from models.gate import latest_audit, today_utc
    from models.governance import obligation_from_dict, proposed_obligations

    if decision != "approve-with-conditions":
        if args.obligations:
            raise InvalidInput(
                f"--obligations given with decision {decision!r}; only with approve-with-conditions"
            )
        return []
    if args.obligations is None:
        _sha, audit, _actual = latest_audit(args.scan, args.version)
        return proposed_obligations(audit, today_utc()) if audit else []
    try:
        items = json.loads(args.obligations.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"obligations {args.obligations} does not exist") from None
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"obligations {args.obligations} is not valid JSON: {exc}") from None
    if not isinstance(items, list):
        raise InvalidInput(
            f"obligations {args.obligations} must hold a JSON list, got {type(items).__name__}"
        )
    return [obligation_from_dict(f"obligations[{i}]", item) for i, item in enumerate(items)]


def decide(args: argparse.Namespace) -> Outcome:
    from models.gate import cosign
    from models.gate import decide as record
    from models.governance import GovernanceStore
    from serving.signing import committee_signatories
    from serving.store import ServingStore

    checklist = _checklist(args)
    signers = committee_signatories(ServingStore(), _tokens(args))
    obligations = _obligations(args, args.decision)
    store = GovernanceStore()
    decision = record(
        store,
        scan=args.scan,
        version=args.version,
        decision=args.decision,
        signer=signers[0],
        rationale=args.rationale,
        checklist=checklist,
        conditions=args.condition,
        obligations=obligations,
        valid_until=args.valid_until,
        demo=args.demo,
    )
    demo = " [DEMO DECISION]" if args.demo else ""
    lines = [
        f"recorded decision {decision.id}{demo}: {args.decision} {args.scan} version {args.version} "
        f"against audit {decision.audit_sha256[:12]}, signed by {signers[0]}"
    ]
    lines += [f"  obligation: {o.text_nl}" for o in obligations]
    if len(signers) == 2:
        cosign(store, decision_id=decision.id, signer=signers[1])
        lines.append(f"  co-signed by {signers[1]}: the decision takes effect")
    else:
        lines.append(
            f"  awaits a second committee member: riskscan cosign --decision {decision.id} --token ..."
        )
    payload = {
        "decision": decision.as_dict(),
        "signatures": [s.as_dict() for s in store.signatures(decision.id)],
    }
    return Outcome(lines, payload)


def _configure_cosign(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--decision", type=int, required=True, help="the id of the decision to co-sign")
    parser.add_argument("--token", action="append", default=[], help=_token_help())


def cosign(args: argparse.Namespace) -> Outcome:
    from models.gate import cosign as record
    from models.governance import GovernanceStore
    from serving.signing import committee_signatories
    from serving.store import ServingStore

    tokens = _tokens(args)
    if len(tokens) != 1:
        raise InvalidInput(f"cosign takes one committee token, got {len(tokens)}")
    [signer] = committee_signatories(ServingStore(), tokens)
    signature = record(GovernanceStore(), decision_id=args.decision, signer=signer)
    return Outcome(
        [f"co-signed decision {args.decision} as {signer}: the decision takes effect"],
        {"signature": signature.as_dict()},
    )


# -- promote and withdraw ---------------------------------------------------------------------------------


def _admin_token(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--token",
        help=f"an admin token; the {what} is recorded under its identity (default: ${TOKEN_VARIABLE})",
    )


def _configure_promote(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan", choices=scan_ids(), required=True)
    parser.add_argument("--version", required=True)
    _admin_token(parser, "promotion")


def promote(args: argparse.Namespace) -> Outcome:
    from models.gate import promote as gate_promote
    from models.governance import GovernanceStore
    from serving.signing import acting_as

    admin = caller(args.token, "promote")
    record = gate_promote(
        GovernanceStore(), scan=args.scan, version=args.version, promoted_by=acting_as(admin)
    )
    previous = (
        f"; previous champion {record.previous_version} is now 'previous'" if record.previous_version else ""
    )
    return Outcome(
        [
            f"riskscan-{args.scan} version {args.version} is champion (decision {record.decision_id}, "
            f"audit {record.audit_sha256[:12]}, promoted by {record.promoted_by}){previous}"
        ],
        {"promotion": record.as_dict()},
    )


def _configure_withdraw(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scan", choices=scan_ids(), required=True)
    parser.add_argument("--reason", required=True)
    _admin_token(parser, "withdrawal")


def withdraw(args: argparse.Namespace) -> Outcome:
    from models.gate import withdraw as gate_withdraw
    from models.governance import GovernanceStore
    from serving.signing import acting_as

    admin = caller(args.token, "promote")  # withdrawing is the admin's, as promoting is (serving.auth)
    record = gate_withdraw(
        GovernanceStore(), scan=args.scan, reason=args.reason, withdrawn_by=acting_as(admin)
    )
    which = f"version {record.version}" if record.version else "no champion was set"
    return Outcome(
        [
            f"withdrew riskscan-{args.scan} ({which}): scoring of '{args.scan}' is blocked until a new promotion",
            f"  reason: {args.reason}",
            f"  withdrawn by {record.withdrawn_by}",
        ],
        {"withdrawal": record.as_dict()},
    )


VERBS = (
    Verb(
        "decide",
        "record the data-ethics committee's decision on an audited version, signed with committee tokens",
        _configure_decide,
        decide,
    ),
    Verb("cosign", "co-sign a committee decision as a second, different member", _configure_cosign, cosign),
    Verb(
        "promote",
        "make an approved, audited version the champion (the promotion gate), with an admin token",
        _configure_promote,
        promote,
    ),
    Verb(
        "withdraw",
        "withdraw a scan's champion and block its scoring, with an admin token",
        _configure_withdraw,
        withdraw,
    ),
)
