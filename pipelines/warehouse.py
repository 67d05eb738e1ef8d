"""Opening the warehouse and creating its tables (schema.sql + staging DDL from contracts)."""
from __future__ import annotations

import os
import re
import time
from collections import namedtuple
from collections.abc import Iterator
from pathlib import Path

import duckdb

from pipelines.contracts import Contract, all_contracts
from vigie.config import WAREHOUSE_SQL_DIR

SQL_TYPES = {"date": "date", "amount": "decimal(14,2)", "integer": "integer", "boolean": "boolean"}


class WarehouseBusy(Exception):
    """Another Vigie process holds the warehouse."""


def staging_table(source: str) -> str:
    return f"staging_{source}"


def staging_ddl(contract: Contract) -> str:
    cols = ",\n    ".join(f"{c.ident} {SQL_TYPES.get(c.kind, 'varchar')}" for c in contract.columns)
    return (f"create table if not exists {staging_table(contract.source)} (\n"
            f"    ingest_id bigint not null,\n"
            f"    line_number bigint not null,\n"
            f"    {cols},\n    extra_columns json\n)")


def source_key_sql(contract: Contract) -> str:
    """The record's key as INTERFACES.md writes it: fields joined by '|', dates as yyyy-mm-dd."""
    parts = []
    for name in contract.source_key:
        col = contract.column(name)
        parts.append(f"strftime({col.ident}, '%Y-%m-%d')" if col.kind == "date" else col.ident)
    return "concat_ws('|', " + ", ".join(parts) + ")"


def source_records_view(contracts: list[Contract]) -> str:
    """Latest version of each key (staging tables keep every version; the file path is the log's)."""
    parts = [f"select '{c.source}' as source, {source_key_sql(c)} as source_key, line_number, ingest_id "
             f"from {staging_table(c.source)}" for c in contracts]
    return ("create or replace view source_records as\n"
            "with versions as (\n    " + "\n    union all\n    ".join(parts) + "\n),\n"
            "latest as (\n    select *, row_number() over (partition by source, source_key "
            "order by ingest_id desc, line_number desc) as version_rank from versions\n)\n"
            "select l.source, l.source_key, g.file_path, l.line_number, l.ingest_id, h.household_id\n"
            "from latest l join ingest_log g on g.ingest_id = l.ingest_id\n"
            "left join record_households h on h.source = l.source and h.source_key = l.source_key\n"
            "where version_rank = 1")


def lock_wait_seconds() -> float:
    """How long a command waits for another one to release the warehouse ($VIGIE_LOCK_WAIT_SECONDS, 60 s)."""
    try:
        return max(0.0, float(os.environ.get("VIGIE_LOCK_WAIT_SECONDS", "60")))
    except ValueError:
        return 60.0


def connect(path: Path | str, read_only: bool = False, wait: float | None = None) -> duckdb.DuckDBPyConnection:
    """Open the warehouse; if another process holds it, wait (bounded) then raise WarehouseBusy."""
    path = Path(path)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    wait = lock_wait_seconds() if wait is None else wait
    deadline = time.monotonic() + wait
    while True:
        try:
            con = duckdb.connect(str(path), read_only=read_only)
            break
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise WarehouseBusy(
                    f"l'entrepôt {path} est utilisé par un autre traitement Vigie depuis plus de {wait:.0f} s : "
                    "attendez qu'il se termine puis relancez (VIGIE_LOCK_WAIT_SECONDS règle l'attente)") from exc
            time.sleep(0.25)
    if not read_only:
        init_schema(con)
    return con


def init_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute((WAREHOUSE_SQL_DIR / "schema.sql").read_text(encoding="utf-8"))
    contracts = all_contracts()
    for contract in contracts:
        con.execute(staging_ddl(contract))
    con.execute(source_records_view(contracts))


def recreate_table(con: duckdb.DuckDBPyConnection, table: str) -> None:
    """Empty a table by dropping it and creating it again from schema.sql. For a table with a
    primary key, `delete` costs DuckDB a long commit (13 s for 180 000 households) where this
    costs nothing."""
    schema = (WAREHOUSE_SQL_DIR / "schema.sql").read_text(encoding="utf-8")
    ddl = re.search(rf"create table if not exists {table} \(.*?\);", schema, re.S | re.I)
    if ddl is None:
        raise LookupError(f"{table} is not in warehouse/schema.sql")
    con.execute(f"drop table {table}")
    con.execute(ddl.group(0))


def first_row(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple | None:
    """The first row of a query, or None (fetches the whole result: DuckDB 2.0 keeps an
    unfinished result open otherwise and refuses the next statement)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None):
    row = first_row(con, sql, params)
    return None if row is None else row[0]


def plain_rows(df, columns=None) -> Iterator[tuple]:
    """A frame's rows as named tuples of plain Python values, over `columns` only (default: all).
    `itertuples` walks pandas' Arrow-backed strings value by value: many times slower."""
    columns = list(df.columns if columns is None else columns)
    return map(namedtuple("Row", columns)._make, zip(*(df[c].to_numpy(dtype=object) for c in columns)))
