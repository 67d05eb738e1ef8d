"""Loading partner files: read, type, apply row rules, quarantine, validate, log.

Files are read and typed in batches (up to BATCH_FILES files, BATCH_LINES lines); a batch
goes into the warehouse in one transaction: every accepted line, every quarantined line,
the skipped lines and the log rows of its files go in together, or nothing does. A file
that cannot be read is logged on its own and leaves the data tables exactly as they were.
"""
from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa

from pipelines.contracts import Contract, load_contract, sql_str
from pipelines.ingest.read import (
    WORKING_TABLES,
    FileShape,
    UnreadableFile,
    drop_objects,
    line_texts,
    read_records,
    reader_objects,
)
from pipelines.ingest.rules import helper_expr, helper_ident, row_rules, typed_expr
from pipelines.validate import (
    ExpectationOutcome,
    expected_min_rows,
    future_date_columns,
    gx_select_sql,
    validate_files,
    validate_rows,
    yyyymmdd_sql,
)
from pipelines.warehouse import scalar, staging_table
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


class _Ids:
    """Ingest ids for the files of a call, drawn from the sequence a batch's worth at a time (a
    statement per file cost about half a millisecond: much of a 60-line file's time)."""

    def __init__(self, con, files: int):
        self.con, self.left, self.ids = con, files, []

    def next(self) -> int:
        if not self.ids:
            n = min(max(self.left, 1), BATCH_FILES)
            self.ids = sorted((i for (i,) in self.con.execute(
                "select nextval('ingest_id_seq') from range(?)", [n]).fetchall()), reverse=True)
        self.left -= 1
        return self.ids.pop()


def _loaded_contents(con, contract: Contract) -> dict[str, str]:
    """sha256 -> the file that first brought that content, for the source's loaded files."""
    return dict(con.execute("select sha256, arg_min(file_path, ingest_id) from ingest_log "
                            "where source = ? and status = 'loaded' group by sha256", [contract.source]).fetchall())


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
    # a first field that starts with a printable ASCII character other than t or T is neither
    # blank nor a TOTAL: most lines, told apart without trimming every field (0.6 s on 5 M lines)
    plain = "c1 is not null" if 1 in native else "ascii(c1) between 33 and 126 and ascii(c1) not in (84, 116)"
    return (f"(case when {plain} then {'(case ' + not_worked + 'end)' if worked else 'null'} "
            f"when {first} is null then 'blank_line' "
            f"when starts_with(lower({first}), 'total') then 'total_line' {not_worked}end)")


def _group_records(contract: Contract, shape: FileShape, records: str, native_by_name: dict[str, str]) -> str:
    """SQL over one group's records (_file, ln, raw, shape_bad, c1..cN, of files of one shape): its
    data lines that are not blank nor TOTAL, with the contract's columns by name (as text, or as
    DuckDB's reader typed them), the extra columns and the header's width. Every group of a kind
    and native types gives the same columns, so that one typing statement reads them all."""
    native = {shape.mapping[name]: t for name, t in native_by_name.items()}
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
    return (f"select _file, ln, raw, shape_bad, {', '.join(raw_cols)}, {extra} as extra_columns, "
            f"{len(shape.header)} as _header_width from {records} where {skip_reason_sql(shape, native, contract)} is null")


