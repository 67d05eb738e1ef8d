"""From a contract to SQL: typing of raw text values and the row rules.

Every raw value arrives as trimmed text (NULL when empty) in a column `_raw_<name>`;
the typed value goes in `<name>`. A row rule is a SQL condition that is true when the
row breaks the contract, with a reason code and a French sentence built from the value.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pipelines.contracts import PARIS_POSTAL_CODES, Column, Contract, sql_str

BOOL_TRUE = ("oui", "o", "1", "vrai", "true", "yes", "y", "x")
BOOL_FALSE = ("non", "n", "0", "faux", "false", "no")

FORMATS_FR = {
    "date": "une date jj/mm/aaaa",
    "amount": "un montant (ex. 1 234,56 €)",
    "integer": "un nombre entier",
    "boolean": "oui ou non",
}


@dataclass(frozen=True)
class RowRule:
    code: str
    column: str
    fails_sql: str   # true when the row breaks the rule
    reason_sql: str  # SQL text expression: the sentence a person reads


def _in_list(values) -> str:
    return "(" + ", ".join(sql_str(v) for v in values) + ")"


def helper_ident(col: Column) -> str:
    """A cleaned form of the raw text, computed once per row before typing."""
    return f'"_clean_{col.name}"'


def helper_expr(col: Column) -> str | None:
    raw = col.raw_ident
    if col.kind == "amount":  # no euro sign, no kind of space
        return (f"replace(replace(replace(replace({raw}, '€', ''), ' ', ''), chr(160), ''), chr(8239), '')")
    if col.kind == "enum":
        return _unless_clean(raw, col.values, f"replace(replace(lower(strip_accents({raw})), ' ', '_'), '-', '_')")
    if col.kind == "boolean":
        return _unless_clean(raw, BOOL_TRUE + BOOL_FALSE, f"lower(strip_accents({raw}))")
    return None


def _unless_clean(raw: str, values, cleaning: str) -> str:
    """`cleaning`, except for a value already written as one of `values` (lower-case ASCII, no
    space nor hyphen: what the cleaning gives back unchanged). Most values are: strip_accents
    on every value cost 0.3 s on 5 M lines."""
    kept = [v for v in values if v.isascii() and v == v.lower() and not set(v) & {" ", "-"}]
    return f"(case when {raw} in {_in_list(kept)} then {raw} else {cleaning} end)" if kept else cleaning


def _date_sql(raw: str, col: Column, allow_serial: bool) -> str:
    # dispatch on length: '%Y' alone would read the 71 of 12/03/71 as the year 71
    short = f"try_strptime({raw}, '%d/%m/%y')::date"
    if col.two_digit_year_past:  # a birth date written 12/03/71 is 1971, never 2071
        short = f"(case when {short} > current_date then ({short} - interval 100 year)::date else {short} end)"
    serial = (f"when 5 then (case when regexp_full_match({raw}, '\\d{{5}}') "
              f"then date '1899-12-30' + cast({raw} as integer) end) " if allow_serial else "")
    return (
        f"(case length({raw}) "
        f"when 10 then coalesce(try_strptime({raw}, '%d/%m/%Y'), try_strptime({raw}, '%Y-%m-%d'))::date "
        f"when 8 then (case when {raw}[3] = '/' and {raw}[6] = '/' then {short} "
        f"else try_strptime({raw}, '%d/%m/%Y')::date end) "
        f"when 9 then try_strptime({raw}, '%d/%m/%Y')::date "
        f"when 19 then try_strptime(left({raw}, 10), '%Y-%m-%d')::date "
        f"{serial}end)"
    )


def _amount_sql(clean: str) -> str:
    # a comma is the decimal mark (dots are thousands); a dot before the last three digits is thousands
    return (
        f"(case when contains({clean}, ',') then try_cast(replace(replace({clean}, '.', ''), ',', '.') as decimal(14,2)) "
        f"when substr({clean}, -4, 1) = '.' then try_cast(replace({clean}, '.', '') as decimal(14,2)) "
        f"else try_cast({clean} as decimal(14,2)) end)"
    )


def _integer_sql(raw: str) -> str:
    # '3' or '3.0' (Excel), never '3.5' rounded to 4
    return (f"(case when not contains({raw}, '.') then try_cast({raw} as integer) "
            f"when regexp_full_match({raw}, '-?\\d+\\.0+') then try_cast(split_part({raw}, '.', 1) as integer) end)")


def typed_expr(col: Column, allow_serial_dates: bool) -> str:
    raw, clean = col.raw_ident, helper_ident(col)
    if col.kind == "date":
        return _date_sql(raw, col, allow_serial_dates)
    if col.kind == "amount":
        return _amount_sql(clean)
    if col.kind == "integer":
        return _integer_sql(raw)
    if col.kind == "boolean":
        return f"(case when {clean} in {_in_list(BOOL_TRUE)} then true when {clean} in {_in_list(BOOL_FALSE)} then false end)"
    if col.kind == "enum":
        return f"(case when {clean} in {_in_list(col.values)} then {clean} end)"
    if col.kind == "postal_code_paris":
        return f"(case when {raw} in {_in_list(PARIS_POSTAL_CODES)} then {raw} end)"
    return raw


def _bound_sql(value, kind: str, as_of: date) -> str:
    if value == "today":
        return f"date {sql_str(as_of.isoformat())}"
    if isinstance(value, date):
        return f"date {sql_str(value.isoformat())}"
    return str(value)


def _quoted(raw: str) -> str:
    return f"'« ' || {raw} || ' »'"


def column_rules(col: Column, as_of: date, native: bool = False) -> list[RowRule]:
    """Rules of one column; a `native` column was typed by DuckDB's reader (its raw column is
    the typed value, and it cannot be unreadable: lines DuckDB could not type went elsewhere)."""
    raw, typed, name = col.raw_ident, col.ident, col.name
    rules: list[RowRule] = []
    if col.required:
        rules.append(RowRule("missing_required", name, f"{raw} is null",
                             sql_str(f"champ obligatoire « {name} » vide")))
    if col.kind in FORMATS_FR and not native:
        rules.append(RowRule(f"bad_{col.kind}", name, f"{raw} is not null and {typed} is null",
                             f"{sql_str(f'« {name} » illisible : ')} || {_quoted(raw)} || "
                             f"{sql_str(f' (attendu : {FORMATS_FR[col.kind]})')}"))
    elif col.kind == "enum":
        rules.append(RowRule("unknown_value", name, f"{raw} is not null and {typed} is null",
                             f"{sql_str(f'« {name} » : valeur ')} || {_quoted(raw)} || "
                             f"{sql_str(' inconnue (attendu : ' + ', '.join(col.values) + ')')}"))
    elif col.kind == "postal_code_paris":
        rules.append(RowRule("outside_paris", name, f"{raw} is not null and {typed} is null",
                             f"{sql_str('code postal ')} || {_quoted(raw)} || "
                             f"{sql_str(' hors de Paris ou non résidentiel (attendu 75001 à 75020 ou 75116) : hors du champ de Vigie')}"))
    if col.maximum == "today":
        rules.append(RowRule("future_date", name, f"{typed} > {_bound_sql('today', col.kind, as_of)}",
                             f"{sql_str(f'« {name} » dans le futur : ')} || strftime({typed}, '%d/%m/%Y')"))
    bounds = []
    if col.minimum is not None:
        bounds.append(f"{typed} {'<=' if col.exclusive_min else '<'} {_bound_sql(col.minimum, col.kind, as_of)}")
    if col.maximum is not None and col.maximum != "today":
        bounds.append(f"{typed} {'>=' if col.exclusive_max else '>'} {_bound_sql(col.maximum, col.kind, as_of)}")
    if bounds:
        lo = "" if col.minimum is None else str(col.minimum)
        hi = "" if col.maximum in (None, "today") else str(col.maximum)
        rules.append(RowRule("out_of_range", name, "(" + " or ".join(bounds) + ")",
                             f"{sql_str(f'« {name} » hors des limites [{lo} ; {hi}] : ')} || cast({typed} as varchar)"))
    return rules


def cross_rules(contract: Contract) -> list[RowRule]:
    out = []
    for r in contract.cross_rules:
        a = f'"{r.column}"'
        if r.rule == "required_when":
            cond = f'"{r.when_column}" in {_in_list(r.when_in)} and {a} is null'
        elif r.rule == "exists_in":  # e.g. a returned case id must be one Vigie sent
            cond = f'{a} is not null and {a} not in (select "{r.key}" from {r.table})'
        else:
            b = f'"{r.other}"'
            op = {"not_after": ">", "not_before": "<", "after": "<="}[r.rule]
            cond = f"{a} {op} {b}"
        out.append(RowRule(r.code, r.column, cond, sql_str(r.description)))
    return out


def row_rules(contract: Contract, as_of: date, native: set[str] = frozenset()) -> list[RowRule]:
    rules = [rule for col in contract.columns for rule in column_rules(col, as_of, col.name in native)]
    return rules + cross_rules(contract)
