"""The Dutch text of an Algoritmeregister entry, generated from the spec, the register and the audit.

Private to :mod:`ethics_review.algoritmeregister`, which validates what :func:`build_entry` returns and
documents the rules. Text placed in the rich fields (the ones that allow ``p``, ``ul`` and ``li``) is
HTML-escaped; the register counts its length without the tags.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ethics_review._algorithm_in import Status
from ethics_review._summary import VERDICTS_NL
from features.pipeline import ROUTING_DESTINATION
from features.register import Column, FeatureRegister
from models.governance import DecisionRecord
from models.specs import ScanSpec
from riskscan import fmt

#: The organisation as the government's organisation list (TOOI) names it.
ORGANISATION = "Uitvoeringsinstituut Werknemersverzekeringen"
#: A general contact point, never a person ([S] help text); UWV's privacy officer may set a better one.
CONTACT = "https://www.uwv.nl"
CATEGORIES = ["Sociale zekerheid", "Werk"]
SOURCE_CODE = "riskscan (features/, training/, models/, ethics_review/, serving/)"
#: Laws a legal basis may name, with their official text. Only these become ``lawful_basis_grouping`` links.
LAWS: tuple[tuple[str, str, str], ...] = (
    (r"\bWW\b", "Werkloosheidswet (WW)", "https://wetten.overheid.nl/BWBR0004045"),
    (
        r"\bWet SUWI\b",
        "Wet structuur uitvoeringsorganisatie werk en inkomen (Wet SUWI)",
        "https://wetten.overheid.nl/BWBR0013060",
    ),
    (r"\bWet BRP\b", "Wet basisregistratie personen (Wet BRP)", "https://wetten.overheid.nl/BWBR0033715"),
    (
        r"\bAVG\b",
        "Algemene verordening gegevensbescherming (AVG)",
        "https://eur-lex.europa.eu/eli/reg/2016/679/oj",
    ),
    (
        r"\bAI-verordening\b",
        "AI-verordening (EU) 2024/1689",
        "https://eur-lex.europa.eu/eli/reg/2024/1689/oj",
    ),
)
_DECISION_NL = {
    "approve": "goedgekeurd",
    "approve-with-conditions": "goedgekeurd onder voorwaarden",
    "reject": "afgewezen",
}
_FAMILY_NL = {
    "lightgbm": "gradient boosted beslisbomen (LightGBM)",
    "logistic": "logistische regressie, een model waarvan elk gewicht leesbaar is",
}
_MONTHS_NL = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
]


@dataclass(frozen=True)
class Lifecycle:
    """Where a version stands: the register's status, its months of use, and the committee's decision."""

    status: Status
    begin_date: str | None  # YYYY-MM of its first promotion
    end_date: str | None  # YYYY-MM of its withdrawal or replacement
    decision: DecisionRecord | None


# -- Dutch text from the spec, the register and the audit ------------------------------------------------


def _e(text: object) -> str:
    return html.escape(str(text), quote=False)


def _p(*sentences: str) -> str:
    return "<p>" + " ".join(s for s in sentences if s) + "</p>"


def _ul(items: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"


def _day(value: Any) -> str:
    return f"{value.day} {_MONTHS_NL[value.month - 1]} {value.year}"


def _labels(columns: Iterable[Column]) -> str:
    return ", ".join(c.label for c in columns)


def _pct(estimate: dict[str, Any] | None) -> str:
    """A share with its 95% interval: ``15,2% (4,2–36,6%)``, or "onbepaald"."""
    if not estimate or not fmt.is_number(estimate.get("estimate")):
        return fmt.UNDEFINED["nl"]
    text = fmt.percent(estimate["estimate"], lang="nl")
    if fmt.is_number(estimate.get("low")) and fmt.is_number(estimate.get("high")):
        text += f" ({fmt.span(estimate['low'], estimate['high'], 1, as_percent=True, lang='nl')})"
    return text


def _times(estimate: dict[str, Any] | None) -> str:
    if not estimate or not fmt.is_number(estimate.get("estimate")):
        return fmt.UNDEFINED["nl"]
    text = fmt.number(estimate["estimate"], 1, lang="nl")
    if fmt.is_number(estimate.get("low")) and fmt.is_number(estimate.get("high")):
        text += f" ({fmt.span(estimate['low'], estimate['high'], 1, lang='nl')})"
    return text


@dataclass(frozen=True)
class _Facts:
    """What the entry's sentences are made of, gathered once."""

    audit: dict[str, Any]
    spec: ScanSpec
    register: FeatureRegister
    life: Lifecycle

    @property
    def inputs(self) -> list[Column]:
        return [self.register[name] for name in self.audit["inputs"]]

    @property
    def family(self) -> str:
        return str(self.audit.get("model_family", "lightgbm"))

    @property
    def subject(self) -> str:
        return self.spec.publication.subject

    def comparison(self, role: str) -> dict[str, Any] | None:
        figures = (self.audit.get("family_comparison") or {}).get(role)
        return figures if isinstance(figures, dict) else None

    def figures(self, role: str) -> str:
        found = self.comparison(role)
        if found is None:
            return "niet berekend voor deze versie"
        return (
            f"{_pct(found.get('precision_at_op'))} van de selecties leidde tot een maatregel, "
            f"{_times(found.get('lift'))} keer zo vaak als bij willekeurige selectie"
        )


