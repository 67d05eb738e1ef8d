"""Loading one partner file: read, type, apply row rules, quarantine, validate, log.

One file is one transaction: either every accepted line, every quarantined line, the
skipped-line counts and the log row go in together, or nothing does (the log row of a
rejected file is written after the rollback, so the data tables stay exactly as they were).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb

from pipelines.contracts import Contract, load_contract, sql_str
from pipelines.ingest.read import FileShape, UnreadableFile, read_records
from pipelines.ingest.rules import row_rules, typed_expr
from pipelines.validate import ValidationReport, expected_min_rows, validate_batch
from pipelines.warehouse import staging_table


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

    def as_dict(self) -> dict:
        return asdict(self)


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _next_id(con) -> int:
    return con.execute("select nextval('ingest_id_seq')").fetchone()[0]


def _log(con, ingest_id: int, path: str, contract: Contract, sha: str | None, res: IngestResult,
         shape: FileShape | None, report: ValidationReport | None) -> None:
    fmt = None
    if shape is not None:
        fmt = "xlsx" if shape.kind == "xlsx" else f"csv {shape.encoding} {shape.delimiter!r}"
    con.execute(
        "insert into ingest_log values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [ingest_id, path, contract.source, sha, res.rows_read, res.rows_loaded, res.rows_quarantined,
         res.rows_skipped, res.status, res.message, None if report is None else report.success,
         None if report is None else json.dumps([o.as_dict() for o in report.outcomes]),
         fmt, contract.version, datetime.now()])


def _typed_select(contract: Contract, shape: FileShape, as_of: date) -> str:
    """SQL over `_rec` giving raw and typed columns, the row's reason codes and reasons."""
    allow_serial = shape.kind == "xlsx"
    n_header = len(shape.header)
    raw_cols = []
    for col in contract.columns:
        idx = shape.mapping.get(col.name)
        value = f"nullif(trim(fields[{idx}]), '')" if idx else "cast(null as varchar)"
        raw_cols.append(f"{value} as {col.raw_ident}")
    extra = ("json_object(" + ", ".join(f"{sql_str(name)}, fields[{idx}]" for name, idx in shape.extras) + ")"
             if shape.extras else "cast(null as json)")
    typed_cols = [f"{typed_expr(col, allow_serial)} as {col.ident}" for col in contract.columns]
    rules = row_rules(contract, as_of)
    shape_rule = (f"len(fields) < {n_header} or (len(fields) > {n_header} and "
                  f"len(list_filter(fields[{n_header + 1}:], lambda x: trim(x) <> '')) > 0)")
    codes = ", ".join([f"case when {shape_rule} then 'bad_row_shape' end"] +
                      [f"case when {r.fails_sql} then {sql_str(r.code)} end" for r in rules])
    reasons = ", ".join(
        [f"case when {shape_rule} then 'nombre de champs (' || len(fields) || ') différent de l''en-tête ({n_header}) : "
         f"séparateur non protégé par des guillemets ?' end"] +
        [f"case when {r.fails_sql} then {r.reason_sql} end" for r in rules])
    first_field = "lower(trim(coalesce(list_filter(fields, lambda x: trim(x) <> '')[1], '')))"
    return f"""
        with src as (
            select ln, raw, fields, {', '.join(raw_cols)}, {extra} as extra_columns,
                   case when len(list_filter(fields, lambda x: trim(x) <> '')) = 0 then 'blank_line'
                        when starts_with({first_field}, 'total') then 'total_line' end as skip_reason
            from _rec
        ),
        typed as (select *, {', '.join(typed_cols)} from src where skip_reason is null)
        select *, list_filter([{codes}], lambda x: x is not null) as reason_codes,
                  list_filter([{reasons}], lambda x: x is not null) as reasons
        from typed"""


def _source_key_sql(contract: Contract) -> str:
    parts = []
    for name in contract.source_key:
        col = contract.column(name)
        ident = col.ident
        parts.append(f"strftime({ident}, '%Y-%m-%d')" if col.kind == "date" else ident)
    return "concat_ws('|', " + ", ".join(parts) + ")"


def _previous_volume(con, contract: Contract) -> int | None:
    """Rows loaded by the previous batch of the same partner (same landlord for `bailleur`)."""
    table = staging_table(contract.source)
    if contract.volume_group:
        group = con.execute(f'select any_value("{contract.volume_group}") from _typed_ok').fetchone()[0]
        row = con.execute(
            f'select ingest_id, count(*) from {table} where "{contract.volume_group}" = ? '
            f"group by ingest_id order by ingest_id desc limit 1", [group]).fetchone()
    else:
        row = con.execute(f"select ingest_id, count(*) from {table} group by ingest_id "
                          f"order by ingest_id desc limit 1").fetchone()
    return None if row is None else row[1]


