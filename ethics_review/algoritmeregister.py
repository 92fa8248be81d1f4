"""The scan's entry in the national Algoritmeregister: the intake API's body, publication standard v1.0.

Every audit writes the entry of the audited version (``algoritmeregister.json``, with a Markdown reading
copy), and ``riskscan register-entry`` exports it for any audited version (the champion by default). The
entry is the body the register's intake API accepts (``AlgorithmIn``, :mod:`ethics_review._algorithm_in`,
which cites MinBZK's sources), and it is validated against that model every time: an entry that does not
validate is a refusal that names the field, never a warning, so nothing unpublishable is attached to a
version.

The text is Dutch and generated, never typed: from the scan spec (name, purpose phrases of its
``publication`` block, capacity, control share, excluded inputs and windows, fairness and monitoring
policy), the feature register (Dutch labels, sources, legal bases, proxy risks, routing) and the audit
(model family, operating point, control-sample figures of both families, verdict, report hash), plus the
governance records (promotion, withdrawal, committee decision). A changed spec or register therefore
changes the entry, and an entry for an audit of another spec or register is refused.

* ``status`` follows the version's alias and the withdrawals: never promoted is "In ontwikkeling"; the
  champion of a scan that is not withdrawn is "In gebruik" since the month of its promotion; a version that
  was champion and was withdrawn or replaced is "Buiten gebruik", until the month that happened.
* ``publication_category`` is "Hoog-risico AI-systeem", and ``risks`` says why: a self-learning system that
  a public authority uses to decide whether people keep a benefit and to refuse, reduce or reclaim it is
  listed in the AI Act, annex III, point 5(a); because the scan profiles people, the exception of article
  6(3) does not apply.
"""

from __future__ import annotations

import html
import json
import re
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ethics_review._algorithm_in import AlgorithmIn, strip_html
from ethics_review._register_text import Lifecycle, build_entry
from features.register import FeatureRegister, default_register
from models import registry
from models.governance import GovernanceStore
from models.specs import ScanSpec, load_spec
from riskscan.errors import InvalidInput, NotFound, Problem, Refusal

__all__ = [
    "AlgorithmIn",
    "Lifecycle",
    "build_entry",
    "draft_for_audit",
    "entry_for_version",
    "lifecycle",
    "markdown",
    "validate_entry",
]


# -- the version's place in its life cycle --------------------------------------------------------------


def _month(moment: datetime) -> str:
    return f"{moment.year:04d}-{moment.month:02d}"


def lifecycle(scan: str, version: str, store: GovernanceStore) -> Lifecycle:
    """The version's status from its alias and the governance records (see the module docstring)."""
    version = str(version)
    promotions = store.promotions(scan)
    own = [p for p in promotions if p.version == version]
    decision = store.current_decision(scan, version)
    if not own:
        return Lifecycle("In ontwikkeling", None, None, decision)
    begin = _month(own[0].created_at)
    champion = registry.version_by_alias(scan, registry.CHAMPION)
    if champion is not None and str(champion.version) == version and store.active_withdrawal(scan) is None:
        return Lifecycle("In gebruik", begin, None, decision)
    last = own[-1].created_at
    ends = [w.created_at for w in store.withdrawals(scan) if w.version == version and w.created_at >= last]
    ends += [p.created_at for p in promotions if p.version != version and p.created_at > last]
    return Lifecycle("Buiten gebruik", begin, _month(min(ends)) if ends else None, decision)


# -- validation and the two ways an entry is made -------------------------------------------------------


def validate_entry(entry: dict[str, Any], what: str) -> dict[str, Any]:
    """``entry`` if ``AlgorithmIn`` accepts it; otherwise a refusal naming every field that fails."""
    try:
        AlgorithmIn.model_validate(entry)
    except ValidationError as exc:
        problems = [
            Problem(
                ".".join(str(p) for p in error["loc"]) or "<entry>",
                _shown(error.get("input")),
                error["msg"].removeprefix("Value error, "),
            )
            for error in exc.errors()
        ]
        lines = "\n  - ".join(f"{p.column}: {p.expected} (value {p.value!r})" for p in problems)
        raise InvalidInput(
            f"the Algoritmeregister entry of {what} does not meet publication standard 1.0 (AlgorithmIn), so it "
            f"cannot be published; fix the spec or register text it is generated from:\n  - {lines}",
            problems,
        ) from None
    return entry


