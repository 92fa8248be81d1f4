"""The request body of the Algoritmeregister's intake API ("aanleverapi"), publication standard v1.0.

A pydantic model of ``AlgorithmIn`` that every register entry riskscan writes must pass. The rules come
from MinBZK's own sources (read from mirror snapshots; the field-by-field notes with line numbers are in
the research note ``algoritmeregister_v1_0.md`` that this module was built from):

* [S] ``MinBZK/amt`` ``amt/algoritmeregister/openapi/v1_0/specs/openapi.json``,
  ``#/components/schemas/AlgorithmIn`` and ``v1_0__*`` (commit 8b8145c6883cf8f3c00831e8601efa47bb521095):
  field names, the required set, the enumerations, ``max_length_without_html``, ``allowed_html_tags``;
* [C] ``MinBZK/Algoritmeregister`` ``backend/app/schemas/config/v1_0.json`` (commit 4885a0537d14, file
  last changed be01f3a18e93): the server's own field configuration, identical to [S] on all of the above.
  The server checks every length on ``backend/app/util/html.py::strip_html(value)``: the text nodes of the
  parsed HTML joined with one space, so tags do not count and a limit of N allows N characters;
* [D] ``MinBZK/Algoritmeregister`` ``backend/app/models/algoritme_version.py``: the column sizes of the
  stored value, HTML included;
* [G] ``MinBZK/Algoritmeregister-Publicatiestandaard`` ``ch02.md`` (v1.0.10, commit
  d20a0fe085472a1ac7373fd771771dd32ded9326): the field guide (``yyyy-mm`` dates, "Geldige URL", "Begin een
  URL met https://", ``end_date`` empty while in use).

Deliberately stricter than the live server, which ignores unknown keys, silently strips or sanitises HTML
and does not check dates, URLs or e-mail addresses: unknown keys, strings where a list is expected, HTML
the server would remove, malformed dates and links are refused here, so what riskscan sends is what the
register publishes. Where [S]/[C] and the guide disagree (``description_short`` 400 against 350,
``standard_version`` ``1.0`` against ``1.0.0``) the API wins: it is what accepts or refuses the body.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator

Status = Literal["In ontwikkeling", "In gebruik", "Buiten gebruik"]
PublicationCategory = Literal["Hoog-risico AI-systeem", "Impactvolle algoritmes", "Overige algoritmes"]
#: The 16 themes ("Thema") of [S] ``v1_0__EnumCategory``, exact spelling (with the diaeresis of financiën).
Category = Literal[
    "Organisatie en bedrijfsvoering",
    "Cultuur en recreatie",
    "Economie",
    "Overheidsfinanciën",
    "Wonen",
    "Internationaal",
    "Migratie en integratie",
    "Natuur en milieu",
    "Onderwijs en wetenschap",
    "Openbare orde en veiligheid",
    "Recht",
    "Ruimte en infrastructuur",
    "Sociale zekerheid",
    "Verkeer",
    "Werk",
    "Zorg en gezondheid",
]
#: [S]/[C] ``allowed_html_tags`` of the nine "rich" text fields.
ALLOWED_HTML_TAGS = frozenset({"div", "br", "p", "ul", "ol", "li"})


class _HTMLScan(HTMLParser):
    """The text nodes and tags of a value (the standard library's parser standing in for lxml's)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self.tags: list[tuple[str, bool]] = []  # (tag, has attributes)
        self._open = False

    def handle_data(self, data: str) -> None:
        if self._open:
            self.texts[-1] += data
        else:
            self.texts.append(data)
        self._open = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, bool(attrs)))
        self._open = False

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag: str) -> None:
        self.handle_starttag(tag, [])

    def handle_comment(self, data: str) -> None:
        self._open = False


def _scan(value: str) -> _HTMLScan:
    parser = _HTMLScan()
    parser.feed(value)
    parser.close()
    return parser


def strip_html(value: str) -> str:
    """The visible text as the server counts it: text nodes joined with one space ([C] util/html.py).

    >>> strip_html("<p>a</p><p>b</p>"), len(strip_html("<p>x &amp; y</p>"))
    ('a b', 5)
    """
    if not value.strip():
        return value
    return " ".join(_scan(value).texts)


def _text_rule(
    max_length: int | None, *, rich: bool = False, stored_max: int | None = None, required: bool = False
) -> Callable[[str], str]:
    """A check for one text field: its length without HTML ([S] ``max_length_without_html``), its stored
    length with HTML ([D]), non-empty when required ([G] "Verplicht"), and only the HTML the server keeps."""

    def check(value: str) -> str:
        if required and not value.strip():
            raise ValueError("verplicht veld mag niet leeg zijn")
        length = len(strip_html(value))
        if max_length is not None and length > max_length:
            raise ValueError(f"{length} tekens zonder HTML; maximaal {max_length}")
        if stored_max is not None and len(value) > stored_max:
            raise ValueError(f"{len(value)} tekens met HTML; de databasekolom houdt er {stored_max}")
        for tag, has_attributes in _scan(value).tags:
            if not rich:
                raise ValueError(f"HTML (<{tag}>) is in dit veld niet toegestaan; de server verwijdert het")
            if tag not in ALLOWED_HTML_TAGS:
                raise ValueError(f"<{tag}> is niet toegestaan; alleen {', '.join(sorted(ALLOWED_HTML_TAGS))}")
            if has_attributes:
                raise ValueError(f"attributen op <{tag}> worden door de server verwijderd")
        return value

    return check


