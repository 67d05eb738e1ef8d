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


def _cell_text(value) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time(0) else value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


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
    n = len(header)
    lns, raws, bad, columns = [], [], [], [[] for _ in range(n)]
    for ln, row in enumerate(grid[1:], start=2):
        values = [_cell_text(v) for v in row]
        values += [""] * (n - len(values))
        lns.append(ln)
        raws.append(";".join(values).rstrip(";"))
        bad.append(any(v.strip() for v in values[n:]))
        for i in range(n):
            columns[i].append(values[i])
    arrow = pa.table({"ln": pa.array(lns, pa.int64()), "raw": pa.array(raws, pa.string()),
                      "shape_bad": pa.array(bad, pa.bool_()),
                      **{f"c{i + 1}": pa.array(col, pa.string()) for i, col in enumerate(columns)}})
    con.register("_xlsx_arrow", arrow)
    con.execute(f"create or replace temp table _parsed{tag} as select * from _xlsx_arrow")
    con.unregister("_xlsx_arrow")
    return FileShape("xlsx", None, None, header, mapping, extras, None, records=len(lns),
                     records_table=f"_parsed{tag}", temporary=[("table", f"_parsed{tag}")])
