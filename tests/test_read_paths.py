"""The exact CSV path has two readers: in Python for files up to PYTHON_RECORDS_MAX_BYTES, in
DuckDB's SQL above. Both must give every file the same records: the same line numbers, text
and fields, else a partner's line would move or change with the size of its file."""
from __future__ import annotations

import random
from pathlib import Path

import duckdb
import pytest

import pipelines.ingest.read as read
from pipelines.contracts import load_contract
from pipelines.synth import hostile

HEADER = ("num_acte;date_signification;etude_commissaire;bailleur_nom;bailleur_type;locataire_nom;"
          "locataire_date_naissance;adresse_voie;adresse_complement;code_postal;loyer_mensuel_cc;"
          "montant_dette;nb_mois_impayes;beneficiaire_apl;date_bail")
ROW = "A-{i};03/02/2026;Étude Moulin;SCI Lilas;prive_morale;DUPONT Hélène;01/01/1970;3 rue X;{c};75011;800,00;1600,00;2;oui;01/02/2019"

CRAFTED = {
    "plain": [ROW.format(i=1, c="")],
    "crlf_and_lone_cr": [ROW.format(i=1, c="a\rb") + "\r", ROW.format(i=2, c="") + "\r\r"],
    "quoted_delimiter_and_doubled_quotes": [ROW.format(i=1, c='"Bât. B; esc. ""2"""'), ROW.format(i=2, c='""')],
    "field_on_three_lines": [ROW.format(i=1, c='"Bât. B\nesc. 2\nporte 3"'), ROW.format(i=2, c="")],
    "quote_never_closed": [ROW.format(i=1, c='"Bât. B'), ROW.format(i=2, c=""), ROW.format(i=3, c="")],
    "stray_delimiters_and_short_lines": [ROW.format(i=1, c="x;y;z"), "A-2;03/02/2026", ROW.format(i=3, c="x;  ; ")],
    "blank_lines_inside_and_after": [ROW.format(i=1, c=""), "", "   ", ROW.format(i=2, c=""), "", ""],
    "record_separator_character": [ROW.format(i=1, c="a\x1eb"), ROW.format(i=2, c='"a\x1e;b"')],
    "lone_quote_field": [ROW.format(i=1, c='"'), ROW.format(i=2, c='"')],
    "unicode": [ROW.format(i=1, c="NGUYỄN Văn Minh ; ÇELIK Ayşe")],
}


def _records(con, path: Path, data: bytes, source: str, python: bool, monkeypatch) -> tuple:
    monkeypatch.setattr(read, "PYTHON_RECORDS_MAX_BYTES", 1 << 40 if python else -1)
    monkeypatch.setattr(read, "FAST_MIN_LINES", 1 << 40)  # the exact path, whatever the size
    try:
        shape = read.read_records(con, path, data, load_contract(source), "_t")
    except read.UnreadableFile as exc:
        return ("unreadable", exc.code)
    if python:
        assert shape.arrow is not None and not shape.temporary
        con.register("_python_records", shape.arrow)
        rows = con.execute("select * from _python_records order by ln").fetchall()
        con.unregister("_python_records")
    else:
        assert shape.arrow is None
        rows = con.execute(f"select * from {shape.records_table} order by ln").fetchall()
        read.drop_objects(con, shape.temporary)
    return shape.records, rows


def _same_records(con, path, data, source, monkeypatch):
    sql = _records(con, path, data, source, False, monkeypatch)
    python = _records(con, path, data, source, True, monkeypatch)
    assert python == sql, path.name


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_python_and_sql_readers_give_a_crafted_file_the_same_records(case, tmp_path, monkeypatch):
    path = tmp_path / f"{case}.csv"
    data = ("\n".join([HEADER, *CRAFTED[case]]) + "\n").encode()
    path.write_bytes(data)
    _same_records(duckdb.connect(), path, data, "cdp", monkeypatch)


def test_python_and_sql_readers_agree_on_hostile_and_synthetic_files(synthetic, tmp_path, monkeypatch):
    con = duckdb.connect()
    rng = random.Random(20261128)
    checked = 0
    for i in range(150):
        data, suffix = hostile.make(rng.choice(list(hostile.KINDS)), i)
        if suffix == ".csv":
            path = tmp_path / f"hostile_{i}.csv"
            path.write_bytes(data)
            _same_records(con, path, data, "cdp", monkeypatch)
            checked += 1
    _, manifest = synthetic
    for source in ("cdp", "procedure", "bailleur"):
        for path in [p for p in manifest.files[source] if p.suffix == ".csv"][:6]:
            _same_records(con, path, path.read_bytes(), source, monkeypatch)
            checked += 1
    assert checked > 100


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_the_line_index_is_the_same_read_a_chunk_at_a_time(chunk, monkeypatch):
    """Large files' line ends are found a chunk at a time: the same ends, line count, trailing
    and inner blank lines as over the whole file at once, wherever the chunks cut."""
    import numpy as np

    data = ("\n".join([HEADER, *CRAFTED["crlf_and_lone_cr"], *CRAFTED["blank_lines_inside_and_after"],
                       *CRAFTED["field_on_three_lines"]]) + "\n\r\n\n").encode()
    whole = read.LineIndex.of(data)
    assert whole.inner_blank and whole.trailing_blank == 2
    monkeypatch.setattr(read, "_CHUNK", chunk)
    chunked = read.LineIndex.of(data)
    assert np.array_equal(chunked.ends, np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10))
    assert (chunked.lines, chunked.trailing_blank, chunked.inner_blank) == (whole.lines, whole.trailing_blank,
                                                                            whole.inner_blank)


