"""Loading one partner file: read, type, apply row rules, quarantine, validate, log.

One file is one transaction: either every accepted line, every quarantined line, the
skipped-line counts and the log row go in together, or nothing does (the log row of a
rejected file is written after the rollback, so the data tables stay exactly as they were).
"""
from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from pipelines.contracts import Contract, load_contract, sql_str
from pipelines.ingest.read import FileShape, UnreadableFile, fill_raw_lines, read_records
from pipelines.ingest.rules import helper_expr, helper_ident, row_rules, typed_expr
from pipelines.validate import (ExpectationOutcome, expected_min_rows, future_date_columns,
                                validate_files, validate_rows)
from pipelines.warehouse import first_row, scalar, staging_table
from vigie.config import GX_ROW_SAMPLE


@dataclass
class IngestResult:
    file_path: str
    source: str
    status: str                 # loaded | already_loaded | rejected
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rows_skipped: int = 0
    message: str = ""
    needs_attention: bool = False   # quarantined rows, a failed expectation, a rejected file
    validation: list[dict] = field(default_factory=list)
    sha256: str | None = None
    ingest_id: int | None = None
    min_rows: int = 0
    file_format: str | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _next_id(con) -> int:
    return scalar(con, "select nextval('ingest_id_seq')")


def _log(con, ingest_id: int, contract: Contract, res: IngestResult) -> None:
    con.execute(
        "insert into ingest_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [ingest_id, res.file_path, contract.source, res.sha256, res.rows_read, res.rows_loaded,
         res.rows_quarantined, res.rows_skipped, res.status, res.message, None, None,
         res.file_format, contract.version, datetime.now()])


def _as_text(shape: FileShape, idx: int, native: dict[int, str]) -> str:
    return f"cast(c{idx} as varchar)" if idx in native else f"c{idx}"


def skip_reason_sql(shape: FileShape, native: dict[int, str], contract: Contract) -> str:
    """'blank_line', 'total_line', 'not_worked' or NULL for a line, from its first non-empty
    field (and, where the contract says so, from its return columns all being empty)."""
    first = "coalesce(" + ", ".join(f"nullif(trim({_as_text(shape, i, native)}), '')"
                                    for i in range(1, len(shape.header) + 1)) + ")"
    worked = [shape.mapping[c] for c in contract.skip_when_empty if c in shape.mapping]
    not_worked = ("when coalesce(" + ", ".join(f"nullif(trim({_as_text(shape, i, native)}), '')" for i in worked)
                  + ") is null then 'not_worked' ") if worked else ""
    return (f"(case when {first} is null then 'blank_line' "
            f"when starts_with(lower({first}), 'total') then 'total_line' {not_worked}end)")


def _typed_select(contract: Contract, shape: FileShape, as_of: date, source: str = "_rec",
                  native_by_name: dict[str, str] | None = None) -> str:
    """SQL over `source` (ln, raw, shape_bad, c1..cN): one row per data line that is not blank nor
    TOTAL, with typed columns, `bad`, and for bad lines their reason codes and sentences. Columns in
    `native_by_name` arrive already typed by DuckDB's reader; the others are text typed here."""
    native_by_name = native_by_name or {}
    native = {shape.mapping[name]: t for name, t in native_by_name.items()}
    n_header = len(shape.header)
    raw_cols = []
    for col in contract.columns:
        idx = shape.mapping.get(col.name)
        if idx in native:
            raw_cols.append(f"c{idx} as {col.raw_ident}")
        else:
            # trim only what needs it: trim() on every value costs seconds on millions of lines
            value = (f"nullif(case when c{idx} like ' %' or c{idx} like '% ' then trim(c{idx}) else c{idx} end, '')"
                     if idx else "cast(null as varchar)")
            raw_cols.append(f"{value} as {col.raw_ident}")
    extra = ("json_object(" + ", ".join(f"{sql_str(name)}, c{idx}" for name, idx in shape.extras) + ")"
             if shape.extras and contract.keep_extra_columns else "cast(null as json)")
    helpers = [f"{helper_expr(c)} as {helper_ident(c)}" for c in contract.columns
               if helper_expr(c) and c.name not in native_by_name]
    typed_cols = [(col.raw_ident if col.name in native_by_name else typed_expr(col, shape.kind == "xlsx"))
                  + f" as {col.ident}" for col in contract.columns]
    rules = row_rules(contract, as_of, set(native_by_name))
    shape_reason = (f"'plus de champs que les {n_header} colonnes de l''en-tête : "
                    f"séparateur non protégé par des guillemets ?'")
    any_bad = " or ".join(["shape_bad"] + [f"coalesce({r.fails_sql}, false)" for r in rules])
    codes = ", ".join(["case when shape_bad then 'bad_row_shape' end"] +
                      [f"case when {r.fails_sql} then {sql_str(r.code)} end" for r in rules])
    reasons = ", ".join([f"case when shape_bad then {shape_reason} end"] +
                        [f"case when {r.fails_sql} then {r.reason_sql} end" for r in rules])
    typed_names = ", ".join(c.ident for c in contract.columns)
    return f"""
        with src as (
            select ln, raw, shape_bad, {', '.join(raw_cols)}, {extra} as extra_columns
            from {source}
            where {skip_reason_sql(shape, native, contract)} is null
        ),
        prep as (select *{''.join(', ' + h for h in helpers)} from src),
        typed as (select *, {', '.join(typed_cols)} from prep),
        flagged as (select *, ({any_bad}) as bad from typed)
        select ln, bad, case when bad then raw end as raw, extra_columns, {typed_names},
               case when bad then list_filter([{codes}], lambda x: x is not null) end as reason_codes,
               case when bad then list_filter([{reasons}], lambda x: x is not null) end as reasons
        from flagged"""