def _load_batch(con, contract: Contract, shape: FileShape, ingest_id: int, path_str: str,
                as_of: date) -> tuple[IngestResult, ValidationReport]:
    con.execute(f"create or replace temp table _typed as {_typed_select(contract, shape, as_of)}")
    con.execute("create or replace temp table _typed_ok as select * from _typed where len(reason_codes) = 0")
    rows_read = con.execute("select count(*) from _rec").fetchone()[0]
    # Great Expectations on the accepted batch, before it is written
    min_rows = expected_min_rows(_previous_volume(con, contract), contract.min_volume_ratio)
    cols = ", ".join(c.ident for c in contract.columns)
    frame = con.sql(f"select ln as line_number, {cols} from _typed_ok").to_arrow_table().to_pandas()
    report = validate_batch(frame, contract, as_of, min_rows)
    failing = report.failing_lines
    if failing:  # a line the SQL rules let through but the suite refuses: quarantined too
        con.execute("create or replace temp table _gx_fail (ln bigint, reason varchar)")
        con.executemany("insert into _gx_fail values (?, ?)",
                        [[ln, "refusée par Great Expectations : " + ", ".join(e)] for ln, e in failing.items()])
        con.execute("update _typed set reason_codes = ['gx_expectation'], reasons = [f.reason] "
                    "from _gx_fail f where _typed.ln = f.ln")
        con.execute("delete from _typed_ok where ln in (select ln from _gx_fail)")
    src = sql_str(contract.source)
    fp = sql_str(path_str)
    con.execute(f"""
        insert into quarantine
        select {ingest_id}, {src}, {fp}, ln, raw, reason_codes[1], array_to_string(reasons, ' ; '), reason_codes
        from _typed where len(reason_codes) > 0""")
    con.execute(f"""
        insert into skipped_lines
        select {ingest_id}, {src}, {fp}, ln, skip_reason from (
            select ln, case when len(list_filter(fields, lambda x: trim(x) <> '')) = 0 then 'blank_line'
                            else 'total_line' end as skip_reason
            from _rec where ln not in (select ln from _typed))""")
    con.execute(f"""
        insert into {staging_table(contract.source)}
        select {ingest_id}, {fp}, ln, {_source_key_sql(contract)}, {cols}, extra_columns from _typed_ok""")
    loaded = con.execute("select count(*) from _typed_ok").fetchone()[0]
    quarantined = con.execute("select count(*) from _typed where len(reason_codes) > 0").fetchone()[0]
    skipped = rows_read - loaded - quarantined
    res = IngestResult(path_str, contract.source, "loaded", rows_read, loaded, quarantined, skipped)
    messages = []
    considered = rows_read - skipped
    if considered and quarantined / considered > contract.max_quarantine_share:
        messages.append(f"{quarantined} lignes écartées sur {considered} "
                        f"(plus de {contract.max_quarantine_share:.0%}) : vérifiez l'export avec le partenaire")
    for o in report.failures():
        if o.expectation == "expect_table_row_count_to_be_between":
            messages.append(f"volume anormal : {o.observed} lignes chargées, au moins {min_rows} attendues "
                            f"d'après l'envoi précédent : l'export est-il complet ?")
        elif o.level == "batch":
            messages.append(f"contrôle de lot en échec : {o.expectation} sur {o.column} (observé {o.observed})")
        else:
            messages.append(f"{o.unexpected_count} ligne(s) refusée(s) par {o.expectation} sur {o.column}")
    if quarantined:
        messages.insert(0, f"{quarantined} ligne(s) mise(s) en quarantaine : `vigie quarantine --source {contract.source}`")
    res.message = " ; ".join(messages)
    res.needs_attention = bool(quarantined) or not report.success or len(messages) > 0
    res.validation = [o.as_dict() for o in report.outcomes]
    return res, report


def ingest_file(con: duckdb.DuckDBPyConnection, source: str, path: Path, as_of: date | None = None) -> IngestResult:
    """Load one file of `source` into the warehouse; never raises on bad input."""
    contract = load_contract(source)
    as_of = as_of or date.today()
    path = Path(path)
    path_str = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        res = IngestResult(path_str, source, "rejected", message=f"fichier illisible ({exc.strerror}) : vérifiez le chemin et les droits",
                           needs_attention=True)
        _log(con, _next_id(con), path_str, contract, None, res, None, None)
        return res
    sha = file_sha256(data)
    done = con.execute("select file_path from ingest_log where sha256 = ? and source = ? and status = 'loaded' limit 1",
                       [sha, source]).fetchone()
    if done:
        res = IngestResult(path_str, source, "already_loaded", sha256=sha,
                           message=f"contenu déjà chargé (depuis {done[0]}) : rien n'a changé")
        _log(con, _next_id(con), path_str, contract, sha, res, None, None)
        return res
    ingest_id = _next_id(con)
    shape = None
    con.execute("begin transaction")
    try:
        shape = read_records(con, path, data, contract)
        res, report = _load_batch(con, contract, shape, ingest_id, path_str, as_of)
        res.sha256 = sha
        _log(con, ingest_id, path_str, contract, sha, res, shape, report)
        con.execute("commit")
    except UnreadableFile as exc:
        con.execute("rollback")
        res = IngestResult(path_str, source, "rejected", message=exc.message, needs_attention=True, sha256=sha)
        _log(con, ingest_id, path_str, contract, sha, res, shape, None)
    except Exception:
        con.execute("rollback")
        raise
    finally:
        for t in ("_rec", "_typed", "_typed_ok", "_gx_fail"):
            con.execute(f"drop table if exists {t}")
    return res


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