def _typed_select(contract: Contract, kind: str, as_of: date, groups: list[str],
                  native_by_name: dict[str, str] | None = None) -> str:
    """SQL over `groups` (`_group_records` of files of one kind and native types): one row per data
    line, with typed columns, `bad`, and for bad lines their reason codes and sentences. Columns
    in `native_by_name` arrive already typed by DuckDB's reader; the others are text typed here."""
    native_by_name = native_by_name or {}
    helpers = [f"{helper_expr(c)} as {helper_ident(c)}" for c in contract.columns
               if helper_expr(c) and c.name not in native_by_name]
    typed_cols = [(col.raw_ident if col.name in native_by_name else typed_expr(col, kind == "xlsx"))
                  + f" as {col.ident}" for col in contract.columns]
    rules = row_rules(contract, as_of, set(native_by_name))
    shape_reason = ("'plus de champs que les ' || _header_width || ' colonnes de l''en-tête : "
                    "séparateur non protégé par des guillemets ?'")
    any_bad = " or ".join(["shape_bad"] + [f"coalesce({r.fails_sql}, false)" for r in rules])
    codes = ", ".join(["case when shape_bad then 'bad_row_shape' end"] +
                      [f"case when {r.fails_sql} then {sql_str(r.code)} end" for r in rules])
    reasons = ", ".join([f"case when shape_bad then {shape_reason} end"] +
                        [f"case when {r.fails_sql} then {r.reason_sql} end" for r in rules])
    typed_names = ", ".join(c.ident for c in contract.columns)
    return f"""
        with src as ({" union all ".join(groups)}),
        prep as (select *{''.join(', ' + h for h in helpers)} from src),
        typed as (select *, {', '.join(typed_cols)} from prep),
        flagged as (select *, ({any_bad}) as bad from typed)
        select _file, ln, bad, case when bad then raw end as raw, extra_columns, {typed_names},
               case when bad then list_filter([{codes}], lambda x: x is not null) end as reason_codes,
               case when bad then list_filter([{reasons}], lambda x: x is not null) end as reasons
        from flagged"""


# Why batches: planning the typing SQL (a few hundred expressions generated from the contract)
# cost ~58 ms a file and each statement about a millisecond, more than executing them on a
# small file; the files of one shape are now typed by one statement and committed together.
# Reading and typing fill temporary tables only, so a crash or an error leaves whole files only.
BATCH_FILES = 64
BATCH_LINES = 500_000
BATCH_BYTES = 256 << 20
# a file of fewer lines is copied into its batch (see _Batch.add): measured both ways, copying
# won on the demo's 60-line files (6 ms a file), referring on the M city's 3 000-line ones (4 ms)
COPY_MAX_ROWS = 1_000


@dataclass
class _Read:
    """A file read into the batch's temporary tables, waiting for its transaction."""
    res: IngestResult
    shape: FileShape
    data: bytes
    slow_rows: int = 0  # lines the exact path read (in `shape.slow_table`)


