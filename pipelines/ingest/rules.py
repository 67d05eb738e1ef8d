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


def _date_sql(raw: str, col: Column, allow_serial: bool) -> str:
    serial = (
        f"when regexp_full_match({raw}, '\\d{{5}}(\\.0+)?') "
        f"then (date '1899-12-30' + cast(cast({raw} as double) as integer))"
        if allow_serial else ""
    )
    short = f"try_strptime({raw}, '%d/%m/%y')::date"
    if col.two_digit_year_past:  # a birth date written 12/03/71 is 1971, never 2071
        short = f"(case when {short} > current_date then ({short} - interval 100 year)::date else {short} end)"
    return (
        f"(case when regexp_full_match({raw}, '\\d{{1,2}}/\\d{{1,2}}/\\d{{4}}') "
        f"then try_strptime({raw}, '%d/%m/%Y')::date "
        f"when regexp_full_match({raw}, '\\d{{1,2}}/\\d{{1,2}}/\\d{{2}}') then {short} "
        f"when regexp_full_match({raw}, '\\d{{4}}-\\d{{2}}-\\d{{2}}([ T]00:00(:00)?)?') "
        f"then try_strptime(left({raw}, 10), '%Y-%m-%d')::date "
        f"{serial} end)"
    )


def _amount_sql(raw: str) -> str:
    # drop the euro sign and every kind of space, then read the decimal separator:
    # a comma is decimal (dots are thousands); dots alone in groups of three are thousands.
    s = f"regexp_replace({raw}, '[€\\s\\x{{00A0}}\\x{{202F}}]|EUR', '', 'g')"
    return (
        f"(case when contains({s}, ',') then try_cast(replace(replace({s}, '.', ''), ',', '.') as decimal(14,2)) "
        f"when regexp_full_match({s}, '-?\\d{{1,3}}(\\.\\d{{3}})+') then try_cast(replace({s}, '.', '') as decimal(14,2)) "
        f"else try_cast({s} as decimal(14,2)) end)"
    )


def _integer_sql(raw: str) -> str:
    return (f"(case when regexp_full_match({raw}, '-?\\d+(\\.0+)?') "
            f"then try_cast(try_cast({raw} as double) as integer) end)")


def _enum_key(raw: str) -> str:
    return f"regexp_replace(lower(strip_accents({raw})), '[\\s\\-]+', '_', 'g')"


def typed_expr(col: Column, allow_serial_dates: bool) -> str:
    raw = col.raw_ident
    if col.kind == "date":
        return _date_sql(raw, col, allow_serial_dates)
    if col.kind == "amount":
        return _amount_sql(raw)
    if col.kind == "integer":
        return _integer_sql(raw)
    if col.kind == "boolean":
        key = f"lower(strip_accents({raw}))"
        return f"(case when {key} in {_in_list(BOOL_TRUE)} then true when {key} in {_in_list(BOOL_FALSE)} then false end)"
    if col.kind == "enum":
        return f"(case when {_enum_key(raw)} in {_in_list(col.values)} then {_enum_key(raw)} end)"
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


def column_rules(col: Column, as_of: date) -> list[RowRule]:
    raw, typed, name = col.raw_ident, col.ident, col.name
    rules: list[RowRule] = []
    if col.required:
        rules.append(RowRule("missing_required", name, f"{raw} is null",
                             sql_str(f"champ obligatoire « {name} » vide")))
    if col.kind in FORMATS_FR:
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
        else:
            b = f'"{r.other}"'
            op = {"not_after": ">", "not_before": "<", "after": "<="}[r.rule]
            cond = f"{a} {op} {b}"
        out.append(RowRule(r.code, r.column, cond, sql_str(r.description)))
    return out


def row_rules(contract: Contract, as_of: date) -> list[RowRule]:
    rules = [rule for col in contract.columns for rule in column_rules(col, as_of)]
    return rules + cross_rules(contract)
