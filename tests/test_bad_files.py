"""Files that cannot be read: a one-line message saying what to do, and the data untouched."""
from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import pytest

from tests.conftest import table_checksums
from pipelines.ingest.load import ingest_file
from pipelines.warehouse import connect


def _first_file(synthetic, source, suffix):
    out, manifest = synthetic
    return next(p for p in manifest.files[source] if p.suffix == suffix)


def _cases(synthetic, tmp: Path):
    fsl_xlsx = _first_file(synthetic, "fsl", ".xlsx")
    cdp_csv = _first_file(synthetic, "cdp", ".csv")
    (tmp / "empty.csv").write_bytes(b"")
    (tmp / "report.csv").write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n")
    fsl_as_csv = tmp / "fsl_export.csv"
    import openpyxl

    wb = openpyxl.load_workbook(fsl_xlsx, read_only=True)
    rows = ["\t".join("" if v is None else str(v) for v in row) for row in wb.worksheets[0].iter_rows(values_only=True)]
    wb.close()
    fsl_as_csv.write_text("\n".join(rows) + "\n", encoding="utf-8")
    truncated = tmp / "PARIS-HABITAT_truncated.xlsx"
    data = fsl_xlsx.read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    (tmp / "nothing_known.csv").write_text("colonne a;colonne b;autre\n1;2;3\n4;5;6\n", encoding="utf-8")
    header_only = tmp / "header_only.csv"
    header_only.write_text(cdp_csv.read_text(encoding="cp1252").splitlines()[0] + "\n", encoding="utf-8")
    return {
        "empty": ("cdp", tmp / "empty.csv", "vide"),
        "pdf": ("cdp", tmp / "report.csv", "PDF"),
        "fsl_as_cdp": ("cdp", fsl_as_csv, "vigie ingest fsl"),
        "truncated_xlsx": ("fsl", truncated, "tronqué"),
        "no_known_column": ("procedure", tmp / "nothing_known.csv", "aucune colonne reconnue"),
        "header_only": ("cdp", header_only, "en-tête"),
    }


@pytest.mark.parametrize("case", ["empty", "pdf", "fsl_as_cdp", "truncated_xlsx", "no_known_column", "header_only"])
def test_bad_file_is_explained_and_leaves_the_data_untouched(case, loaded, synthetic, tmp_path):
    wh, _ = loaded
    copy = tmp_path / "w.duckdb"
    shutil.copy(wh, copy)
    con = connect(copy)
    before = table_checksums(con)
    source, path, words = _cases(synthetic, tmp_path)[case]
    res = ingest_file(con, source, path)
    after = table_checksums(con)
    log = con.execute("select status, message from ingest_log order by ingest_id desc limit 1").fetchall()[0]
    con.close()
    assert after == before
    assert res.status == "rejected"
    assert words.lower() in res.message.lower()
    assert "\n" not in res.message and len(res.message) < 300
    assert ":" in res.message  # what happened : what to do
    assert log == ("rejected", res.message)


def test_zip_bomb_is_refused_before_inflating(tmp_path, fresh_warehouse):
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("xl/worksheets/sheet1.xml", b"\0" * (600 * 1024 * 1024))
    con = connect(fresh_warehouse)
    res = ingest_file(con, "fsl", bomb)
    con.close()
    assert res.status == "rejected" and "volumineux" in res.message


def test_missing_required_column_names_it(tmp_path, fresh_warehouse):
    f = tmp_path / "cdp.csv"
    f.write_text("num_acte;date_signification;bailleur_nom\nCDP-1;01/02/2025;SCI A\n", encoding="utf-8")
    con = connect(fresh_warehouse)
    res = ingest_file(con, "cdp", f)
    con.close()
    assert res.status == "rejected"
    assert "locataire_nom" in res.message and "code_postal" in res.message


def test_hostile_header_names_never_reach_sql(tmp_path, fresh_warehouse):
    """A column named like an SQL injection is kept aside as data, nothing else happens."""
    f = tmp_path / "cdp.csv"
    hostile = 'x"; drop table quarantine; --'
    f.write_text(f"num_acte;date_signification;bailleur_nom;bailleur_type;locataire_nom;adresse_voie;code_postal;"
                 f"loyer_mensuel_cc;montant_dette;\"{hostile.replace(chr(34), chr(34) * 2)}\";o'brien\n"
                 "CDP-1;01/02/2025;SCI A;social;NOM Prénom;1 rue X;75001;500;10;v1;v2\n", encoding="utf-8")
    con = connect(fresh_warehouse)
    res = ingest_file(con, "cdp", f)
    extra = con.execute("select extra_columns from staging_cdp").fetchall()[0][0]
    tables = {r[0] for r in con.execute("select table_name from information_schema.tables").fetchall()}
    con.close()
    assert res.status == "loaded" and res.rows_loaded == 1
    assert "quarantine" in tables
    import json

    assert json.loads(extra) == {hostile: "v1", "o'brien": "v2"}
