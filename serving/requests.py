"""The request bodies of the API, as strict pydantic models: what a client may send, and nothing else.

One model per endpoint (:func:`request_adapter`), used twice and nowhere redefined:

* :mod:`serving.gate` validates every body with it before the handler runs, after authentication, so
  a body is refused by name (an unknown field, ``"yes"`` for a flag, ``"5"`` for ``top_n``) and nothing
  is half-done;
* :mod:`serving.openapi` publishes its JSON Schema, so the document says what the validation enforces.

``POST /score`` is a tagged union on ``scan``: each scan's cases have their own fields (from the scan's
specification and the feature register), so ``{"scan": "vw", "cases": [<a sollicitatie case>]}`` is
refused by the schema, not only by the service. The one rule across fields, that a violation needs hoor
en wederhoor, is checked by the outcome store and stated in the schema as an ``if``/``then``.

There is no rule a JSON Schema cannot state: a ``case_id`` repeated within one request used to be
refused, but ``uniqueItems`` cannot say "unique by one property", so the document could not tell the
truth about it. A case sent twice is now scored and logged twice, each under its own ``request_id``,
exactly as two requests would be; its control draw is the same both times (it depends on the id only).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from typing import Annotated, Any, Final, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictStr,
    TypeAdapter,
    ValidationError,
    create_model,
)

from features.register import Column, default_register
from features.schemas import STRICT_CONFIG, WholeNumber, case_problem, record_model
from models.specs import load_spec, scan_ids
from riskscan.db import NAME_LENGTH
from riskscan.errors import MAX_REPORTED_PROBLEMS, InvalidInput, Problem, TooLarge

MAX_CASES_PER_REQUEST: Final = 1000
MAX_TOP_N: Final = 50
#: The longest outcome note (characters): a summary of the investigation, not the case file.
MAX_NOTE_LENGTH: Final = 4000
MAX_SANCTION_LENGTH: Final = 200
REQUEST_ID_PATTERN: Final = r"^[0-9a-f]{32}$"
NOT_BLANK: Final = r"\S"


def _case_columns(scan: str) -> dict[str, Column]:
    """The fields of one case of ``scan``: the specification's features and the scan's routing columns."""
    register = default_register()
    spec = load_spec(scan, register)
    columns = [*spec.feature_set(register).columns, *register.routing_columns(scan)]
    return {column.name: column for column in columns}


@functools.cache
def case_columns() -> dict[str, dict[str, Column]]:
    """Each scan's case fields, read once from the specifications and the register."""
    return {scan: _case_columns(scan) for scan in scan_ids()}


def _score_model(scan: str, columns: Mapping[str, Column]) -> type[BaseModel]:
    case = record_model(f"{scan.capitalize()}Case", list(columns.values()))
    cases = Annotated[
        list[case],  # type: ignore[valid-type]
        Field(
            min_length=1,
            max_length=MAX_CASES_PER_REQUEST,
            description=(
                f"1 to {MAX_CASES_PER_REQUEST} cases, answered in the order sent; a case sent twice is "
                "scored and logged twice, under two request_ids"
            ),
        ),
    ]
    tag: Any = Literal[scan]
    return create_model(
        f"Score{scan.capitalize()}Request",
        __config__=STRICT_CONFIG,
        scan=(tag, Field(description="the scan whose champion scores the cases")),
        cases=(cases, ...),
        top_n=(
            WholeNumber,
            Field(5, ge=0, le=MAX_TOP_N, description="how many contributions to explain (0: all of them)"),
        ),
    )


@functools.cache
def score_request() -> TypeAdapter[Any]:
    """``POST /score``: one model per scan, told apart by ``scan``."""
    models = tuple(_score_model(scan, columns) for scan, columns in case_columns().items())
    union: Any = Annotated[Union[models], Field(discriminator="scan")]  # noqa: UP007 -- built at run time
    return TypeAdapter(union)


class OutcomeRequest(BaseModel):
    """``POST /outcome``: the result of an investigation of a scored case."""

    model_config = STRICT_CONFIG | ConfigDict(
        json_schema_extra={
            "if": {"properties": {"violation": {"const": True}}, "required": ["violation"]},
            "then": {"properties": {"hoor_en_wederhoor": {"const": True}}},
            "else": {"properties": {"sanction": {"type": "null"}}},
        }
    )

    request_id: StrictStr = Field(pattern=REQUEST_ID_PATTERN, description="the request_id of the scored case")
    violation: StrictBool = Field(description="whether the investigation found a violation")
    hoor_en_wederhoor: StrictBool = Field(
        description="whether the client was heard; a violation cannot be recorded without it"
    )
    investigator: StrictStr = Field(
        min_length=1, max_length=NAME_LENGTH, pattern=NOT_BLANK, description="who investigated"
    )
    sanction: StrictStr | None = Field(
        default=None,
        max_length=MAX_SANCTION_LENGTH,
        pattern=NOT_BLANK,
        description="the sanction imposed; only with a violation",
    )
    notes: StrictStr = Field(default="", max_length=MAX_NOTE_LENGTH, description="a short summary")