_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_URL = re.compile(r"^https?://[^\s/?#]+\.[^\s/?#]+\S*$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")


def _month(value: str) -> str:
    if not _MONTH.match(value):
        raise ValueError("datum moet JJJJ-MM zijn, bijvoorbeeld 2023-01 ([G] invoertype yyyy-mm)")
    return value


def _url(https_only: bool) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not _URL.match(value):
            raise ValueError("geen geldige URL (een absolute http(s)-URL verwacht)")
        if https_only and not value.startswith("https://"):
            raise ValueError("begin een URL met https://")
        return value

    return check


def _contact(value: str) -> str:
    if _EMAIL.match(value) or (value.startswith("https://") and _URL.match(value)):
        return value
    raise ValueError("een geldig e-mailadres of een website-URL met https:// verwacht ([G] Contactgegevens)")


Name = Annotated[str, AfterValidator(_text_rule(100, stored_max=1024, required=True))]
ShortDescription = Annotated[str, AfterValidator(_text_rule(400, stored_max=5000, required=True))]
Contact = Annotated[
    str, AfterValidator(_text_rule(500, stored_max=1024, required=True)), AfterValidator(_contact)
]
Month = Annotated[str, AfterValidator(_text_rule(7, stored_max=7)), AfterValidator(_month)]
HttpsUrl = Annotated[str, AfterValidator(_text_rule(500, stored_max=1024)), AfterValidator(_url(True))]
ProcessUrl = Annotated[str, AfterValidator(_text_rule(500, stored_max=500)), AfterValidator(_url(False))]
Rich2500 = Annotated[str, AfterValidator(_text_rule(2500, rich=True, stored_max=5000))]
Rich5000 = Annotated[str, AfterValidator(_text_rule(5000, rich=True, stored_max=10000))]
Provider = Annotated[str, AfterValidator(_text_rule(200, stored_max=5000))]
SourceId = Annotated[str, AfterValidator(_text_rule(100, stored_max=100))]
Tags = Annotated[str, AfterValidator(_text_rule(2500, rich=True, stored_max=2500))]


class _Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


class LawfulBasisGrouping(_Strict):
    """[S] ``v1_0__ObjectLawfulBasisGrouping``: a law and its link, both required."""

    title: Annotated[str, AfterValidator(_text_rule(100, required=True))]
    link: Annotated[str, AfterValidator(_text_rule(500, required=True)), AfterValidator(_url(False))]


class ImpacttoetsenGrouping(_Strict):
    """[S] ``v1_0__ObjectImpacttoetsenGrouping``: the assessment's name (free text; [S] recommends names
    such as "Data Protection Impact Assessment (DPIA)"), and a link where its result is public."""

    title: Annotated[str, AfterValidator(_text_rule(None, required=True))]
    link: HttpsUrl | None = None


class SourceDataGrouping(_Strict):
    """[S] ``v1_0__ObjectSourceDataGrouping``: a data source and a link to its description."""

    title: Annotated[str, AfterValidator(_text_rule(500, required=True))]
    link: Annotated[str, AfterValidator(_text_rule(500, required=True)), AfterValidator(_url(False))]


class AlgorithmIn(_Strict):
    """Body of ``POST /aanleverapi/v1_0/organizations/{organisation_id}/algorithms`` (and of the ``PUT`` of a
    new version). Required: ``name``, ``description_short``, ``organization``, ``status``,
    ``contact_email``, ``publication_category`` and ``lang`` ([S] ``AlgorithmIn.required``)."""

    # Algemene informatie
    name: Name
    description_short: ShortDescription
    organization: Name
    category: list[Category] | None = None
    status: Status
    begin_date: Month | None = None
    end_date: Month | None = None
    contact_email: Contact
    website: HttpsUrl | None = None
    publication_category: PublicationCategory
    url: HttpsUrl | None = None
    # Verantwoord gebruik
    goal: Rich2500 | None = None
    proportionality: Rich2500 | None = None
    human_intervention: Rich2500 | None = None
    risks: Rich2500 | None = None
    lawful_basis: Rich2500 | None = None
    lawful_basis_grouping: list[LawfulBasisGrouping] | None = None
    process_index_url: ProcessUrl | None = None
    impacttoetsen_grouping: list[ImpacttoetsenGrouping] | None = None
    impacttoetsen: Rich2500 | None = None
    # Werking
    source_data: Rich2500 | None = None
    source_data_grouping: list[SourceDataGrouping] | None = None
    methods_and_models: Rich5000 | None = None
    provider: Provider | None = None
    publiccode: HttpsUrl | None = None
    # Metadata
    lang: Literal["nld"]
    standard_version: Literal["1.0"] | None = None  # the server fills in "1.0" when absent
    source_id: SourceId | None = None
    tags: Tags | None = None
    lars: str | None = None  # assigned by the register; ignored on input
    publication_dt: str | None = None  # assigned by the register; ignored on input

    @model_validator(mode="after")
    def _no_end_while_in_use(self) -> AlgorithmIn:
        """[G] ``end_date``: "Als het algoritme nog in gebruik is, moet dit veld leeg blijven"."""
        if self.status == "In gebruik" and self.end_date:
            raise ValueError("end_date moet leeg blijven zolang de status 'In gebruik' is")
        return self