class _Batch:
    def __init__(self, con, contract: Contract, as_of: date):
        self.con, self.contract, self.as_of = con, contract, as_of
        self.groups: dict[str, tuple] = {}   # shape's key -> (its relations, a shape, native types, its bin)
        self.bins: set[str] = set()          # the bins made so far (each one of the group's relations)
        self.waiting: list[_Read] = []
        self.arrows: dict[str, list[pa.Table]] = {}  # bin -> records read in Python, waiting for it
        self.lines = self.bytes = 0

    def full(self) -> bool:
        return (len(self.waiting) >= BATCH_FILES or self.lines >= BATCH_LINES or self.bytes >= BATCH_BYTES)

    def add(self, read: _Read) -> None:
        """Take a file's records (and the exact path's lines) into the batch, grouped by the SQL
        that will type them. Records read in Python wait as Arrow tables and join their group's
        table (its bin) together, before typing (`_fill_bins`). Of the readers' tables, few
        lines (a small file, a file's rejected lines) are copied into the bin; more are typed
        straight from the reader's tables, kept until the batch is committed (one more relation
        in a typing statement costs about as much as copying COPY_MAX_ROWS lines)."""
        shape, k = read.shape, read.res.ingest_id
        if shape.arrow is not None:  # no statement now
            self.arrows.setdefault(self._group(shape, {})[3], []).append(
                shape.arrow.add_column(0, "_file", pa.array([k] * shape.arrow.num_rows, pa.int64())))
            shape.arrow = None
            self._waiting(read)
            return
        inputs = [(shape.records_table, shape.native, read.res.rows_read - read.slow_rows)]
        if read.slow_rows:
            inputs.append((shape.slow_table, {}, read.slow_rows))
        referred = False
        for table, native, rows in inputs:
            group = self._group(shape, native)
            select = f"select {k} as _file, * from {table}"
            if rows >= COPY_MAX_ROWS:
                group[0].append(select)
                referred = True
            else:
                self._into_bin(group, select)
        if not referred:  # everything copied: the reader's tables are not needed any more
            drop_objects(self.con, shape.temporary)
            shape.temporary = []
        self._waiting(read)

    def _group(self, shape: FileShape, native: dict) -> tuple:
        # what the typing SQL depends on (see _typed_select), not the SQL itself: cheaper to build
        key = repr((shape.kind, len(shape.header), sorted(shape.mapping.items()), shape.extras, sorted(native.items())))
        return self.groups.setdefault(key, ([], shape, native, f"_bin{len(self.groups)}"))

    def _waiting(self, read: _Read) -> None:
        self.waiting.append(read)
        self.lines += read.res.rows_read
        self.bytes += len(read.data)

    def _into_bin(self, group: tuple, select: str) -> None:
        """`select`'s rows into the group's bin, made (and put first among the group's relations)
        the first time."""
        relations, _, _, bin_name = group
        if bin_name in self.bins:
            self.con.execute(f"insert into {bin_name} by name {select}")
        else:
            self.con.execute(f"create or replace temp table {bin_name} as {select}")
            relations.insert(0, f"select * from {bin_name}")
            self.bins.add(bin_name)

    def _fill_bins(self) -> None:
        """The records read in Python into their group's bin, one statement per group."""
        by_bin = {group[3]: group for group in self.groups.values()}
        for bin_name, tables in self.arrows.items():
            self.con.register("_arrow_records", pa.concat_tables(tables))
            try:
                self._into_bin(by_bin[bin_name], "select * from _arrow_records")
            finally:
                self.con.unregister("_arrow_records")
        self.arrows = {}

    def type_all(self) -> None:
        """`_btyped` (the typed data lines of every file, `_file` = its ingest id) and `_bskip`
        (blank, total and not-worked lines): one statement each for all the groups of one kind and
        native types (planning the typing SQL, some 20 ms, was most of a small source's time)."""
        self._fill_bins()
        con, first = self.con, True
        typing: dict[str, tuple[str, dict, list[str], list[str]]] = {}
        for relations, shape, native, _ in self.groups.values():
            records = "(" + " union all by name ".join(relations) + ")"
            _, _, groups, skips = typing.setdefault(repr((shape.kind, sorted(native.items()))), (shape.kind, native, [], []))
            groups.append(_group_records(self.contract, shape, records, native))
            skip = skip_reason_sql(shape, {shape.mapping[c]: t for c, t in native.items()}, self.contract)
            skips.append(f"select _file, ln, {skip} as reason from {records}")
        for kind, native, groups, skips in typing.values():
            sql = _typed_select(self.contract, kind, self.as_of, groups, native)
            con.execute(f"create or replace temp table _btyped as {sql}" if first else f"insert into _btyped by name {sql}")
            skip_rows = f"select _file, ln, reason from ({' union all '.join(skips)}) where reason is not null"
            con.execute(f"create or replace temp table _bskip as {skip_rows}" if first else f"insert into _bskip {skip_rows}")
            first = False

    def commit(self) -> list[IngestResult]:
        """Every file of the batch into the warehouse in one transaction, a few statements in all
        (DuckDB costs about a millisecond a statement: statements per file were most of the time
        spent on small files). A crash leaves the batch's files all there or all absent."""
        con, contract = self.con, self.contract
        firsts: dict[str, str] = {}
        for read in self.waiting:  # the same content twice in one batch: the second is not loaded
            res = read.res
            if res.sha256 in firsts:
                _already_loaded_as(res, firsts[res.sha256])
            firsts.setdefault(res.sha256, res.file_path)
        loading = [r for r in self.waiting if r.res.status != "already_loaded"]
        con.execute("begin transaction")
        try:
            self._fill_raw_lines(loading)
            con.register("_bfiles", pa.table({"_file": [r.res.ingest_id for r in loading],
                                              "file_path": [r.res.file_path for r in loading]}))
            src = sql_str(contract.source)
            con.execute(f"""
                insert into quarantine
                select _file, {src}, f.file_path, ln, raw, reason_codes[1], array_to_string(reasons, ' ; '), reason_codes
                from _btyped join _bfiles f using (_file) where bad""")
            con.execute(f"insert into skipped_lines select _file, {src}, f.file_path, ln, reason "
                        f"from _bskip join _bfiles f using (_file)")
            counts = {k: (n_ok, n_bad) for k, n_ok, n_bad in con.execute(
                "select _file, count(*) filter (where not bad), count(*) filter (where bad) from _btyped group by _file"
            ).fetchall()}
            min_rows = self._min_rows(loading, {k: n_ok for k, (n_ok, _) in counts.items()})
            cols = ", ".join(c.ident for c in contract.columns)
            con.execute(f"""
                insert into {staging_table(contract.source)}
                select _file, ln, {cols}, extra_columns from _btyped semi join _bfiles using (_file) where not bad""")
            for read in loading:
                res, shape = read.res, read.shape
                loaded, quarantined = counts.get(res.ingest_id, (0, 0))
                res.status, res.rows_loaded, res.rows_quarantined = "loaded", loaded, quarantined
                res.rows_skipped = res.rows_read - loaded - quarantined
                res.min_rows = min_rows[res.ingest_id]
                res.file_format = "xlsx" if shape.kind == "xlsx" else f"csv {shape.encoding} {shape.delimiter!r}"
                res.needs_attention = bool(quarantined)
                if quarantined:
                    res.message = (f"{quarantined} ligne(s) mise(s) en quarantaine : "
                                   f"`vigie quarantine --source {contract.source}`")
            _log(con, contract, [r.res for r in self.waiting])
            con.execute("commit")
        except BaseException:
            con.execute("rollback")
            raise
        finally:
            con.unregister("_bfiles")
        return [r.res for r in self.waiting]

    def _fill_raw_lines(self, loading: list[_Read]) -> None:
        """The exact text of the CSV lines set aside, from each file's bytes."""
        by_file = {r.res.ingest_id: r for r in loading if r.shape.kind == "csv"}
        wanted: dict[int, list[int]] = {}
        for k, ln in self.con.execute("select _file, ln from _btyped where bad and raw is null").fetchall():
            if k in by_file:
                wanted.setdefault(k, []).append(ln)
        if not wanted:
            return
        files, lns, raws = [], [], []
        for k, lines in wanted.items():
            read = by_file[k]
            files += [k] * len(lines)
            lns += lines
            raws += line_texts(read.data, read.shape, lines)
        self.con.register("_raw_text", pa.table({"_file": pa.array(files, pa.int64()), "ln": pa.array(lns, pa.int64()),
                                                 "raw": pa.array(raws, pa.string())}))
        self.con.execute("update _btyped set raw = r.raw from _raw_text r where _btyped._file = r._file and _btyped.ln = r.ln")
        self.con.unregister("_raw_text")

    def _min_rows(self, loading: list[_Read], loaded: dict[int, int]) -> dict[int, int]:
        """Rows each file should hold at least, from the previous batch of the same partner (the
        same landlord for `bailleur`), that batch being in the warehouse or earlier in this one."""
        con, contract = self.con, self.contract
        ratio, out = contract.min_volume_ratio, {}
        if not contract.volume_group:
            previous = scalar(con, "select rows_loaded from ingest_log where source = ? and status = 'loaded' "
                                   "order by ingest_id desc limit 1", [contract.source])
            for read in loading:
                out[read.res.ingest_id] = expected_min_rows(previous, ratio)
                previous = loaded.get(read.res.ingest_id, 0)
            return out
        group, table = f'"{contract.volume_group}"', staging_table(contract.source)
        in_file: dict[int, dict] = {}
        for k, g, n in con.execute(f"select _file, {group}, count(*) from _btyped where not bad and {group} is not null "
                                   f"group by all order by 3 desc, 2").fetchall():
            in_file.setdefault(k, {})[g] = n
        wanted = sorted({g for groups in in_file.values() for g in groups})
        previous = dict(con.execute(f"""
            select t.{group}, count(*) from {table} t
            join (select {group}, max(ingest_id) as latest from {table}
                  where {group} in (select unnest(?)) group by {group}) l
              on t.{group} = l.{group} and t.ingest_id = l.latest
            group by t.{group}""", [wanted]).fetchall()) if wanted else {}
        for read in loading:
            groups = in_file.get(read.res.ingest_id, {})
            main = next(iter(groups), None)  # the file's landlord: the one most of its lines name
            out[read.res.ingest_id] = expected_min_rows(previous.get(main), ratio)
            previous.update(groups)
        return out

    def drop(self) -> None:
        for read in self.waiting:
            drop_objects(self.con, read.shape.temporary)
        for name in [*self.bins, "_btyped", "_bskip"]:
            self.con.execute(f"drop table if exists {name}")