class ReloadRequest(BaseModel):
    """``POST /reload``: an empty object."""

    model_config = STRICT_CONFIG


#: The bodies that are one model (``/score`` is a union of one model per scan).
FLAT_MODELS: Final[Mapping[str, type[BaseModel]]] = {"/outcome": OutcomeRequest, "/reload": ReloadRequest}


@functools.cache
def request_adapter(route: str) -> TypeAdapter[Any]:
    """The validator of ``route``'s body."""
    if route == "/score":
        return score_request()
    return TypeAdapter(FLAT_MODELS[route])


#: The API routes that take a JSON body, all ``POST``.
API_ROUTES: Final = ("/score", "/outcome", "/reload")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


#: ``json.loads(raw, parse_constant=_refuse_constant)``'s decoder, built once instead of on every call.
_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant)


def _loads(raw: bytes) -> Any:
    """``json.loads(raw, parse_constant=_refuse_constant)``: the same decoding of the bytes, the same errors."""
    return _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))


def validate_body(route: str, raw: bytes) -> Any:
    """The body of ``POST route`` as its model, or :class:`InvalidInput` (422) naming every field that is
    wrong, at most :data:`~riskscan.errors.MAX_REPORTED_PROBLEMS` of them and their count; more cases than
    one request may carry is :class:`TooLarge` (413)."""
    try:
        body = _loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidInput(
            f"the body is not JSON ({str(error)[:200]}); expected a JSON object",
            [Problem(column=None, value=None, expected="a JSON object")],
        ) from None
    cases = body.get("cases") if route == "/score" and isinstance(body, dict) else None
    if isinstance(cases, list) and len(cases) > MAX_CASES_PER_REQUEST:
        raise TooLarge(
            f"at most {MAX_CASES_PER_REQUEST} cases per request (got {len(cases)}); "
            "use 'riskscan score-batch' for a caseload",
            field="cases",
            value=len(cases),
        )
    try:
        return request_adapter(route).validate_python(body)
    except ValidationError as error:
        problems = _problems(route, body, error)
    raise InvalidInput(
        f"{len(problems)} invalid value(s) in the body of POST {route}; nothing was done",
        problems[:MAX_REPORTED_PROBLEMS],
        total=len(problems),
    )


def _problems(route: str, body: Any, error: ValidationError) -> list[Problem]:
    """One problem per field (a number is ``int | float``: pydantic reports each member; keep one)."""
    problems: dict[tuple[Any, str | None], Problem] = {}
    for item in error.errors(include_url=False):
        problem = _problem(route, body, item)
        problems.setdefault((problem.row, problem.column), problem)
    return list(problems.values())


def _problem(route: str, body: Any, error: Mapping[str, Any]) -> Problem:
    loc = tuple(error.get("loc") or ())
    if route == "/score" and loc and loc[0] in scan_ids():
        loc = loc[1:]  # the tagged union names the member first
    if error["type"] in ("union_tag_invalid", "union_tag_not_found"):
        value = body.get("scan") if isinstance(body, dict) else None
        return Problem(column="scan", value=value, expected=f"one of: {', '.join(scan_ids())}")
    if len(loc) >= 3 and loc[0] == "cases" and isinstance(loc[1], int):
        scan, index = body["scan"], loc[1]
        case = body["cases"][index]
        return case_problem(
            case_columns()[scan], {**error, "loc": loc[2:]}, row=index, case_id=case.get("case_id")
        )
    field = ".".join(str(part) for part in loc) or None
    if error["type"] == "missing":
        return Problem(column=field, value=None, expected="a value")
    if error["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_fields(route, body))
        return Problem(
            column=field, value=error.get("input"), expected=f"no field '{field}': allowed are {allowed}"
        )
    return Problem(column=field, value=error.get("input"), expected=str(error["msg"]))


def _allowed_fields(route: str, body: Any) -> list[str]:
    if route == "/score":
        return ["scan", "cases", "top_n"]
    return list(FLAT_MODELS[route].model_fields) or ["none"]