def _previous_volume(con, contract: Contract) -> int | None:
    """Rows loaded by the previous batch of the same partner (same landlord for `bailleur`)."""
    if contract.volume_group:
        table = staging_table(contract.source)
        group = scalar(con, f'select any_value("{contract.volume_group}") from _typed where not bad')
        return scalar(con, f'select count(*) from {table} where "{contract.volume_group}" = ? and ingest_id = '
                           f'(select max(ingest_id) from {table} where "{contract.volume_group}" = ?)', [group, group]) or None
    return scalar(con, "select rows_loaded from ingest_log where source = ? and status = 'loaded' "
                       "order by ingest_id desc limit 1", [contract.source])


def _load_batch(con, contract: Contract, shape: FileShape, ingest_id: int, path_str: str,
                as_of: date, data: bytes) -> IngestResult:
    # the lines read: the fast reader's (some columns typed natively) and the exact path's (all text)
    inputs = [("_rec", shape.native)]
    if shape.slow_table and scalar(con, f"select count(*) from {shape.slow_table}"):
        inputs.append((shape.slow_table, {}))  # (compiling the typing SQL costs ~50 ms: only when needed)
    con.execute(f"create or replace temp table _typed as {_typed_select(contract, shape, as_of, *inputs[0])}")
    for table, native in inputs[1:]:
        con.execute(f"insert into _typed {_typed_select(contract, shape, as_of, table, native)}")
    rows_read = sum(scalar(con, f"select count(*) from {table}") for table, _ in inputs)
    if shape.kind == "csv":
        fill_raw_lines(con, "_typed", "bad and raw is null", data, shape)
    src, fp = sql_str(contract.source), sql_str(path_str)
    con.execute(f"""
        insert into quarantine
        select {ingest_id}, {src}, {fp}, ln, raw, reason_codes[1], array_to_string(reasons, ' ; '), reason_codes
        from _typed where bad""")
    for table, native in inputs:
        by_index = {shape.mapping[name]: t for name, t in native.items()}
        con.execute(f"""
            insert into skipped_lines
            select {ingest_id}, {src}, {fp}, ln, {skip_reason_sql(shape, by_index, contract)}
            from {table} t anti join _typed using (ln)""")
    min_rows = expected_min_rows(_previous_volume(con, contract), contract.min_volume_ratio)
    cols = ", ".join(c.ident for c in contract.columns)
    con.execute(f"""
        insert into {staging_table(contract.source)}
        select {ingest_id}, ln, {cols}, extra_columns
        from _typed where not bad""")
    # counted on the file's own lines (scanning the growing staging and quarantine tables for
    # this ingest_id made every file slower than the one before)
    loaded, quarantined = first_row(con, "select count(*) filter (where not bad), count(*) filter (where bad) from _typed")
    res = IngestResult(path_str, contract.source, "loaded", rows_read, loaded, quarantined,
                       rows_read - loaded - quarantined, ingest_id=ingest_id, min_rows=min_rows)
    res.file_format = "xlsx" if shape.kind == "xlsx" else f"csv {shape.encoding} {shape.delimiter!r}"
    return res