def _goal(f: _Facts) -> str:
    op, spec = f.audit["operating_point"], f.spec
    label = f.register.label_for_scan(spec.id).label.lower()
    parts = [
        _p(
            f"{_e(spec.name)} helpt UWV de beperkte capaciteit voor handhaving te richten. Het algoritme schat voor",
            f"{_e(f.subject)} de kans dat na onderzoek een {_e(label)} wordt opgelegd, en selecteert de",
            f"{_e(f.subject)} met de hoogste kans voor {_e(spec.publication.selected_for)}.",
        ),
        _p(
            f"Impact: het algoritme selecteert ongeveer {fmt.percent(op['flag_fraction'], lang='nl')} van de",
            f"{_e(f.subject)}, zodat het aantal signalen past bij {op['capacity_per_week']} onderzoeken per week.",
            f"Daarnaast wordt {fmt.percent(spec.random_control_share, lang='nl')} willekeurig geselecteerd (de",
            "controlesteekproef), om te meten of het algoritme beter selecteert dan het toeval. Een selectie is geen",
            "besluit en geen verdenking: een medewerker onderzoekt het dossier en hoort de betrokkene voordat over",
            "een maatregel wordt beslist. Wie niet wordt geselecteerd, merkt niets van het algoritme.",
        ),
    ]
    for column in f.register.routing_columns(spec.id):
        destination = ROUTING_DESTINATION.get(spec.id, "handmatige beoordeling")
        parts.append(
            _p(f"Wie {_e(column.label)} is, wordt niet gescoord: een {_e(destination)} beoordeelt hen.")
        )
    return "".join(parts)


def _proportionality(f: _Facts) -> str:
    excluded = [f.register[e.name] for e in f.spec.excluded_features if e.name in f.register]
    proxies = [c for c in excluded if c.proxy_risk == "high"]
    groups = [f.register[g] for g in f.spec.fairness.groups]
    other = f.comparison("other")
    other_family = _FAMILY_NL.get(str(other.get("family")), "het andere modeltype") if other else ""
    choice = (
        "Deze versie is dat leesbare model: de Commissie Data Ethiek koos voor uitlegbaarheid."
        if f.family == "logistic"
        else "Bij elke training wordt het leesbare alternatief berekend, zodat de commissie ziet wat de keuze "
        "voor beslisbomen oplevert of kost."
    )
    return "".join(
        [
            _p(
                f"UWV kan niet alle {_e(f.subject)} onderzoeken. Op de willekeurige controlesteekproef van de",
                f"testmaanden {f.audit['data']['test_start']} tot en met {f.audit['data']['test_end']} geldt voor",
                f"dit model: {f.figures('this')} (95%-intervallen tussen haakjes). Met dezelfde capaciteit worden",
                "zo meer terechte onderzoeken gedaan en minder mensen onnodig onderzocht.",
            ),
            _p(f"Alternatief, {_e(other_family)}: {f.figures('other')}.", choice) if other else "",
            _p(
                f"Bewust niet gebruikt, hoewel het kenmerkenregister ze toestaat: {_e(_labels(excluded))}.",
                f"Hiervan kunnen er {len(proxies)} volgens het register sterk samenhangen met nationaliteit of",
                "migratieachtergrond (proxy) of met eerdere controle-intensiteit.",
                f"{_e(_labels(groups))} zijn nooit invoer; ze dienen alleen om in audits groepen te vergelijken.",
            ),
        ]
    )


