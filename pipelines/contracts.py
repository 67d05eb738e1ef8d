"""Data contracts: load `data_contracts/<source>.yaml` into one object that everything
else derives from (header mapping, typing SQL, row rules, Great Expectations suite).

Nothing about a source is written twice: the reader asks the contract for aliases and
delimiters, the loader asks it for typing and rule SQL, the validator for expectations.
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property, lru_cache
from pathlib import Path

import yaml

from vigie.config import CONTRACTS_DIR

SOURCES = ("cdp", "bailleur", "fsl", "procedure", "suivi")

PARIS_POSTAL_CODES = tuple(f"750{i:02d}" for i in range(1, 21)) + ("75116",)

# ODCS logicalType + Vigie refinement -> internal kind
_KINDS = {"string", "date", "amount", "integer", "boolean", "enum", "postal_code_paris"}


def normalise_header(name: str) -> str:
    """`Code postal`, `CODE_POSTAL`, ` code-postal ` -> `code_postal` (accents dropped)."""
    text = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^0-9a-zA-Z]+", "_", text.lower()).strip("_")
    return text


def sql_str(value: str) -> str:
    """A SQL string literal (single quotes doubled). Header names and values from
    partner files only ever reach SQL through this."""
    return "'" + str(value).replace("'", "''") + "'"


@dataclass(frozen=True)
class Column:
    name: str
    kind: str
    required: bool = False
    minimum: object = None
    maximum: object = None
    exclusive_min: bool = False
    exclusive_max: bool = False
    values: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    personal: bool = False
    two_digit_year_past: bool = False

    @property
    def ident(self) -> str:
        return f'"{self.name}"'

    @property
    def raw_ident(self) -> str:
        return f'"_raw_{self.name}"'


@dataclass(frozen=True)
class CrossRule:
    code: str
    rule: str  # not_after | not_before | after | required_when
    column: str
    description: str
    other: str | None = None
    when_column: str | None = None
    when_in: tuple[str, ...] = ()
    table: str | None = None   # exists_in: the warehouse table and key the value must be found in
    key: str | None = None


@dataclass(frozen=True)
class Contract:
    source: str
    version: str
    columns: tuple[Column, ...]
    cross_rules: tuple[CrossRule, ...]
    source_key: tuple[str, ...]
    formats: tuple[str, ...]
    delimiters: tuple[str, ...]
    min_volume_ratio: float
    max_quarantine_share: float
    volume_group: str | None = None
    skip_when_empty: tuple[str, ...] = ()
    keep_extra_columns: bool = True
    path: Path = field(default=Path("."))

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def required(self) -> list[Column]:
        return [c for c in self.columns if c.required]

    @cached_property
    def header_lookup(self) -> dict[str, str]:
        """normalised header text -> contract column name (worked out once per contract)."""
        lookup: dict[str, str] = {}
        for col in self.columns:
            for alias in (col.name, *col.aliases):
                lookup.setdefault(normalise_header(alias), col.name)
        return lookup


def _bound(value):
    if value is None or value == "today":
        return value
    if isinstance(value, date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        return date.fromisoformat(value)
    return value


def _column(prop: dict) -> Column:
    extra = prop.get("vigie") or {}
    logical = prop.get("logicalType", "string")
    kind = extra.get("type") or {"number": "amount"}.get(logical, logical)
    if kind not in _KINDS:
        raise ValueError(f"unknown column type {kind!r} for {prop['name']}")
    opts = prop.get("logicalTypeOptions") or {}
    minimum = opts.get("minimum", opts.get("exclusiveMinimum"))
    maximum = opts.get("maximum", opts.get("exclusiveMaximum"))
    return Column(
        name=prop["name"],
        kind=kind,
        required=bool(prop.get("required", False)),
        minimum=_bound(minimum),
        maximum=_bound(maximum),
        exclusive_min="exclusiveMinimum" in opts,
        exclusive_max="exclusiveMaximum" in opts,
        values=tuple(extra.get("values", ())),
        aliases=tuple(extra.get("aliases", ())),
        personal=bool(extra.get("personal", False)),
        two_digit_year_past=extra.get("two_digit_year") == "past",
    )


def _cross_rule(q: dict) -> CrossRule:
    when = q.get("when") or {}
    return CrossRule(
        code=q["code"], rule=q["rule"], column=q["column"], description=q["description"],
        other=q.get("other"), when_column=when.get("column"), when_in=tuple(when.get("in", ())),
        table=q.get("table"), key=q.get("key"),
    )


@lru_cache(maxsize=None)
def load_contract(source: str) -> Contract:
    if source not in SOURCES:
        raise KeyError(source)
    path = CONTRACTS_DIR / f"{source}.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    custom = {p["property"]: p["value"] for p in doc.get("customProperties", [])}
    table = doc["schema"][0]
    reader = custom.get("reader", {})
    batch = custom.get("batch", {})
    return Contract(
        source=source,
        version=str(doc.get("version")),
        columns=tuple(_column(p) for p in table["properties"]),
        cross_rules=tuple(_cross_rule(q) for q in table.get("quality", []) if q.get("engine") == "vigie"),
        source_key=tuple(custom["source_key"]),
        formats=tuple(reader.get("formats", ["csv"])),
        delimiters=tuple(reader.get("delimiters", [";"])),
        min_volume_ratio=float(batch.get("min_volume_ratio", 0.0)),
        max_quarantine_share=float(batch.get("max_quarantine_share", 1.0)),
        volume_group=batch.get("volume_group"),
        skip_when_empty=tuple(custom.get("skip_when_empty", ())),
        keep_extra_columns=bool(custom.get("keep_extra_columns", True)),
        path=path,
    )


def all_contracts() -> list[Contract]:
    return [load_contract(s) for s in SOURCES]