def ingest_file(con: duckdb.DuckDBPyConnection, source: str, path: Path, as_of: date | None = None) -> IngestResult:
    """Load one file of `source` in one transaction; never raises on bad input.
    Great Expectations runs afterwards on all the files of a call (see `validate_loaded`)."""
    contract = load_contract(source)
    as_of = as_of or date.today()
    path = Path(path)
    res = IngestResult(str(path), source, "rejected", needs_attention=True)
    try:
        data = path.read_bytes()
    except OSError as exc:
        res.message = f"fichier illisible ({exc.strerror}) : vérifiez le chemin et les droits"
        _log(con, _next_id(con), contract, res)
        return res
    ingest_id = _next_id(con)
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(file_sha256, data)  # hashlib releases the GIL: hashing overlaps reading
        shape, unreadable = None, None
        try:
            # reading fills connection-local temporary tables only: the warehouse is not touched yet
            shape = read_records(con, path, data, contract)
            if scalar(con, "select count(*) from _rec") == 0:
                raise UnreadableFile("header_only", "le fichier ne contient que la ligne d'en-tête, aucune donnée : "
                                                    "demandez au partenaire un export complet")
        except UnreadableFile as exc:
            unreadable = exc
        res.sha256 = digest.result()
    done = first_row(con, "select file_path from ingest_log where sha256 = ? and source = ? and status = 'loaded' limit 1",
                     [res.sha256, source])
    if done or unreadable:
        _drop_temporary(con)
        if done:
            res.status, res.needs_attention = "already_loaded", False
            res.message = f"contenu déjà chargé (depuis {done[0]}) : rien n'a changé"
        else:
            res.message = unreadable.message
        _log(con, ingest_id, contract, res)
        return res
    con.execute("begin transaction")
    try:
        loaded = _load_batch(con, contract, shape, ingest_id, str(path), as_of, data)
        loaded.sha256 = res.sha256
        if loaded.rows_quarantined:
            loaded.message = (f"{loaded.rows_quarantined} ligne(s) mise(s) en quarantaine : "
                              f"`vigie quarantine --source {source}`")
            loaded.needs_attention = True
        _log(con, ingest_id, contract, loaded)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        _drop_temporary(con)
    return loaded


def _drop_temporary(con) -> None:
    for v in ("_rec", "_fast"):
        con.execute(f"drop view if exists {v}")
    for t in ("_typed", "_parsed", "_lines", "_fields", "_rejects", "_rejects_scan", "_rejected", "_slow", "_tail"):
        con.execute(f"drop table if exists {t}")


def validate_loaded(con: duckdb.DuckDBPyConnection, source: str, results: list[IngestResult],
                    as_of: date | None = None) -> list[ExpectationOutcome]:
    """Great Expectations on the batches just loaded: the row suite on their rows, the batch
    suite on one row per file. Lines the suite refuses move to quarantine; each file's
    log row gets its validation outcome and plain-words message."""
    contract = load_contract(source)
    as_of = as_of or date.today()
    loaded = [r for r in results if r.status == "loaded"]
    if not loaded:
        return []
    ids = ", ".join(str(r.ingest_id) for r in loaded)
    table = staging_table(source)
    cols = ", ".join(c.ident for c in contract.columns)
    total = sum(r.rows_loaded for r in loaded)
    # past GX_ROW_SAMPLE lines, a seeded sample of whole storage blocks (no full scan)
    share = 100.0 * GX_ROW_SAMPLE / total if total else 100.0
    sample = f" using sample {share:.4f}% (system, 7)" if total > GX_ROW_SAMPLE else ""
    rows = con.sql(f"select ingest_id, line_number, {cols} from {table} where ingest_id in ({ids}){sample}"
                   ).to_arrow_table().to_pandas()
    row_outcomes = validate_rows(rows, contract, as_of)
    dates = future_date_columns(contract)
    maxes = "".join(f', max(year("{d}") * 10000 + month("{d}") * 100 + day("{d}")) as "max_{d}"' for d in dates)
    stats = con.sql(f"select ingest_id{maxes} from {table} where ingest_id in ({ids}) group by ingest_id").to_arrow_table().to_pandas()
    summary = pd.DataFrame([{
        "ingest_id": r.ingest_id, "file_path": r.file_path, "rows_loaded": r.rows_loaded, "min_rows": r.min_rows,
        "quarantine_share": r.rows_quarantined / max(1, r.rows_read - r.rows_skipped)} for r in loaded])
    summary = summary.merge(stats, on="ingest_id", how="left").drop(columns=["ingest_id"])
    batch_outcomes = validate_files(summary, contract, as_of)
    refused: dict[tuple, list[str]] = {}
    for o in row_outcomes:
        for key in o.unexpected:
            refused.setdefault((int(key[0]), int(key[1])), []).append(f"{o.expectation}({o.column})")
    con.execute("begin transaction")
    try:
        if refused:
            _quarantine_refused(con, contract, refused)
        for r in loaded:
            _record_validation(con, contract, r, row_outcomes, batch_outcomes, refused,
                               int((rows["ingest_id"] == r.ingest_id).sum()))
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    return row_outcomes + batch_outcomes


