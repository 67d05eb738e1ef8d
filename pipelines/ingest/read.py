"""Reading a partner file into records: one row per data line with its line number
and its fields (c1..cN, N = the header's width). Typing and rules: see rules.py.

CSV: DuckDB's own parser for files of FAST_MIN_LINES lines or more when line numbers provably
follow from record order and the line breaks counted inside quoted fields (some columns typed
natively; one thread when a field spans lines), the exact line-by-line path otherwise; either way a blank line, a
quoted field spanning lines or a line with a stray delimiter keeps its place in the
file (docs/DECISIONS.md). Excel files go through python-calamine.
"""
from __future__ import annotations

import codecs
import csv
import functools
import io
import itertools
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from pipelines.contracts import Contract, all_contracts, normalise_header, sql_str
from pipelines.warehouse import scalar
from vigie.config import MAX_COLUMNS


class UnreadableFile(Exception):
    """The file cannot be read at all: it is rejected whole, the warehouse untouched."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class FileShape:
    kind: str                      # csv | xlsx
    encoding: str | None = None    # utf-8 | utf-8-sig | cp1252 | latin-1
    delimiter: str | None = None
    header: list[str] = field(default_factory=list)
    mapping: dict[str, int] = field(default_factory=dict)   # contract column -> field index (1-based)
    extras: list[tuple[str, int]] = field(default_factory=list)  # unknown header -> field index
    text_path: Path | None = None  # UTF-8 file DuckDB reads (the original or a transcoded copy)
    native: dict[str, str] = field(default_factory=dict)  # contract column -> SQL type DuckDB typed itself
    slow_table: str | None = None  # lines the fast path left to the exact path (all text)
    records_table: str | None = None  # the view or table of the records read
    temporary: list[tuple[str, str]] = field(default_factory=list)  # (view | table, name) the reader made
    records: int | None = None     # rows in the reader's table, when the reader counted them
    slow_records: int = 0          # rows in `slow_table`
    line_index: "LineIndex | None" = None
    spans: dict[int, int] = field(default_factory=dict)  # record's first line -> line breaks inside it
    arrow: pa.Table | None = None  # the records read in Python (`python_records`), instead of a table


PREFIX = 4 << 20  # encoding is judged on the first 4 MB; DuckDB checks the rest while it reads


class NotUtf8(Exception):
    """A file judged UTF-8 on its beginning holds other bytes further on."""


def _cp1252_fallback(err: UnicodeDecodeError):
    """Codec error handler: bytes that are not UTF-8 are read as Windows-1252 (mixed exports)."""
    bad = err.object[err.start:err.end]
    return bad.decode("cp1252", errors="replace"), err.end


codecs.register_error("vigie_cp1252", _cp1252_fallback)


def detect_encoding(data: bytes) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    prefix = data[:PREFIX]
    try:
        prefix.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if len(prefix) == PREFIX and exc.start >= len(prefix) - 3:  # a character cut by the prefix
            return "utf-8"
    try:
        prefix.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def transcode(data: bytes, encoding: str, workdir: Path) -> Path:
    """A UTF-8 copy for DuckDB (`mixed`: UTF-8 where valid, Windows-1252 elsewhere)."""
    path = workdir / "transcoded.csv"
    text = data.decode("utf-8", errors="vigie_cp1252") if encoding == "mixed" else data.decode(encoding)
    path.write_text(text, encoding="utf-8", newline="")
    return path


def _first_line(text: str) -> str:
    end = text.find("\n")
    return (text if end < 0 else text[:end]).rstrip("\r").lstrip("\ufeff")


def detect_delimiter(header_line: str, allowed: tuple[str, ...]) -> str:
    counts = {d: header_line.count(d) for d in allowed}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else allowed[0]


def map_header(header: list[str], contract: Contract) -> tuple[dict[str, int], list[tuple[str, int]]]:
    lookup = contract.header_lookup
    mapping: dict[str, int] = {}
    extras: list[tuple[str, int]] = []
    for i, name in enumerate(header, start=1):
        col = lookup.get(normalise_header(name))
        if col and col not in mapping:
            mapping[col] = i
        elif str(name).strip():
            extras.append((str(name).strip(), i))
    return mapping, extras


def _best_other_source(header: list[str], contract: Contract) -> tuple[str, int] | None:
    best = None
    for other in all_contracts():
        if other.source == contract.source:
            continue
        mapping, _ = map_header(header, other)
        hits = sum(1 for c in other.required if c.name in mapping)
        if hits == len(other.required) and (best is None or hits > best[1]):
            best = (other.source, hits)
    return best


def check_header(header: list[str], contract: Contract) -> tuple[dict[str, int], list[tuple[str, int]]]:
    mapping, extras = map_header(header, contract)
    missing = [c.name for c in contract.required if c.name not in mapping]
    if not missing:
        return mapping, extras
    other = _best_other_source(header, contract)
    if other:
        raise UnreadableFile(
            "wrong_source",
            f"ce fichier ressemble à un fichier « {other[0]} », pas « {contract.source} » : "
            f"relancez avec `vigie ingest {other[0]} FICHIER`")
    if not mapping:
        raise UnreadableFile(
            "no_known_column",
            f"aucune colonne reconnue dans l'en-tête (première ligne) pour la source « {contract.source} » : "
            f"vérifiez que le fichier commence par la ligne des noms de colonnes (voir data_contracts/{contract.source}.yaml)")
    raise UnreadableFile(
        "missing_columns",
        f"colonnes obligatoires absentes de l'en-tête : {', '.join(missing)} ; "
        f"demandez au partenaire un export complet (voir data_contracts/{contract.source}.yaml)")


# ----------------------------------------------------------------------------- CSV

def sniff_csv(path: Path, data: bytes, contract: Contract, workdir: Path) -> FileShape:
    if b"\x00" in data[:65536]:
        raise UnreadableFile("binary", "ce fichier n'est pas un fichier texte (CSV) : exportez-le en CSV ou en .xlsx")
    encoding = detect_encoding(data)
    text_path = transcode(data, encoding, workdir) if encoding in ("cp1252", "latin-1") else path
    head = data[:1 << 20].decode(encoding, errors="replace")
    header_line = _first_line(head)
    if not header_line.strip():
        raise UnreadableFile("no_header", "la première ligne est vide : le fichier doit commencer par la ligne des noms de colonnes")
    delimiter = detect_delimiter(header_line, contract.delimiters)
    try:
        header = next(csv.reader(io.StringIO(header_line, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise UnreadableFile("bad_header", f"la ligne des noms de colonnes est illisible ({exc}) : "
                                           "demandez au partenaire un export CSV standard") from exc
    if len(header) > MAX_COLUMNS:
        raise UnreadableFile("too_many_columns", f"la ligne d'en-tête a {len(header)} colonnes (au plus {MAX_COLUMNS} "
                                                 "attendues) : ce n'est pas un export de cette source")
    mapping, extras = check_header(header, contract)
    return FileShape("csv", encoding, delimiter, header, mapping, extras, text_path)


def _cols(n: int) -> list[str]:
    return [f"c{i}" for i in range(1, n + 1)]


_CHUNK = 16 << 20


@dataclass
class LineIndex:
    """Where each line of a file ends (offsets of its '\\n'), computed once per file with numpy."""
    ends: "object"          # numpy int64 array
    lines: int              # lines up to the last non-blank one
    trailing_blank: int     # blank lines after it
    inner_blank: bool       # a blank line somewhere before it

    @classmethod
    def of(cls, data: bytes) -> "LineIndex":
        import numpy as np

        arr = np.frombuffer(data, dtype=np.uint8)
        if len(arr) <= _CHUNK:
            ends = np.flatnonzero(arr == 10)
        else:  # a chunk at a time into one buffer: a mask the size of the file cost more in page faults than in comparing
            mask, parts = np.empty(_CHUNK, dtype=bool), []
            for start in range(0, len(arr), _CHUNK):
                chunk = arr[start:start + _CHUNK]
                parts.append(np.flatnonzero(np.equal(chunk, 10, out=mask[:len(chunk)])) + start)
            ends = np.concatenate(parts)
        body_end = len(data)
        while body_end and data[body_end - 1] in (10, 13):
            body_end -= 1
        inside = ends[ends < body_end]
        trailing = len(ends) - len(inside)
        gaps = np.diff(inside)
        inner = bool((gaps == 1).any() or ((gaps == 2) & (arr[inside[:-1] + 1] == 13)).any()) if len(gaps) else False
        return cls(ends, len(inside) + 1, max(0, trailing - 1), inner)

    def text(self, data: bytes, ln: int, encoding: str | None) -> str:
        start = 0 if ln == 1 else int(self.ends[ln - 2]) + 1
        stop = int(self.ends[ln - 1]) if ln - 1 < len(self.ends) else len(data)
        if encoding == "mixed":
            return data[start:stop].decode("utf-8", errors="vigie_cp1252").rstrip("\r")
        return data[start:stop].decode(encoding or "utf-8", errors="replace").rstrip("\r")


def csv_records(con, shape: FileShape, data: bytes, contract: Contract, tag: str = "") -> None:
    """Fill `shape.records_table` (ln, raw, shape_bad, c1..cN; temporary objects named with `tag`,
    kept until the file's batch is committed), or `shape.arrow` for a small file on the exact
    path, from a UTF-8 CSV: one row per record after the header, N = the header's width. On the
    fast path `raw` is filled later, and only for the lines set aside.

    Fast path: DuckDB's own CSV parser, typing natively the columns whose values (in a
    sample) all have one plain format; lines it cannot type go to the exact path one by one.
    Line numbers follow from record order when there is no blank line inside and no line
    break inside a field; the counts prove it, else the whole file takes the exact path."""
    n = len(shape.header)
    index = shape.line_index = LineIndex.of(data)
    lines, trailing_blank = index.lines, index.trailing_blank
    # a small file with a line break inside a quoted field takes the exact path whatever DuckDB
    # says (see MULTILINE_MIN_LINES): trying DuckDB's parser first cost a third of such a file's time
    fast = (lines >= FAST_MIN_LINES and lines > 1 and not index.inner_blank
            and not (lines < MULTILINE_MIN_LINES and _quoted_break(data, index.ends)))
    if fast and _fast_csv(con, shape, n, lines, contract, data, tag):
        if trailing_blank:  # blank lines at the end: rows of nothing, so that they are counted
            con.execute(f"insert into {shape.slow_table} select ln, null, false, {', '.join(['null'] * n)} "
                        f"from range({lines + 1}, {lines + 1 + trailing_blank}) t(ln)")
            shape.slow_records += trailing_blank
        return
    shape.native = {}
    _exact_csv(con, shape, n, tag, data)


def _quoted_break(data: bytes, ends) -> bool:
    """Whether a line break falls inside a quoted field: an odd number of '"' before it (a
    doubled quote inside a field counts two). A stray quote in an unquoted field can make it say
    yes wrongly: the file then takes the exact path, which reads every file right."""
    import numpy as np

    quotes = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 34)
    return bool(len(quotes)) and bool((np.searchsorted(quotes, ends) & 1).any())


# the plain formats DuckDB can type natively; each matches a whole sample at once (values joined
# by line breaks: one regex call instead of one per value)
_PLAIN = {key: re.compile(f"(?:{pattern}\n)+") for key, pattern in {
    "%d/%m/%Y": r"\d{2}/\d{2}/\d{4}",
    "%Y-%m-%d": r"\d{4}-\d{2}-\d{2}",
    ",": r"-?\d+(?:,\d{1,2})?",
    ".": r"-?\d+(?:\.\d{1,2})?",
    "int": r"-?\d{1,9}",
}.items()}
NATIVE_SAMPLE_ROWS = 1000


def native_types(shape: FileShape, contract: Contract, data: bytes, encoding: str) -> tuple[dict[int, str], str, str]:
    """Columns DuckDB can type itself, judged on the first lines: {field index: SQL type},
    the date format and the decimal separator to give it. Anything unusual stays text."""
    head = data[: 1 << 20].decode("utf-8" if encoding == "mixed" else encoding, errors="replace")
    try:
        rows = list(itertools.islice(csv.reader(io.StringIO(head, newline=""), delimiter=shape.delimiter),
                                     NATIVE_SAMPLE_ROWS + 2))[1:-1]
    except csv.Error:
        rows = []  # a line the csv module refuses: nothing is typed natively, the SQL path types it all
    def values(idx):
        vals = [v for v in (r[idx - 1].strip() for r in rows if len(r) >= idx) if v]
        if not vals or any("\n" in v for v in vals):  # (a value on two lines is no plain format)
            return ""
        return "\n".join(vals) + "\n"
    @functools.lru_cache(maxsize=None)
    def all_match(vals, key):
        return bool(vals) and _PLAIN[key].fullmatch(vals) is not None
    by_kind: dict[str, list] = {"date": [], "amount": [], "integer": []}
    for col in contract.columns:
        idx = shape.mapping.get(col.name)
        if idx and col.kind in by_kind:
            by_kind[col.kind].append((idx, values(idx)))
    native: dict[int, str] = {}
    date_fmt = max(("%d/%m/%Y", "%Y-%m-%d"), key=lambda f: sum(all_match(v, f) for _, v in by_kind["date"]))
    for idx, vals in by_kind["date"]:
        if all_match(vals, date_fmt):
            native[idx] = "DATE"
    decimal = max((",", "."), key=lambda f: sum(all_match(v, f) for _, v in by_kind["amount"]))
    for idx, vals in by_kind["amount"]:
        if all_match(vals, decimal):
            native[idx] = "DECIMAL(14,2)"
    for idx, vals in by_kind["integer"]:
        if all_match(vals, "int"):
            native[idx] = "INTEGER"
    return native, date_fmt, decimal


# Line breaks inside quoted fields: DuckDB reads the file with one thread and the line numbers are
# counted from the breaks; below this size the line-by-line path is as fast (measured: 3 000 lines
# 0.16 s line by line, 0.21 s so; 500 000 lines 3.1 s line by line, 2.4 s so).
MULTILINE_MIN_LINES = 100_000

# Shorter files take the exact path: DuckDB's reader costs a file some ten statements (its rejects
# tables, counts, the records' view), more than typing a few thousand lines in SQL. Measured: the
# demo's files of about 60 lines, 11.5 -> 8.9 s for the four sources; the M city's 4 200-line
# procedure files 3.9 -> 3.6 s; the L city's 21 000-line ones 8.0 -> 9.9 s, the other way.
FAST_MIN_LINES = 5_000


def reader_objects(tag: str) -> list[tuple[str, str]]:
    """Every temporary object the readers can make for a file read with `tag`."""
    return [("view", f"_rec{tag}")] + [("table", f"{name}{tag}") for name in
                                       ("_parsed", "_rejected", "_rejected_records", "_breaks", "_slow")]


# the readers' working tables, replaced file after file (dropped once a call is done)
WORKING_TABLES = [("table", name) for name in ("_lines", "_spans", "_rejects", "_rejects_scan")]


def drop_objects(con, objects: list[tuple[str, str]]) -> None:
    for kind, name in objects:
        con.execute(f"drop {kind} if exists {name}")


# At most this many rejected records in a file: an accepted record's line is counted with one
# comparison per rejected record before it; more, with an ASOF join
FEW_REJECTED = 32


def _fast_csv(con, shape: FileShape, n: int, lines: int, contract: Contract, data: bytes, tag: str) -> bool:
    path = sql_str(str(shape.text_path))
    parsed, rejected_t, records_t, breaks_t, slow, view = (f"{name}{tag}" for name in (
        "_parsed", "_rejected", "_rejected_records", "_breaks", "_slow", "_rec"))
    native, date_fmt, decimal = native_types(shape, contract, data, shape.encoding or "utf-8")
    cols = "{" + ", ".join(f"'c{i}': '{native.get(i, 'VARCHAR')}'" for i in range(1, n + 1)) + "}"
    for t in ("_rejects", "_rejects_scan"):
        con.execute(f"drop table if exists {t}")
    def parse(parallel: bool) -> None:
        shape.temporary.append(("table", parsed))
        con.execute(f"""
            create or replace temp table {parsed} as
            select * from read_csv({path}, columns={cols}, delim={sql_str(shape.delimiter)}, quote='"', escape='"',
                                   header=false, skip=1, auto_detect=false, strict_mode=true, null_padding=true,
                                   dateformat={sql_str(date_fmt)}, decimal_separator={sql_str(decimal)},
                                   parallel={str(parallel).lower()},
                                   store_rejects=true, rejects_table='_rejects', rejects_scan='_rejects_scan')""")
    try:
        parse(parallel=True)
    except Exception as exc:  # DuckDB refuses some shapes: the exact path
        if "quoted new lines" not in str(exc) or lines < MULTILINE_MIN_LINES:
            return False
        try:  # a line break inside a quoted field (a complement written on three lines): one thread can read it
            for t in ("_rejects", "_rejects_scan"):
                con.execute(f"drop table if exists {t}")
            parse(parallel=False)
        except Exception:
            return False
    shape.temporary.append(("table", rejected_t))
    con.execute(f"create or replace temp table {rejected_t} as select line, any_value(trim(csv_line, chr(13) || chr(10))) as raw, "
                "row_number() over (order by line) as j from _rejects group by line")
    accepted, rejected, bad_bytes, firsts = con.execute(
        f"select (select count(*) from {parsed}), (select count(*) from {rejected_t}), "
        "(select count(*) from _rejects where error_type = 'INVALID ENCODING'), "
        f"(select list(a order by j) from (select j, line - 2 - (j - 1) as a from {rejected_t} order by j limit {FEW_REJECTED + 1}))"
    ).fetchall()[0]
    if shape.encoding in ("utf-8", "utf-8-sig") and bad_bytes:
        raise NotUtf8()
    # line breaks inside the accepted records' text fields: each moves the next records down a line
    breaks = " + ".join(f"coalesce(length(c{i}) - length(replace(c{i}, chr(10), '')), 0)"
                        for i in range(1, n + 1) if i not in native) or "0"
    inner = 0 if accepted + rejected == lines - 1 else scalar(con, f"select sum({breaks}) from {parsed}")
    if accepted + rejected + (inner or 0) != lines - 1 or (inner and lines < MULTILINE_MIN_LINES):
        con.execute(f"drop table {parsed}")
        return False
    shape.native = {name: native[idx] for name, idx in shape.mapping.items() if idx in native}
    # DuckDB numbers records (header = 1); accepted record k (0-based) sits after the rejected
    # records whose record index is smaller, and after the line breaks inside the accepted records before it
    ln, join = "k + 2", ""
    if rejected and not inner and rejected <= FEW_REJECTED:
        ln += "".join(f" + (k >= {a})::bigint" for a in firsts)
    elif rejected:
        ln += " + coalesce(r.j, 0)"
        if inner:  # `_rejected` is about to get the lines in the file: the join keeps the record numbers
            shape.temporary.append(("table", records_t))
            con.execute(f"create or replace temp table {records_t} as select * from {rejected_t}")
        # rejected records one after the other share their `a`: the join takes the last of them
        # (an ASOF join picks any one of equal keys: a line number one short after two rejects)
        join = (f"asof left join (select a, max(j) as j from (select j, line - 2 - (j - 1) as a "
                f"from {records_t if inner else rejected_t}) group by a) r on p.k >= r.a")
    shape.temporary.append(("view", view))
    if not inner:
        con.execute(f"create or replace temp view {view} as select {ln} as ln, cast(null as varchar) as raw, "
                    f"false as shape_bad, p.* exclude (k) from (select rowid as k, * from {parsed}) p {join}")
    else:
        shape.temporary.append(("table", breaks_t))
        con.execute(f"""create or replace temp table {breaks_t} as
            select k, nl, coalesce(sum(nl) over (order by k rows between unbounded preceding and 1 preceding), 0) as before
            from (select rowid as k, {breaks} as nl from {parsed})
            union all select {accepted}, 0, {inner}""")
        con.execute(f"""create or replace temp view {view} as
            select {ln} + b.before as ln, cast(null as varchar) as raw, false as shape_bad, p.* exclude (k)
            from (select rowid as k, * from {parsed}) p join {breaks_t} b using (k) {join}""")
        shape.spans = dict(con.execute(f"select {ln} + b.before, b.nl from (select rowid as k from {parsed}) p "
                                       f"join {breaks_t} b using (k) {join} where b.nl > 0").fetchall())
        # a rejected record's line in the file: its record number plus the line breaks above it
        con.execute(f"""create or replace temp table {rejected_t} as
            select r.line + b.before as line, trim(r.raw, chr(13) || chr(10)) as raw, r.j from {records_t} r
            join {breaks_t} b on b.k = r.line - 2 - (r.j - 1)""")
    # rejected lines: the exact path, from their text
    fields = f"(select line as ln, raw, {_split_fields_sql(shape.delimiter)} as fields from {rejected_t})"
    shape.temporary.append(("table", slow))
    con.execute(f"create or replace temp table {slow} as {_columns_from_fields(n, fields)}")
    shape.records_table, shape.slow_table, shape.records, shape.slow_records = view, slow, accepted, rejected
    return True


# The exact path's lines: split at '\n' only, as LineIndex counts them (DuckDB's CSV reader also
# breaks at a lone '\r', which moved the line numbers after one). Files up to this size are split
# in Python (about 1 ms for a 3 000-line file, against 10 ms for DuckDB's reader), larger ones by
# DuckDB's read_text, without a Python string per line.
PYTHON_SPLIT_MAX_BYTES = 64 << 20


# Files up to this size are read into records wholly in Python, by the same rules as the SQL
# below (`python_records`), and reach DuckDB as one Arrow table per batch group (`_Batch.add`): no
# statement per file. Measured per file, the Arrow table copied in included (docs/BENCHMARKS.md):
# a 9 KB demo file 4.7 -> 2.0 ms, a 173 KB one 7.9 -> 5.4 ms, 600 KB 16.4 / 16.8 ms, 4 MB 88 / 119 ms.
PYTHON_RECORDS_MAX_BYTES = 512 << 10


def _decoded(data: bytes, encoding: str | None) -> str:
    try:
        return data.decode("utf-8", errors="vigie_cp1252") if encoding == "mixed" else data.decode(encoding or "utf-8")
    except UnicodeDecodeError as exc:
        raise NotUtf8() from exc


def _lines_of(text: str) -> list[str]:
    pieces = text.split("\n")
    if len(pieces) > 1 and pieces[-1] == "":  # a trailing newline ends the last line, it opens none
        pieces.pop()
    return pieces


def _fields(raw: str, d: str) -> list[str]:
    """`_split_fields_sql` in Python: the same masking, splitting and unquoting."""
    if '"' not in raw:
        return raw.split(d)
    pieces = raw.split('"')
    for j in range(1, len(pieces), 2):
        pieces[j] = pieces[j].replace(d, "\x1e")
    out = []
    for x in '"'.join(pieces).split(d):
        if len(x) >= 2 and x[0] == '"' and x[-1] == '"':
            x = x[1:-1].replace('""', '"')
        out.append(x.replace("\x1e", d))
    return out


def python_records(text: str, n: int, d: str) -> tuple[pa.Table, int]:
    """The exact path's records of a decoded file (ln, raw, shape_bad, c1..cN) and their count,
    by the rules of `_exact_csv`'s SQL: lines split at '\\n' and right-trimmed of '\\r'; a line
    with an odd number of '"' opens a record that runs to the next such line (or the file's end)."""
    lines = [line.rstrip("\r") for line in _lines_of(text)]
    lns: list[int] = []
    raws: list[str] = []
    i, last = 1, len(lines) - 1  # 0-based: lines[0] is the header
    while i <= last:
        line = lines[i]
        if line.count('"') % 2:
            j = i + 1
            while j <= last and not lines[j].count('"') % 2:
                j += 1
            j = min(j, last)
            lns.append(i + 1)
            raws.append("\n".join(lines[i:j + 1]))
            i = j + 1
        else:
            lns.append(i + 1)
            raws.append(line)
            i += 1
    columns: list[list] = [[] for _ in range(n)]
    bad = []
    for raw in raws:
        fields = _fields(raw, d)
        k = len(fields)
        bad.append(k > n and "".join(fields[n:]).strip(" ") != "")
        for c in range(n):
            columns[c].append(fields[c] if c < k else None)
    table = pa.table({"ln": pa.array(lns, pa.int64()), "raw": pa.array(raws, pa.string()),
                      "shape_bad": pa.array(bad, pa.bool_()),
                      **{f"c{c + 1}": pa.array(columns[c], pa.string()) for c in range(n)}})
    return table, len(raws)


def _exact_csv(con, shape: FileShape, n: int, tag: str, data: bytes) -> None:
    d = shape.delimiter
    if len(data) <= PYTHON_RECORDS_MAX_BYTES:
        shape.arrow, shape.records = python_records(_decoded(data, shape.encoding), n, d)
        return
    if len(data) <= PYTHON_SPLIT_MAX_BYTES:
        pieces = _lines_of(_decoded(data, shape.encoding))
        con.register("_line_texts", pa.table({"ln": pa.array(range(1, len(pieces) + 1), pa.int64()),
                                              "line": pa.array(pieces, pa.string())}))
        try:
            con.execute("create or replace temp table _lines as select ln, rtrim(line, chr(13)) as line from _line_texts")
        finally:
            con.unregister("_line_texts")
    else:
        path = sql_str(str(shape.text_path))
        try:
            con.execute(f"""create or replace temp table _lines as
                select ln, rtrim(line, chr(13)) as line from (
                    select generate_subscripts(l, 1) as ln, unnest(l) as line
                    from (select string_split(content, chr(10)) as l from read_text({path})))""")
        except Exception as exc:
            if "utf-8" in str(exc).lower() or "unicode" in str(exc).lower():
                raise NotUtf8() from exc
            raise
        con.execute("delete from _lines where ln = (select max(ln) from _lines) and line = '' "  # the trailing newline's
                    "and (select count(*) from _lines) > 1")
    # a record runs over several lines when a quoted field holds a line break: from a line with an
    # odd number of '"' to the next such line (a doubled quote counts two), or to the end of the file
    odd, last = con.execute("select list(ln order by ln) filter (where (length(line) - length(replace(line, '\"', ''))) % 2 = 1), "
                            "max(ln) from _lines where ln > 1").fetchall()[0]
    records, spans = "select ln, line as raw from _lines where ln > 1", []
    if odd:
        spans = [(a, b) for a, b in itertools.zip_longest(odd[::2], odd[1::2], fillvalue=last)]
        lns = pa.array([ln for a, b in spans for ln in range(a, b + 1)], pa.int64())
        starts = pa.array([a for a, b in spans for _ in range(a, b + 1)], pa.int64())
        con.register("_span_lines", pa.table({"ln": lns, "start": starts}))
        con.execute("create or replace temp table _spans as select * from _span_lines")
        con.unregister("_span_lines")
        records = f"""
            {records} and ln not in (select ln from _spans)
            union all
            select start as ln, string_agg(line, chr(10) order by ln) as raw from _lines join _spans using (ln) group by start"""
    # fields split and spread into columns in one statement: a table of the lists in between cost a third more
    fields = f"(select ln, raw, {_split_fields_sql(d)} as fields from ({records}))"
    shape.records_table = f"_parsed{tag}"
    shape.temporary.append(("table", shape.records_table))
    con.execute(f"create or replace temp table {shape.records_table} as {_columns_from_fields(n, fields)}")
    shape.records = (last - 1 - sum(b - a for a, b in spans)) if last else 0
    con.execute("drop table _lines")
    con.execute("drop table if exists _spans")


def _split_fields_sql(delimiter: str) -> str:
    """Fields of `raw`. A line with quotes: mask the delimiters inside quoted pieces (every second
    piece between '"'), split, then unquote; plain string functions, several times faster than a regex."""
    dq = sql_str(delimiter)
    masked = (f"array_to_string(list_transform(string_split(raw, '\"'), lambda x, i: "
              f"case when i % 2 = 0 then replace(x, {dq}, chr(30)) else x end), '\"')")
    unquote = ("lambda x: replace(case when length(x) >= 2 and starts_with(x, '\"') and ends_with(x, '\"') "
               f"then replace(x[2:-2], '\"\"', '\"') else x end, chr(30), {dq})")
    return (f"case when contains(raw, '\"') then list_transform(string_split({masked}, {dq}), {unquote}) "
            f"else string_split(raw, {dq}) end")


def _columns_from_fields(n: int, source: str) -> str:
    """ln, raw, shape_bad (more fields than the header, the extra ones not empty), c1..cN."""
    cols = ", ".join(f"fields[{i}] as c{i}" for i in range(1, n + 1))
    return (f"select ln, raw, (len(fields) > {n} and trim(array_to_string(fields[{n + 1}:], '')) <> '') as shape_bad, "
            f"{cols} from {source}")


def line_texts(data: bytes, shape: FileShape, lines: list[int]) -> list[str]:
    """The exact text of some lines of a file (1-based numbers), from its bytes."""
    index = shape.line_index or LineIndex.of(data)
    return ["\n".join(index.text(data, i, shape.encoding) for i in range(ln, ln + shape.spans.get(ln, 0) + 1))
            for ln in lines]


# ----------------------------------------------------------------------------- entry

def read_records(con, path: Path, data: bytes, contract: Contract, tag: str = "") -> FileShape:
    """Detect what the file is and fill `shape.records_table` (and `shape.slow_table`), temporary
    objects named with `tag` (see `reader_objects`), or `shape.arrow`; raise UnreadableFile when
    it can't be read."""
    if not data or data.isspace():  # (not data.strip(): a copy of the whole file)
        raise UnreadableFile("empty", "le fichier est vide : demandez au partenaire de renvoyer son export")
    if data.startswith(b"%PDF"):
        raise UnreadableFile("pdf", "ce fichier est un PDF, pas un export de données : demandez le fichier au format CSV ou .xlsx")
    if data.startswith(b"PK\x03\x04"):
        if "xlsx" not in contract.formats:
            raise UnreadableFile("xlsx_not_expected", f"la source « {contract.source} » est attendue en CSV ; ouvrez le classeur dans Excel et enregistrez-le en CSV (séparateur point-virgule)")
        from pipelines.ingest.xlsx import xlsx_records

        return xlsx_records(con, path, contract, tag)
    with tempfile.TemporaryDirectory(prefix="vigie-") as tmp:
        shape = sniff_csv(path, data, contract, Path(tmp))
        try:
            csv_records(con, shape, data, contract, tag)
        except NotUtf8:  # UTF-8 at the start, other bytes later: read those as Windows-1252
            shape.encoding = "mixed"
            shape.text_path = transcode(data, "mixed", Path(tmp))
            csv_records(con, shape, data, contract, tag)
    shape.text_path = None
    return shape
