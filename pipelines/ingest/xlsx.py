"""Reading an Excel workbook (python-calamine: a Rust reader, 20 times faster than openpyxl
here) into the same records as a CSV: (ln, raw, shape_bad, c1..cN), ln being the sheet
row. Zip bombs and damaged files are refused."""
from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import pyarrow as pa

from pipelines.contracts import Contract
from pipelines.ingest.read import FileShape, UnreadableFile, check_header
from vigie.config import MAX_COLUMNS, MAX_XLSX_UNCOMPRESSED_BYTES


def _float_text(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def _datetime_text(value: dt.datetime) -> str:
    return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")


# a cell's text by the exact type of its value (one lookup a cell: most of a workbook's time in Python)
_TEXT = {str: str, float: _float_text, dt.date: dt.date.isoformat, dt.datetime: _datetime_text,
         bool: lambda v: "oui" if v else "non", int: str, type(None): lambda v: ""}


def _cell_text(value) -> str:
    convert = _TEXT.get(type(value))
    if convert is None:  # a subclass: its parent's conversion (datetime before date)
        convert = next((_TEXT[kind] for kind in (dt.datetime, dt.date, float) if isinstance(value, kind)), str)
    return convert(value)


def _open_workbook(path: Path):
    from python_calamine import CalamineWorkbook

    try:
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
            total = sum(i.file_size for i in zf.infolist())
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise UnreadableFile("bad_xlsx", f"classeur Excel illisible ou tronqué ({exc.__class__.__name__}) : demandez un nouvel envoi du fichier") from exc
    if bad is not None:
        raise UnreadableFile("bad_xlsx", f"classeur Excel endommagé (partie {bad!r}) : demandez un nouvel envoi du fichier")
    if total > MAX_XLSX_UNCOMPRESSED_BYTES:
        raise UnreadableFile("xlsx_too_large", "classeur Excel anormalement volumineux une fois décompressé : refusé par sécurité ; exportez-le en CSV")
    try:
        return CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # a damaged workbook raises many kinds
        raise UnreadableFile("bad_xlsx", f"classeur Excel illisible ({exc.__class__.__name__}) : ouvrez-le dans Excel et enregistrez-le à nouveau en .xlsx") from exc


def xlsx_records(con, path: Path, contract: Contract, tag: str = "") -> FileShape:
    wb = _open_workbook(path)
    try:
        names = wb.sheet_names
        if not names:
            raise UnreadableFile("empty", "le classeur est vide : rien à charger")
        # the whole sheet from A1 (empty leading rows kept: line numbers are sheet rows)
        grid = wb.get_sheet_by_index(0).to_python(skip_empty_area=False)
    except UnreadableFile:
        raise
    except Exception as exc:
        raise UnreadableFile("bad_xlsx", f"classeur Excel tronqué ou endommagé ({exc.__class__.__name__}) : demandez un nouvel envoi du fichier") from exc
    finally:
        wb.close()
    if not grid:
        raise UnreadableFile("empty", "le classeur est vide : rien à charger")
    header = [_cell_text(v) for v in grid[0]]
    while header and not header[-1]:
        header.pop()
    if len(header) > MAX_COLUMNS:
        raise UnreadableFile("too_many_columns", f"la première ligne a {len(header)} colonnes (au plus {MAX_COLUMNS} "
                                                 "attendues) : ce n'est pas un export de cette source")
    mapping, extras = check_header(header, contract)
    n, body = len(header), grid[1:]
    # column by column (text cells, most of them, kept as they are): a third of the time of a
    # conversion cell by cell, row after row
    width = max([n] + [len(row) for row in body])
    if any(len(row) != width for row in body):
        body = [list(row) + [""] * (width - len(row)) for row in body]
    columns = ([[v if type(v) is str else _cell_text(v) for v in column] for column in zip(*body)] if body
               else [[] for _ in range(width)])
    lns = range(2, len(body) + 2)
    raws = [";".join(values).rstrip(";") for values in zip(*columns)]
    bad = ([any(v.strip() for v in values) for values in zip(*columns[n:])] if width > n
           else [False] * len(body))
    arrow = pa.table({"ln": pa.array(lns, pa.int64()), "raw": pa.array(raws, pa.string()),
                      "shape_bad": pa.array(bad, pa.bool_()),
                      **{f"c{i + 1}": pa.array(col, pa.string()) for i, col in enumerate(columns[:n])}})
    con.register("_xlsx_arrow", arrow)
    con.execute(f"create or replace temp table _parsed{tag} as select * from _xlsx_arrow")
    con.unregister("_xlsx_arrow")
    return FileShape("xlsx", None, None, header, mapping, extras, None, records=len(lns),
                     records_table=f"_parsed{tag}", temporary=[("table", f"_parsed{tag}")])