def _shown(value: Any) -> Any:
    """A failing value as a refusal quotes it: long text shortened, counted without HTML."""
    if isinstance(value, str) and len(value) > 80:
        return f"{strip_html(value)[:60]}... ({len(strip_html(value))} tekens zonder HTML)"
    return value


def draft_for_audit(
    audit: dict[str, Any],
    spec: ScanSpec,
    register: FeatureRegister | None = None,
    store: GovernanceStore | None = None,
) -> dict[str, Any]:
    """The validated entry of the version an audit describes, as the audit writes it."""
    register = register or default_register()
    store = store or GovernanceStore()
    life = lifecycle(audit["scan"], str(audit["version"]), store)
    what = f"{audit['model_name']} version {audit['version']}"
    return validate_entry(build_entry(audit, spec, register, life), what)


def entry_for_version(
    scan: str,
    version: str | None = None,
    *,
    register: FeatureRegister | None = None,
    store: GovernanceStore | None = None,
) -> tuple[str, dict[str, Any]]:
    """The validated entry of ``version`` (default: the champion) from its latest audit; returns the version
    and the entry. Refused when there is no such version or audit, or when the spec or the register changed
    since the audit (the entry would describe something the committee did not review)."""
    register = register or default_register()
    if version is None:
        champion = registry.version_by_alias(scan, registry.CHAMPION)
        if champion is None:
            raise NotFound(
                f"{registry.model_name(scan)} has no champion; name an audited version with --version"
            )
        version = str(champion.version)
    mv = registry.get_version(scan, version)
    with tempfile.TemporaryDirectory() as tmp:
        path = registry.download_audit_file(scan, version, "audit.json", Path(tmp))
        if path is None:
            raise Refusal(
                f"{registry.model_name(scan)} version {version} has not been audited; the entry is generated from "
                f"its audit: run 'riskscan audit --scan {scan} --version {version}' first"
            )
        audit = json.loads(path.read_text(encoding="utf-8"))
    audit["report_sha256"] = mv.tags.get("audit_sha256", "")
    spec = load_spec(scan, register)
    for name, now, then in (
        ("scan spec", spec.content_hash, audit.get("spec_hash")),
        ("feature register", register.content_hash, audit.get("register_hash")),
    ):
        if now != then:
            raise Refusal(
                f"the {name} changed since the audit of {registry.model_name(scan)} version {version} "
                f"({str(then)[:12]} then, {now[:12]} now); re-audit the version so the entry describes what "
                "the committee reviews"
            )
    return version, draft_for_audit(audit, spec, register, store)


_FIELD_TITLES = {
    "description_short": "Korte omschrijving",
    "organization": "Organisatie",
    "category": "Thema",
    "status": "Status",
    "begin_date": "Begindatum",
    "end_date": "Einddatum",
    "contact_email": "Contactgegevens",
    "publication_category": "Publicatiecategorie",
    "goal": "Doel en impact",
    "proportionality": "Afwegingen",
    "human_intervention": "Menselijke tussenkomst",
    "risks": "Risicobeheer",
    "lawful_basis": "Wettelijke basis",
    "lawful_basis_grouping": "Verwijzingen wettelijke basis",
    "impacttoetsen_grouping": "Impacttoetsen",
    "impacttoetsen": "Toelichting op impacttoetsen",
    "source_data": "Gegevens",
    "methods_and_models": "Technische werking",
    "provider": "Leverancier",
    "source_id": "Bron-ID",
    "tags": "Zoektermen",
}


def markdown(entry: dict[str, Any]) -> str:
    """A reading copy of the entry in Markdown, with the register's Dutch field titles."""
    lines = [
        f"# Algoritmeregister: {entry['name']}",
        "",
        "*Publicatiestandaard 1.0, gegenereerd; niet bewerken.*",
        "",
    ]
    for key, title in _FIELD_TITLES.items():
        value = entry.get(key)
        if value is None:
            continue
        if isinstance(value, list):
            text = "\n".join(
                f"- {v['title']}" + (f" ({v['link']})" if v.get("link") else "")
                if isinstance(v, dict)
                else f"- {v}"
                for v in value
            )
        else:
            text = re.sub(r"</p>|</li>", "\n", re.sub(r"<li>", "- ", str(value)))
            text = html.unescape(re.sub(r"<[^>]+>", "", text))
        lines += [f"## {title}", "", text.strip(), ""]
    return "\n".join(lines)