def _log(con, contract: Contract, results: list[IngestResult]) -> None:
    """The files' rows of `ingest_log`."""
    now, n = datetime.now(), len(results)
    ints, texts = pa.int64(), pa.string()
    rows = pa.table({  # one statement for the batch (executemany cost one a row)
        "ingest_id": pa.array([r.ingest_id for r in results], ints), "file_path": pa.array([r.file_path for r in results], texts),
        "source": pa.array([contract.source] * n, texts), "sha256": pa.array([r.sha256 for r in results], texts),
        **{k: pa.array([getattr(r, k) for r in results], ints) for k in ("rows_read", "rows_loaded", "rows_quarantined", "rows_skipped")},
        "status": pa.array([r.status for r in results], texts), "message": pa.array([r.message for r in results], texts),
        "validation_success": pa.nulls(n, pa.bool_()), "validation": pa.nulls(n, texts),
        "file_format": pa.array([r.file_format for r in results], texts),
        "contract_version": pa.array([contract.version] * n, texts), "ingested_at": pa.array([now] * n, pa.timestamp("us"))})
    con.register("_log_rows", rows)
    try:
        con.execute("insert into ingest_log by name select * from _log_rows")
    finally:
        con.unregister("_log_rows")


def _already_loaded_as(res: IngestResult, first: str) -> None:
    res.status, res.needs_attention, res.rows_read = "already_loaded", False, 0
    res.message = f"contenu déjà chargé (depuis {first}) : rien n'a changé"


