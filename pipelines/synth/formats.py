"""How partners write their files: encodings, delimiters, date and amount habits,
header styles, TOTAL lines. Used by the generator, the tests and the benchmarks."""
from __future__ import annotations

import csv
import io
import random
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from pipelines.contracts import Contract

NBSP = "\u00a0"


@dataclass(frozen=True)
class Profile:
    kind: str = "csv"              # csv | xlsx
    encoding: str = "utf-8"        # utf-8 | utf-8-sig | cp1252
    delimiter: str = ";"
    date_fmt: str = "%d/%m/%Y"     # strftime pattern; in xlsx also "cell" (date cells) or "serial"
    amount_fmt: str = "fr"         # fr_euro | fr | fr_dot | en | number (xlsx)
    bool_fmt: tuple[str, str] = ("oui", "non")
    header_style: str = "canonical"  # canonical | upper | alias | title
    shuffle_columns: bool = False
    extra_column: str | None = None
    newline: str = "\n"
    total_line: bool = False
    trailing_blank_lines: int = 0

    def but(self, **changes) -> "Profile":
        return replace(self, **changes)


def format_amount(value: float, fmt: str) -> str:
    if fmt == "en":
        return f"{value:.2f}"
    plain = f"{value:,.2f}"  # 1,234.56
    whole, cents = plain.split(".")
    if fmt == "fr_euro":
        return whole.replace(",", NBSP) + "," + cents + " €"
    if fmt == "fr_space":
        return whole.replace(",", " ") + "," + cents
    if fmt == "fr_dot":
        return whole.replace(",", ".") + "," + cents
    return whole.replace(",", "") + "," + cents  # fr


def excel_serial(d: date) -> int:
    return (d - date(1899, 12, 30)).days


def format_value(kind: str, value, profile: Profile):
    """Text (csv) or cell value (xlsx) for one typed value."""
    if value is None or value == "":
        return None if profile.kind == "xlsx" else ""
    if kind == "date":
        if profile.kind == "xlsx" and profile.date_fmt == "cell":
            return datetime(value.year, value.month, value.day)
        if profile.kind == "xlsx" and profile.date_fmt == "serial":
            return excel_serial(value)
        return value.strftime(profile.date_fmt)
    if kind == "amount":
        if profile.kind == "xlsx" and profile.amount_fmt == "number":
            return float(value)
        return format_amount(float(value), profile.amount_fmt)
    if kind == "boolean":
        return profile.bool_fmt[0] if value else profile.bool_fmt[1]
    if kind == "integer":
        return int(value) if profile.kind == "xlsx" else str(int(value))
    return str(value)


def header_name(col, style: str) -> str:
    if style == "upper":
        return col.name.upper()
    if style == "alias" and col.aliases:
        return col.aliases[0].replace("_", " ").capitalize()
    if style == "title":
        return col.name.replace("_", " ").capitalize()
    return col.name


def column_order(contract: Contract, profile: Profile, seed: int) -> list:
    cols = list(contract.columns)
    if profile.shuffle_columns:
        random.Random(seed).shuffle(cols)
    return cols


def write_file(path: Path, contract: Contract, rows: list[dict], profile: Profile, seed: int = 0,
               overrides: dict[int, dict[str, str]] | None = None) -> list[int]:
    """Write `rows` (column name -> typed value) as the partner would; `overrides` replaces
    cells of row i by raw text (defects). Returns each row's line number in the file
    (header = 1; for xlsx the sheet row)."""
    overrides = overrides or {}
    cols = column_order(contract, profile, seed)
    header = [header_name(c, profile.header_style) for c in cols]
    if profile.extra_column:
        header.append(profile.extra_column)
    table = []
    for i, row in enumerate(rows):
        cells = [format_value(c.kind, row.get(c.name), profile) for c in cols]
        for name, raw in overrides.get(i, {}).items():
            if name == "__row__":
                continue
            cells[[c.name for c in cols].index(name)] = raw
        if profile.extra_column:
            cells.append("" if profile.kind == "csv" else None)
        table.append(cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    if profile.kind == "xlsx":
        return _write_xlsx(path, header, table, profile)
    return _write_csv(path, header, table, profile, overrides)


def _csv_line(cells, delimiter: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_MINIMAL).writerow(cells)
    return buf.getvalue()[:-1]


def _write_csv(path, header, table, profile, overrides) -> list[int]:
    out = [_csv_line(header, profile.delimiter)]
    lines = []
    line_no = 2
    for i, cells in enumerate(table):
        text = _csv_line(["" if c is None else c for c in cells], profile.delimiter)
        stray = overrides.get(i, {}).get("__row__")
        if stray:  # a field written with an unprotected delimiter
            text = text + profile.delimiter + stray
        out.append(text)
        lines.append(line_no)
        line_no += 1 + text.count("\n")
    if profile.total_line:
        out.append(profile.delimiter.join(["TOTAL"] + [""] * (len(header) - 1)))
    out.extend([""] * profile.trailing_blank_lines)
    text = profile.newline.join(out) + profile.newline
    encoding = "utf-8-sig" if profile.encoding == "utf-8-sig" else profile.encoding
    with open(path, "w", encoding=encoding, errors="replace", newline="") as fh:
        fh.write(text)
    return lines


def _write_xlsx(path, header, table, profile) -> list[int]:
    import xlsxwriter

    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True, "strings_to_formulas": False,
                                         "strings_to_numbers": False, "strings_to_urls": False,
                                         "default_date_format": "yyyy-mm-dd hh:mm:ss"})
    ws = wb.add_worksheet("export")
    ws.write_row(0, 0, header)
    for r, cells in enumerate(table, start=1):
        ws.write_row(r, 0, cells)
    if profile.total_line:
        ws.write(len(table) + 1, 0, "TOTAL")
    wb.close()
    return list(range(2, 2 + len(table)))


def as_written(text: str, profile: Profile) -> str:
    """What a string becomes once written in the profile's encoding (cp1252 loses some letters)."""
    if profile.kind == "csv" and profile.encoding == "cp1252":
        return text.encode("cp1252", errors="replace").decode("cp1252")
    return text