def _human_intervention(f: _Facts) -> str:
    method = (
        "exacte TreeSHAP-waarden"
        if f.family == "lightgbm"
        else "gewicht maal het verschil tussen de waarde en het gemiddelde in de trainingsgegevens"
    )
    return "".join(
        [
            _p(
                "Het algoritme beslist niets. Elk signaal gaat naar een medewerker handhaving, die het dossier",
                "onderzoekt, de beoordeling en de vervolgactie vastlegt en pas na hoor en wederhoor over een",
                "maatregel beslist.",
            ),
            _p(
                "Bij elk signaal ziet de medewerker welke kenmerken de score het sterkst verhoogden of verlaagden,",
                f"in gewone woorden. Die bijdragen zijn exact berekend ({method}): samen met de basiswaarde",
                "tellen ze precies op tot de uitkomst van het model.",
            ),
            _p(
                "Een modelversie wordt pas gebruikt na een audit en een besluit van de Commissie Data Ethiek over",
                "precies die audit. Een versie kan worden ingetrokken; daarna wordt niet meer gescoord tot een",
                "nieuwe versie is goedgekeurd. Elke score wordt met de modelversie en de uitleg vastgelegd in een",
                "logboek dat niet ongemerkt kan worden gewijzigd (hashketen).",
            ),
        ]
    )


def _risks(f: _Facts) -> str:
    policy, summary, monitoring = f.spec.fairness, f.audit["summary"], f.spec.monitoring
    groups = [f.register[g] for g in policy.groups]
    windows = "; ".join(f"{_day(w.start)} tot {_day(w.end)}" for w in f.spec.excluded_windows) or "geen"
    low, high = policy.ratio_band
    return "".join(
        [
            _p(
                "Publicatiecategorie hoog-risico AI-systeem: het algoritme is zelflerend (getraind op eerdere",
                "onderzoeken) en wordt door een overheidsorgaan gebruikt bij de beoordeling of mensen recht houden",
                "op een uitkering en bij het weigeren, verlagen of terugvorderen ervan: AI-verordening (EU)",
                "2024/1689, bijlage III, punt 5, onder a. Omdat het algoritme personen profileert, geldt de",
                "uitzondering van artikel 6, lid 3, niet.",
            ),
            _p(
                f"Audit van deze versie ({str(f.audit['audited_at'])[:10]}): {VERDICTS_NL[f.audit['verdict']]}",
                f"({summary['pass']} toetsen voldoen, {summary['fail']} voldoen niet,",
                f"{summary['insufficient_evidence']} met onvoldoende bewijs). Gemeten per {_e(_labels(groups))},",
                f"met {fmt.percent(policy.ci_level, 0, lang='nl')}-intervallen en minimaal {policy.min_group_size}",
                "personen per groep; een verhouding tot de referentiegroep buiten",
                f"{fmt.span(low, high, 2, lang='nl')} telt als afwijking. Ook is getoetst of invoerkenmerken, los",
                "of samen, nationaliteit of migratieachtergrond benaderen, en of signalen veranderen als alleen zo'n",
                "kenmerk verandert.",
            ),
            _p(
                "Bekende risico's in de gegevens: er zijn alleen uitkomsten van onderzochte zaken, en eerder onderzoek",
                "was niet willekeurig verdeeld. Het model leert daarom met gewichten voor de kans om onderzocht te",
                "worden en wordt beoordeeld op de willekeurige controlesteekproef. Periodes zonder betrouwbare",
                f"uitkomsten zijn uitgesloten: {windows}.",
            ),
            _p(
                "In gebruik wordt bewaakt: verschuiving van invoer en scores (PSI-drempel",
                f"{fmt.number(monitoring.psi_retrain, 2, lang='nl')}), het aandeel beoordeelde zaken met hoor en",
                f"wederhoor (minimaal {fmt.percent(monitoring.min_hoor_en_wederhoor, 0, lang='nl')}), het aandeel",
                f"signalen zonder beoordeling (hoogstens {fmt.percent(monitoring.max_unassessed_share, 0, lang='nl')})",
                "en de selectie per groep. Bij een overschrijding beoordeelt de commissie de scan opnieuw.",
            ),
        ]
    )