def _read_file(con, contract: Contract, path: Path, ids: _Ids, loaded: dict[str, str]) -> IngestResult | _Read:
    """Read one file into temporary tables named after its ingest id. A file that cannot be read, or
    whose content is already in the warehouse (`loaded`), is logged here and comes back as its final result."""
    res = IngestResult(str(path), contract.source, "rejected", needs_attention=True)
    try:
        data = path.read_bytes()
    except OSError as exc:
        res.message = f"fichier illisible ({exc.strerror}) : vérifiez le chemin et les droits"
        res.ingest_id = ids.next()
        _log(con, contract, [res])
        return res
    res.ingest_id = ids.next()
    tag = f"_{res.ingest_id}"
    with ThreadPoolExecutor(max_workers=1) as pool:
        digest = pool.submit(file_sha256, data)  # hashlib releases the GIL: hashing overlaps reading
        shape, unreadable, slow_rows = None, None, 0
        try:
            shape = read_records(con, path, data, contract, tag)
            res.rows_read = (scalar(con, f"select count(*) from {shape.records_table}") if shape.records is None
                             else shape.records)
            if shape.slow_table:  # (before the check below: a file whose every line DuckDB's reader rejected)
                slow_rows = shape.slow_records
                res.rows_read += slow_rows
            if res.rows_read == 0:
                raise UnreadableFile("header_only", "le fichier ne contient que la ligne d'en-tête, aucune donnée : "
                                                    "demandez au partenaire un export complet")
        except UnreadableFile as exc:
            unreadable = exc
        except BaseException:
            drop_objects(con, reader_objects(tag))
            raise
        res.sha256 = digest.result()
    done = loaded.get(res.sha256)
    if done or unreadable:
        drop_objects(con, shape.temporary if shape else reader_objects(tag))
        res.rows_read = 0
        if done:
            _already_loaded_as(res, done)
        else:
            res.message = unreadable.message
        _log(con, contract, [res])
        return res
    return _Read(res, shape, data, slow_rows)