def test_two_layouts_in_one_batch_keep_their_own_columns_and_reasons(tmp_path):
    """The préfecture changed its export's layout: files of both layouts, sent together, are typed
    by one statement. Each line must keep its own values, extra columns and header width."""
    from decimal import Decimal

    from pipelines.ingest.load import ingest_files
    from pipelines.warehouse import connect

    def new_layout(line: str, extra: str) -> str:  # the postal code first, an extra column last
        f = line.split(";")
        return ";".join([f[9], *f[:9], *f[10:], extra])

    files = {"old.csv": [HEADER, ROW.format(i=1, c=""), ROW.format(i=2, c="x;y")],
             "new.csv": [new_layout(HEADER, "observations").upper(), new_layout(ROW.format(i=3, c=""), "vu en commission"),
                         new_layout(ROW.format(i=4, c=""), "a;b")]}
    folder = tmp_path / "cdp"
    folder.mkdir()
    for name, lines in files.items():
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    con = connect(tmp_path / "w.duckdb")
    ingest_files(con, "cdp", [folder])
    staged = con.execute("select num_acte, code_postal, montant_dette, extra_columns::varchar from staging_cdp "
                         "order by num_acte").fetchall()
    reasons = dict(con.execute("select q.file_path[-7:], q.reason from quarantine q").fetchall())
    con.close()
    assert [(a, cp, amount) for a, cp, amount, _ in staged] == [("A-1", "75011", Decimal("1600.00")),
                                                                ("A-3", "75011", Decimal("1600.00"))]
    assert staged[0][3] is None and "vu en commission" in staged[1][3]
    assert "les 15 colonnes" in reasons["old.csv"] and "les 16 colonnes" in reasons["new.csv"]


def test_a_long_file_whose_every_line_is_rejected_by_duckdb_is_quarantined_line_by_line(tmp_path):
    """6 000 lines, each with one field more than the header (an unquoted ';' in the complement):
    DuckDB's reader accepts none of them. Every line is set aside with its reason; the file is
    not taken for a header alone."""
    from pipelines.ingest.load import ingest_file
    from pipelines.warehouse import connect

    lines = [HEADER, *(ROW.format(i=i, c="Bât. B; esc. 2") for i in range(6000))]
    assert len(lines) > read.FAST_MIN_LINES
    path = tmp_path / "cdp_separateur.csv"
    path.write_bytes(("\n".join(lines) + "\n").encode())
    con = connect(tmp_path / "w.duckdb")
    res = ingest_file(con, "cdp", path)
    reasons = con.execute("select reason_code, count(*), min(line_number), max(line_number) from quarantine group by 1").fetchall()
    con.close()
    assert (res.status, res.rows_read, res.rows_loaded, res.rows_quarantined) == ("loaded", 6000, 0, 6000)
    assert reasons == [("bad_row_shape", 6000, 2, 6001)]


def _many_rejected(n: int = 300) -> list[str]:
    """Lines DuckDB's reader rejects (a stray delimiter, a date it cannot read), some one after
    the other, more than FEW_REJECTED (their lines are then placed by a join), amid blank and
    TOTAL lines."""
    lines = []
    for i in range(n):
        c = "x;y" if i % 7 == 3 else ""
        lines.append(ROW.format(i=i, c=c).replace("03/02/2026", "31/02/2026") if i % 11 == 5 else ROW.format(i=i, c=c))
        if i % 50 == 9:
            lines += [";;;;", "TOTAL;;;;;;;;;;;;12"]
    return lines + ["", ""]


def test_records_after_rejected_lines_keep_their_line_numbers(tmp_path, monkeypatch):
    """DuckDB's reader, with rejected lines one after the other: every record it accepted is
    given its own line of the file, read straight from the reader's records and once loaded (two
    rejected lines in a row gave the records after them a line one too low, depending on how
    the query was run)."""
    from pipelines.ingest.load import ingest_file
    from pipelines.warehouse import connect

    lines = [HEADER, *_many_rejected()]
    assert sum(1 for i in range(300) if i % 7 == 3 or i % 11 == 5) > read.FEW_REJECTED
    path = tmp_path / "cdp_rejets.csv"
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(data)
    where = {line.split(";")[0]: n for n, line in enumerate(lines, start=1) if line.startswith("A-")}
    monkeypatch.setattr(read, "FAST_MIN_LINES", 0)
    reader = duckdb.connect()
    shape = read.read_records(reader, path, data, load_contract("cdp"), "_t")
    assert shape.slow_table and shape.slow_records > read.FEW_REJECTED  # DuckDB's reader, many rejects
    records = reader.execute(f"select c1, ln from {shape.records_table} where c1 like 'A-%'").fetchall()
    reader.close()
    assert len(records) > 200 and all(where[acte] == ln for acte, ln in records)
    con = connect(tmp_path / "w.duckdb")
    ingest_file(con, "cdp", path)
    staged = con.execute("select num_acte, line_number from staging_cdp").fetchall()
    con.close()
    assert len(staged) > 200 and all(where[acte] == ln for acte, ln in staged)