def _lawful_basis(f: _Facts) -> str:
    label = f.register.label_for_scan(f.spec.id)
    by_basis: dict[str, list[str]] = {}
    for column in [*f.inputs, label]:
        by_basis.setdefault(column.legal_basis, []).append(column.label)
    gating = [f.register[a] for a in f.spec.fairness.proxy.gating_attributes if a in f.register]
    return "".join(
        [
            _p(
                "Het algoritme ondersteunt de handhaving van de WW door UWV. De grondslagen van de gegevens,",
                "volgens het kenmerkenregister:",
            ),
            _ul(f"{_e(basis)}: {_e(', '.join(labels))}" for basis, labels in by_basis.items()),
            *(_p(f"{_e(c.label)}: {_e(c.legal_basis)}") for c in gating),
        ]
    )


def _law_links(texts: Sequence[str]) -> list[dict[str, str]]:
    joined = " ".join(texts)
    return [{"title": title, "link": link} for pattern, title, link in LAWS if re.search(pattern, joined)]


def _impact_assessments(f: _Facts) -> tuple[str, list[dict[str, str]]]:
    sha = str(f.audit.get("report_sha256", ""))[:12]
    audit_title = (
        f"Fairness- en proxy-audit {f.audit['model_name']} versie {f.audit['version']} (rapport {sha})"
    )
    decision = f.life.decision
    if decision is None:
        ruling = "De Commissie Data Ethiek heeft nog geen besluit over deze versie genomen."
    else:
        ruling = (
            f"Besluit van de Commissie Data Ethiek op {_day(decision.created_at)}: {_DECISION_NL[decision.decision]}"
            + (f", geldig tot {_day(decision.valid_until)}" if decision.valid_until else "")
            + (" (demonstratiebesluit, geen echte toetsing)" if decision.demo else "")
            + ("." if decision.audit_sha256[:12] == sha else "; het besluit betreft een eerdere audit.")
        )
    text = "".join(
        [
            _p(
                f"{_e(audit_title)}: groepsvergelijkingen met intervallen, een proxy-scan en een",
                "tegenfeitelijke toets, op de testmaanden die het model niet heeft gezien.",
                ruling,
            ),
            _p(
                "Een DPIA (gegevensbeschermingseffectbeoordeling) is verplicht vóór gebruik en wordt opnieuw gedaan",
                "als de kenmerken veranderen; de functionaris gegevensbescherming voegt de uitkomst toe.",
                "Een IAMA (mensenrechten en algoritmes) wordt aanbevolen.",
            ),
        ]
    )
    return text, [{"title": audit_title}]


def _source_data(f: _Facts) -> str:
    params = f.audit.get("training_params", {})
    by_source: dict[str, list[Column]] = {}
    for column in f.inputs:
        by_source.setdefault(column.source, []).append(column)
    groups = [f.register[g] for g in f.spec.fairness.groups]
    return "".join(
        [
            _p(f"Het algoritme gebruikt {len(f.inputs)} kenmerken van de {_e(f.subject)}, per bron:"),
            _ul(f"{_e(source)}: {_e(_labels(columns))}" for source, columns in sorted(by_source.items())),
            _p(
                f"Getraind op onderzochte {_e(f.subject)} tot en met {params.get('split_train_end', '?')},",
                f"gekalibreerd op {params.get('split_validation_start', '?')} tot en met",
                f"{params.get('split_validation_end', '?')} en getoetst op {f.audit['data']['test_start']} tot en met",
                f"{f.audit['data']['test_end']}. Alleen voor audits, nooit als invoer: {_e(_labels(groups))}.",
            ),
        ]
    )


