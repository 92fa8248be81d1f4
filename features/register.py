"""The feature register: what every source column is, where it comes from, and what it may be used for.

The register (``register.yaml``) is the single authority on column roles. Pipelines, schemas, training,
audits and serving all ask it; none of them decides a column's role on its own. Loading validates the
file completely and fails with one message per problem, so a broken register can never be half used.

The register's content hash (SHA-256 of the canonical JSON of its parsed content) travels with every
feature matrix and every trained model, so a model can always be tied to the register it was built on.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterable, Mapping
from enum import StrEnum
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from riskscan.errors import ConfigError, ForbiddenColumn, NotFound
from riskscan.home import register_path

DEFAULT_REGISTER_PATH = Path(__file__).with_name("register.yaml")


class Role(StrEnum):
    FEATURE = "feature"
    AUDIT_ONLY = "audit_only"
    FORBIDDEN = "forbidden"
    IDENTIFIER = "identifier"
    LABEL = "label"
    SELECTION = "selection"


DType = Literal["string", "date", "category", "int", "float", "bool"]
ProxyRisk = Literal["none", "low", "medium", "high"]


class CategoryRange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    first: int
    last: int
    label: str

    def expand(self) -> dict[str, str]:
        return {str(code): self.label.format(code=code) for code in range(self.first, self.last + 1)}


class Table(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # The scans that score this table's rows (the periods serve sollicitatie and verblijf); each has its
    # own label column (``label_for_scan``) and its own features (``Column.scans``).
    scans: tuple[str, ...] = Field(min_length=1)
    key: str  # the identifier that names one row (a case)
    time: str  # the date that orders cases in time (temporal splits, windows)
    grain: str
    description: str


class Column(BaseModel):
    """One register entry. Field names follow the YAML keys."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    tables: tuple[str, ...] = Field(min_length=1)
    role: Role
    dtype: DType
    label: str = Field(min_length=1)
    description: str = Field(min_length=1)
    source: str = Field(min_length=1)
    legal_basis: str = Field(min_length=1)
    lawful: bool
    scans: tuple[str, ...] = ()
    categories: dict[str, str] | None = None
    category_range: CategoryRange | None = None
    min: float | None = None
    max: float | None = None
    unit: str | None = None
    nullable: bool = False
    proxy_risk: ProxyRisk = "none"
    proxy_note: str | None = None
    forbidden_reason: str | None = None
    audit_reference: str | None = None
    routing: str | None = None
    routing_note: str | None = None

    @field_validator("categories", mode="before")
    @classmethod
    def _category_keys_are_strings(cls, value: Any) -> Any:
        # YAML reads 10 or "yes" as numbers and booleans; category codes are always text.
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Column:
        problems = []
        if self.dtype == "category" and not (self.categories or self.category_range):
            problems.append("dtype 'category' needs 'categories' or 'category_range'")
        if self.dtype != "category" and (self.categories or self.category_range):
            problems.append(f"dtype '{self.dtype}' cannot have categories")
        if self.min is not None and self.max is not None and self.min > self.max:
            problems.append(f"min {self.min} is above max {self.max}")
        if not self.lawful and self.role is not Role.FORBIDDEN:
            problems.append(f"lawful is false, so role must be 'forbidden', not '{self.role}'")
        if self.role is Role.FORBIDDEN and not self.forbidden_reason:
            problems.append("role 'forbidden' needs a 'forbidden_reason'")
        if self.role is Role.FEATURE and not self.scans:
            problems.append("role 'feature' needs the 'scans' that may use it")
        if self.role in (Role.AUDIT_ONLY, Role.FORBIDDEN, Role.IDENTIFIER, Role.SELECTION) and self.scans:
            problems.append(f"role '{self.role}' may not list scans that use it as input")
        if self.legal_basis.strip().lower() in {"", "todo", "tbd", "?"}:
            problems.append("legal_basis is missing")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def allowed_categories(self) -> dict[str, str]:
        """Category code -> Dutch display label."""
        if self.categories:
            return dict(self.categories)
        if self.category_range:
            return self.category_range.expand()
        return {}

    @cached_property
    def category_labels(self) -> Mapping[str, str]:
        """:attr:`allowed_categories`, made once per column (not to be changed; a plain dict, so a column
        still pickles): :meth:`display_value` reads it for every explained value of every scored case, and
        ``allowed_categories`` copies or expands a new dict on each call."""
        return self.allowed_categories

    def display_value(self, value: Any) -> str:
        """A value as staff should read it, in Dutch."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "onbekend"
        if self.dtype == "category":
            return self.category_labels.get(str(value), str(value))
        if self.dtype == "bool":
            return "ja" if bool(value) else "nee"
        text = f"{float(value):.2f}".rstrip("0").rstrip(".") if self.dtype == "float" else str(value)
        return f"{text} {self.unit}" if self.unit else text


class _RegisterFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int
    tables: dict[str, Table]
    columns: list[dict[str, Any]]


class FeatureRegister:
    """The loaded, validated register. Look columns up by name; ask what a scan or table may use."""

    def __init__(self, tables: dict[str, Table], columns: Iterable[Column], content_hash: str) -> None:
        self.tables = tables
        self.columns: dict[str, Column] = {c.name: c for c in columns}
        self.content_hash = content_hash

    def __contains__(self, name: object) -> bool:
        return name in self.columns

    def __getitem__(self, name: str) -> Column:
        try:
            return self.columns[name]
        except KeyError:
            raise NotFound(f"column '{name}' is not in the feature register") from None

    def table_for_scan(self, scan: str) -> str:
        for name, table in self.tables.items():
            if scan in table.scans:
                return name
        known = sorted(self.scans)
        raise NotFound(f"no source table for scan '{scan}'; known scans: {', '.join(known)}")

    @property
    def scans(self) -> tuple[str, ...]:
        """Every scan some table names, in register order."""
        return tuple(scan for table in self.tables.values() for scan in table.scans)

    def table_columns(self, table: str) -> list[Column]:
        if table not in self.tables:
            raise NotFound(f"unknown table '{table}'; known: {', '.join(sorted(self.tables))}")
        return [c for c in self.columns.values() if table in c.tables]

    def by_role(self, role: Role, table: str | None = None) -> list[Column]:
        return [c for c in self.columns.values() if c.role is role and (table is None or table in c.tables)]

    def features_for_scan(self, scan: str) -> list[Column]:
        """Every column the register allows as a model input for this scan."""
        return [c for c in self.columns.values() if c.role is Role.FEATURE and scan in c.scans]

    def label_for_scan(self, scan: str) -> Column:
        labels = [c for c in self.by_role(Role.LABEL) if scan in c.scans]
        if len(labels) != 1:
            raise ConfigError(f"scan '{scan}' must have exactly one label column, found {len(labels)}")
        return labels[0]

    def check_model_inputs(self, scan: str, names: Iterable[str]) -> None:
        """Refuse any input column the register does not allow for this scan.

        This is the lock that keeps audit-only and forbidden columns (nationality first) out of every
        pipeline and every registered model.
        """
        for name in names:
            column = self.columns.get(name)
            if column is None:
                raise ForbiddenColumn(name, None, f"as an input of scan '{scan}'")
            if column.role is not Role.FEATURE:
                detail = column.forbidden_reason or ""
                if column.role is Role.AUDIT_ONLY:
                    detail = "audit-only attributes exist only to measure groups in audits"
                raise ForbiddenColumn(name, column.role.value, f"as a model input (scan '{scan}')", detail)
            if scan not in column.scans:
                raise ForbiddenColumn(
                    name,
                    column.role.value,
                    f"as an input of scan '{scan}'",
                    f"the register allows it only for {', '.join(column.scans)}",
                )

    def routing_columns(self, scan: str) -> list[Column]:
        return [c for c in self.columns.values() if c.routing == scan]

    def with_rulings(self, rulings: Mapping[str, str]) -> FeatureRegister:
        """This register with each ruled column (name -> the ruling in words) turned ``forbidden``.

        A ruling that a column is unlawful is recorded by the committee after the reviewed
        ``register.yaml`` was written; until the file follows, every pipeline build, registration and
        audit reads the register through this method. The rulings are passed in by the caller (this
        package imports no other stage). The content hash covers the rulings too, so a model built before
        a ruling never carries the hash of the register after it.
        """
        if not rulings:
            return self
        for name in rulings:
            self[name]  # an unknown column is refused (NotFound), never silently ignored
        columns = [
            c.model_copy(
                update={
                    "role": Role.FORBIDDEN,
                    "lawful": False,
                    "scans": (),
                    "routing": None,
                    "forbidden_reason": rulings[c.name],
                }
            )
            if c.name in rulings
            else c
            for c in self.columns.values()
        ]
        content_hash = _canonical_hash({"register": self.content_hash, "rulings": dict(rulings)})
        return FeatureRegister(self.tables, columns, content_hash)


def _canonical_hash(content: Any) -> str:
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_register(content: Any) -> FeatureRegister:
    """Validate parsed register content. Collects every problem before failing."""
    try:
        raw = _RegisterFile.model_validate(content)
    except ValidationError as exc:
        raise ConfigError(f"register is malformed: {_format_errors(exc)}") from None

    problems: list[str] = []
    columns: list[Column] = []
    seen: dict[str, int] = {}
    for index, entry in enumerate(raw.columns):
        name = (
            entry.get("name", f"<entry {index + 1}>") if isinstance(entry, dict) else f"<entry {index + 1}>"
        )
        if name in seen:
            problems.append(f"duplicate column '{name}' (entries {seen[name] + 1} and {index + 1})")
            continue
        seen[str(name)] = index
        if isinstance(entry, dict) and "legal_basis" not in entry:
            problems.append(f"column '{name}': legal_basis is missing")
            continue
        try:
            column = Column.model_validate(entry)
        except ValidationError as exc:
            problems.append(f"column '{name}': {_format_errors(exc)}")
            continue
        unknown_tables = [t for t in column.tables if t not in raw.tables]
        if unknown_tables:
            problems.append(f"column '{name}': unknown table(s) {', '.join(unknown_tables)}")
        known_scans = {scan for t in raw.tables.values() for scan in t.scans}
        unknown_scans = [s for s in column.scans if s not in known_scans]
        if unknown_scans:
            problems.append(f"column '{name}': unknown scan(s) {', '.join(unknown_scans)}")
        columns.append(column)
    names = {c.name: c for c in columns}
    for table_name, table in raw.tables.items():
        for purpose, column_name in (("key", table.key), ("time", table.time)):
            key_column = names.get(column_name)
            if (
                key_column is None
                or table_name not in key_column.tables
                or key_column.role is not Role.IDENTIFIER
            ):
                problems.append(
                    f"table '{table_name}': {purpose} '{column_name}' must be an identifier column of it"
                )
    if problems:
        raise ConfigError("register is invalid:\n  - " + "\n  - ".join(problems))
    return FeatureRegister(dict(raw.tables), columns, _canonical_hash(content))


def _format_errors(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"])
        value = err.get("input")
        if err["type"] == "enum" and where == "role":
            parts.append(f"unknown role '{value}' (expected one of: {', '.join(r.value for r in Role)})")
        elif err["type"] == "missing":
            parts.append(f"{where} is missing")
        else:
            shown = repr(value) if not isinstance(value, dict) else "{...}"
            parts.append(f"{where}={shown}: {err['msg']}" if where else err["msg"])
    return "; ".join(parts)


#: The keys an amending register file may hold (see :func:`load_register`).
_AMENDMENT_KEYS = frozenset({"amends", "version", "tables", "columns"})


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"register file not found: {path}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"register file {path} is not valid YAML: {exc}") from None


def _merged(entries: Any, changes: Any, what: str, path: Path) -> Any:
    """``entries`` (a mapping, or a list of named mappings) with each named entry's keys replaced by
    ``changes[name]``; a key changed to null is dropped. An unknown name is an error, never a new entry."""
    if not isinstance(changes, dict):
        raise ConfigError(f"register file {path}: '{what}' must map names to the keys that change")
    named = entries if isinstance(entries, dict) else {e.get("name"): e for e in entries}
    unknown = sorted(str(name) for name in changes if name not in named)
    if unknown:
        raise ConfigError(f"register file {path}: amends unknown {what}: {', '.join(unknown)}")
    merged = {}
    for name, entry in named.items():
        update = changes.get(name) or {}
        if not isinstance(update, dict):
            raise ConfigError(f"register file {path}: the change to {what} '{name}' must be a mapping")
        merged[name] = {k: v for k, v in {**entry, **update}.items() if v is not None}
    return merged if isinstance(entries, dict) else list(merged.values())


def _amended(path: Path, amendment: dict[str, Any]) -> dict[str, Any]:
    """The content of the register ``amendment`` amends, with its changes applied."""
    extra = sorted(set(amendment) - _AMENDMENT_KEYS)
    if extra:
        raise ConfigError(
            f"register file {path}: unknown key(s) {', '.join(extra)} "
            f"(an amending register holds only {', '.join(sorted(_AMENDMENT_KEYS))})"
        )
    base_path = path.with_name(str(amendment["amends"]))
    base = _read(base_path)
    if not isinstance(base, dict) or "amends" in base:
        raise ConfigError(f"register file {path}: amends {base_path}, which is not a complete register")
    content = dict(base)
    if "version" in amendment:
        content["version"] = amendment["version"]
    content["tables"] = _merged(base.get("tables", {}), amendment.get("tables", {}), "table", path)
    content["columns"] = _merged(base.get("columns", []), amendment.get("columns", {}), "column", path)
    return content


def load_register(path: str | Path | None = None) -> FeatureRegister:
    """Load and validate a register file (default: the one shipped in this package).

    A file with ``amends: <file>`` is that register with some entries changed: ``tables`` and ``columns``
    map a name to the keys that differ (null drops a key). It records the register as it stood at another
    date (``register-2022-07.yaml``: the stay-abroad scan's time, when ``inlog_buitenland`` was still held
    lawful) as a short difference a reviewer can read, not a second copy that drifts. The content hash is
    of the merged content, so it says what was in force, however it was written.
    """
    register_path = Path(path) if path is not None else DEFAULT_REGISTER_PATH
    content = _read(register_path)
    if isinstance(content, dict) and "amends" in content:
        content = _amended(register_path, content)
    return parse_register(content)


@cache
def _load_once(path: Path) -> FeatureRegister:
    return load_register(path)


def default_register() -> FeatureRegister:
    """The register in force, loaded once per process and file: the file ``RISKSCAN_REGISTER`` names when
    set (:func:`riskscan.home.register_path`), else the shipped ``register.yaml``."""
    return _load_once(register_path() or DEFAULT_REGISTER_PATH)