def _quarantine_refused(con, contract: Contract, refused: dict[tuple, list[str]]) -> None:
    con.execute("create or replace temp table _refused (ingest_id bigint, line_number bigint, reason varchar)")
    con.executemany("insert into _refused values (?, ?, ?)",
                    [[i, ln, "refusée par Great Expectations : " + ", ".join(e)] for (i, ln), e in refused.items()])
    table = staging_table(contract.source)
    con.execute(f"""
        insert into quarantine
        select s.ingest_id, {sql_str(contract.source)}, g.file_path, s.line_number, cast(to_json(s) as varchar),
               'gx_expectation', r.reason, ['gx_expectation']
        from {table} s join _refused r using (ingest_id, line_number) join ingest_log g using (ingest_id)""")
    con.execute(f"delete from {table} s using _refused r where s.ingest_id = r.ingest_id and s.line_number = r.line_number")
    con.execute("drop table _refused")


def _record_validation(con, contract: Contract, r: IngestResult, row_outcomes, batch_outcomes, refused,
                       checked: int) -> None:
    moved = sum(1 for (i, _ln) in refused if i == r.ingest_id)
    r.rows_loaded -= moved
    r.rows_quarantined += moved
    messages = [r.message] if r.message else []
    file_failures = [o for o in batch_outcomes if not o.success and (r.file_path,) in o.unexpected]
    for o in file_failures:
        if o.column == "rows_loaded >= min_rows":
            messages.append(f"volume anormal : {r.rows_loaded} lignes chargées, au moins {r.min_rows} attendues "
                            f"d'après l'envoi précédent du même partenaire : l'export est-il complet ?")
        elif o.column == "quarantine_share":
            messages.append(f"plus de {contract.max_quarantine_share:.0%} des lignes écartées : "
                            f"vérifiez l'export avec le partenaire")
        else:
            messages.append(f"date dans le futur ({o.column}) : vérifiez la date d'extraction")
    if moved:
        messages.append(f"{moved} ligne(s) refusée(s) par Great Expectations, mises en quarantaine")
    success = not file_failures and not moved
    r.message = " ; ".join(messages)
    r.needs_attention = r.needs_attention or not success
    r.validation = [o.as_dict() for o in row_outcomes + batch_outcomes]
    own = [{"rows_checked_by_row_suite": checked}] + [{"expectation": o.expectation, "column": o.column, "level": o.level,
            "success": not any(u[0] == r.ingest_id for u in o.unexpected) if o.level == "row"
            else (r.file_path,) not in o.unexpected}
           for o in row_outcomes + batch_outcomes]
    con.execute("update ingest_log set rows_loaded = ?, rows_quarantined = ?, message = ?, "
                "validation_success = ?, validation = ? where ingest_id = ?",
                [r.rows_loaded, r.rows_quarantined, r.message, success, json.dumps(own), r.ingest_id])


def ingest_files(con: duckdb.DuckDBPyConnection, source: str, paths: list[Path], as_of: date | None = None,
                 on_file=None) -> tuple[list[IngestResult], list[ExpectationOutcome]]:
    """Ingest files (or folders) of one source, then validate what was loaded."""
    results = []
    for path in iter_files(paths):
        results.append(ingest_file(con, source, path, as_of))
        if on_file:
            on_file(results[-1])
    return results, validate_loaded(con, source, results, as_of)


def iter_files(paths: list[Path]) -> list[Path]:
    """Files given, and the files inside folders given (sorted, hidden files left out)."""
    out: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            out.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")))
        else:
            out.append(p)
    return out