def _methods(f: _Facts) -> str:
    op, training = f.audit["operating_point"], f.audit.get("training", {})
    if f.family == "logistic":
        model = _p(
            "Model: logistische regressie (scikit-learn). Categorieën worden 0/1-kolommen, getallen worden",
            "gestandaardiseerd, een ontbrekende waarde wordt aangevuld met de mediaan en krijgt een eigen",
            "0/1-kolom. Elk kenmerk heeft een vast gewicht; de gewichten staan in de modelkaart. Uitleg per signaal:",
            "bijdrage = gewicht × (waarde − gemiddelde in de trainingsgegevens), in log-odds.",
        )
    else:
        trees = training.get("best_iteration")
        model = _p(
            f"Model: gradient boosted beslisbomen (LightGBM), {int(trees) if trees else '?'} bomen van hoogstens",
            f"{f.spec.model.max_depth} niveaus. Uitleg per signaal: exacte TreeSHAP-waarden, in log-odds.",
        )
    ipw = str(f.audit.get("training_params", {}).get("ipw", "")).lower() == "true"
    return "".join(
        [
            _p(
                "Zelflerend algoritme. Invoer: de kenmerken onder Gegevens, gecontroleerd op type, bereik en",
                "toegestane waarden. Uitvoer: een kans tussen 0 en 1 dat na onderzoek een maatregel volgt,",
                "gekalibreerd met Platt-schaling op de validatiemaanden. Geselecteerd wordt wie een kans van",
                f"minstens {fmt.number(op['threshold'], 4, lang='nl')} heeft; die drempel selecteert ongeveer",
                f"{fmt.percent(op['flag_fraction'], lang='nl')}, passend bij de capaciteit.",
            ),
            model,
            _p(
                "Training alleen op onderzochte zaken,",
                "gewogen naar de kans om onderzocht te worden."
                if ipw
                else "zonder weging naar de selectiekans.",
                "Bij elke training wordt ook het andere modeltype op dezelfde gegevens berekend, zodat de",
                "commissie beide kan vergelijken.",
            ),
            _p(
                f"Versie: {_e(f.audit['model_name'])} versie {_e(f.audit['version'])}, MLflow-run",
                f"{_e(f.audit.get('run_id', '?'))}, scanspecificatie {_e(str(f.audit['spec_hash'])[:12])},",
                f"kenmerkenregister {_e(str(f.audit['register_hash'])[:12])}, code",
                f"{_e(str(f.audit.get('git_commit', '?'))[:12])}. Broncode: {_e(SOURCE_CODE)}.",
            ),
        ]
    )


def build_entry(audit: dict[str, Any], spec: ScanSpec, register: FeatureRegister, life: Lifecycle) -> dict:
    """The entry, not yet validated: every field generated from the spec, the register and the audit."""
    f = _Facts(audit, spec, register, life)
    impacttoetsen, assessments = _impact_assessments(f)
    legal_texts = [c.legal_basis for c in [*f.inputs, register.label_for_scan(spec.id)]]
    legal_texts += [register[a].legal_basis for a in spec.fairness.proxy.gating_attributes if a in register]
    legal_texts.append("AI-verordening")  # the publication category rests on it
    entry: dict[str, Any] = {
        "name": spec.name,
        "description_short": (
            f"UWV gebruikt dit algoritme om {f.subject} te selecteren voor {spec.publication.selected_for}. Het "
            "schat per geval de kans op een maatregel. Een selectie is geen besluit: een medewerker onderzoekt "
            "de zaak en beslist pas na hoor en wederhoor."
        ),
        "organization": ORGANISATION,
        "category": list(CATEGORIES),
        "status": life.status,
        "begin_date": life.begin_date,
        "end_date": life.end_date,
        "contact_email": CONTACT,
        "publication_category": "Hoog-risico AI-systeem",
        "goal": _goal(f),
        "proportionality": _proportionality(f),
        "human_intervention": _human_intervention(f),
        "risks": _risks(f),
        "lawful_basis": _lawful_basis(f),
        "lawful_basis_grouping": _law_links(legal_texts),
        "impacttoetsen_grouping": assessments,
        "impacttoetsen": impacttoetsen,
        "source_data": _source_data(f),
        "methods_and_models": _methods(f),
        "provider": "Intern ontwikkeld",
        "lang": "nld",
        "standard_version": "1.0",
        "source_id": f"riskscan-{spec.id}",
        "tags": ", ".join(
            ["WW", "UWV", "handhaving", "risicoscan", spec.name, _FAMILY_NL[f.family].split(",")[0]]
        ),
    }
    return {key: value for key, value in entry.items() if value is not None}