def ingest_batch(con: duckdb.DuckDBPyConnection, source: str, paths: list[Path], as_of: date | None = None,
                 on_file=None) -> list[IngestResult]:
    """Load files of `source` in the order given, a batch of files per transaction (see
    BATCH_FILES); never raises on bad input. Great Expectations runs afterwards on all the files
    of a call (see `validate_loaded`)."""
    contract = load_contract(source)
    as_of = as_of or date.today()
    results: list[IngestResult] = []
    batch = _Batch(con, contract, as_of)
    ids, loaded = _Ids(con, len(paths)), _loaded_contents(con, contract)

    def flush():
        nonlocal batch
        try:
            if batch.waiting:
                batch.type_all()
                for res in batch.commit():
                    if res.status == "loaded":
                        loaded.setdefault(res.sha256, res.file_path)
                    results.append(res)
                    if on_file:
                        on_file(res)
        finally:
            batch.drop()
        batch = _Batch(con, contract, as_of)

    try:
        for path in paths:
            read = _read_file(con, contract, Path(path), ids, loaded)
            if isinstance(read, IngestResult):
                flush()  # keeps the results in the order of the files
                results.append(read)
                if on_file:
                    on_file(read)
                continue
            if read.res.rows_read >= BATCH_LINES:  # a large file: the files before it first, then it alone
                flush()
                batch.add(read)
                flush()
            else:
                batch.add(read)
            if batch.full():
                flush()
        flush()
    finally:
        batch.drop()
        drop_objects(con, WORKING_TABLES)
    return results


def ingest_file(con: duckdb.DuckDBPyConnection, source: str, path: Path, as_of: date | None = None) -> IngestResult:
    """Load one file of `source` in one transaction; never raises on bad input."""
    return ingest_batch(con, source, [path], as_of)[0]


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
    total = sum(r.rows_loaded for r in loaded)
    # past GX_ROW_SAMPLE lines, a seeded sample of whole storage blocks (no full scan)
    share = 100.0 * GX_ROW_SAMPLE / total if total else 100.0
    sample = f" using sample {share:.4f}% (system, 7)" if total > GX_ROW_SAMPLE else ""
    rows = con.sql(f"select ingest_id, line_number, {gx_select_sql(contract)} from {table} "
                   f"where ingest_id in ({ids}){sample}").to_arrow_table().to_pandas()
    row_outcomes = validate_rows(rows, contract, as_of)
    dates = future_date_columns(contract)
    maxes = "".join(f', max({yyyymmdd_sql(d)}) as "max_{d}"' for d in dates)
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
    checked = rows["ingest_id"].value_counts().to_dict()
    updates = [_record_validation(contract, r, row_outcomes, batch_outcomes, refused, int(checked.get(r.ingest_id, 0)))
               for r in loaded]
    con.execute("begin transaction")
    try:
        if refused:
            _quarantine_refused(con, contract, refused)
        # every file's log row in one statement (one a file cost half a millisecond each)
        con.register("_validated", pa.table({name: [u[i] for u in updates] for i, name in enumerate(
            ("ingest_id", "rows_loaded", "rows_quarantined", "message", "success", "validation"))}))
        con.execute("update ingest_log set rows_loaded = v.rows_loaded, rows_quarantined = v.rows_quarantined, "
                    "message = v.message, validation_success = v.success, validation = v.validation "
                    "from _validated v where ingest_log.ingest_id = v.ingest_id")
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    finally:
        con.unregister("_validated")
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


def _record_validation(contract: Contract, r: IngestResult, row_outcomes, batch_outcomes, refused,
                       checked: int) -> tuple:
    """The file's validation outcome into `r`, and its log row's new values (see validate_loaded)."""
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
    return r.ingest_id, r.rows_loaded, r.rows_quarantined, r.message, success, json.dumps(own)


def ingest_files(con: duckdb.DuckDBPyConnection, source: str, paths: list[Path], as_of: date | None = None,
                 on_file=None) -> tuple[list[IngestResult], list[ExpectationOutcome]]:
    """Ingest files (or folders) of one source, then validate what was loaded."""
    results = ingest_batch(con, source, iter_files(paths), as_of, on_file)
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
