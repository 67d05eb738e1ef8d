"""Row conservation and defect accounting on the generator's output (its truth kept aside)."""
from __future__ import annotations

import duckdb
import pytest

from tests.conftest import rel, table_checksums
from pipelines.ingest.load import ingest_files
from pipelines.warehouse import connect


def test_every_line_is_loaded_quarantined_or_skipped(loaded, synthetic, truth):
    wh, results = loaded
    out, _ = synthetic
    _, files = truth
    expected = files.set_index("file")
    seen = set()
    for source, rs in results.items():
        for r in rs:
            assert r.status == "loaded", (r.file_path, r.message)
            assert r.rows_read == r.rows_loaded + r.rows_quarantined + r.rows_skipped, r.file_path
            f = expected.loc[rel(r.file_path, out)]
            assert r.rows_read == f["records"] + f["skipped"], r.file_path
            assert r.rows_quarantined == f["defects"], r.file_path
            assert r.rows_skipped == f["skipped"], r.file_path
            seen.add(rel(r.file_path, out))
    assert seen == set(expected.index)


def test_each_defect_is_quarantined_at_its_line_with_its_reason(loaded, synthetic, truth):
    wh, _ = loaded
    out, _ = synthetic
    records, _ = truth
    con = duckdb.connect(str(wh), read_only=True)
    q = con.execute("select file_path, line_number, reason_code, reason from quarantine").fetchall()
    con.close()
    got = {(rel(fp, out), int(ln)): (code, reason) for fp, ln, code, reason in q}
    defects = records[records["defect"] != ""]
    want = {(r.file, int(r.line_number)): r.defect for r in defects.itertuples()}
    assert len(want) > 30  # the fixture does inject defects of many kinds
    assert set(got) == set(want), "quarantined lines differ from the injected defects"
    wrong = {k: (got[k][0], v) for k, v in want.items() if got[k][0] != v}
    assert not wrong, f"reason codes differ (got, want): {wrong}"
    assert all(len(reason) > 20 for _, reason in got.values())  # a sentence, not a code


def test_defects_cover_every_kind_the_contracts_forbid(truth):
    records, _ = truth
    kinds = set(records.loc[records["defect"] != "", "defect"])
    for code in ("missing_required", "bad_date", "future_date", "outside_paris", "unknown_value", "bad_amount",
                 "out_of_range"):
        assert code in kinds, code


def test_source_records_hold_the_latest_version_of_each_key(loaded, truth):
    wh, _ = loaded
    records, _ = truth
    con = duckdb.connect(str(wh), read_only=True)
    keys = con.execute("select source, source_key, count(*) from source_records group by all having count(*) > 1").fetchall()
    assert keys == []
    clean = records[records["defect"] == ""]
    expected = clean.groupby("source")["source_key"].nunique().to_dict()
    got = dict(con.execute("select source, count(*) from source_records group by source").fetchall())
    resent = con.execute("select count(*) from (select num_acte from staging_cdp group by num_acte having count(*) > 1)").fetchall()[0][0]
    con.close()
    assert got == expected
    assert resent > 0  # re-sent acts are kept as history in staging, once in source_records


def test_reingesting_everything_changes_nothing(loaded, synthetic, tmp_path):
    wh, _ = loaded
    out, _ = synthetic
    copy = tmp_path / "again.duckdb"
    copy.write_bytes(wh.read_bytes())
    con = connect(copy)
    before = table_checksums(con)
    for source in ("cdp", "bailleur", "fsl", "procedure"):
        results, outcomes = ingest_files(con, source, [out / source])
        assert {r.status for r in results} == {"already_loaded"}
        assert outcomes == []
    assert table_checksums(con) == before
    statuses = dict(con.execute("select status, count(*) from ingest_log group by status").fetchall())
    con.close()
    assert statuses["already_loaded"] == statuses["loaded"]


def test_suspicious_half_empty_snapshot_is_flagged(loaded, synthetic, truth):
    wh, results = loaded
    out, _ = synthetic
    _, files = truth
    dropped = set(files.loc[files["volume_drop"], "file"])
    assert len(dropped) == 1
    flagged = {rel(r.file_path, out) for r in results["bailleur"] if "volume anormal" in r.message}
    assert dropped <= flagged
    con = duckdb.connect(str(wh), read_only=True)
    row = con.execute("select validation_success, message from ingest_log where file_path like ?",
                      ["%" + next(iter(dropped))]).fetchall()[0]
    con.close()
    assert row[0] is False and "volume anormal" in row[1]


def test_returned_follow_up_with_unknown_case_ids_goes_to_quarantine(loaded, tmp_path):
    import shutil

    import pandas as pd

    from pipelines.synth.generate import write_suivi

    wh, _ = loaded
    copy = tmp_path / "w.duckdb"
    shutil.copy(wh, copy)
    con = connect(copy)
    con.execute("insert into cases (case_id, household_id) values ('C0000001', 'M0000001'), ('C0000002', 'M0000002')")
    path = write_suivi(tmp_path, [(f"C000000{i}", "adil") for i in (1, 2)] * 40, seed=5, share=1.0)
    truth = pd.read_csv(tmp_path / "truth" / "suivi.csv", keep_default_na=False)
    (res,), _ = ingest_files(con, "suivi", [path])
    q = dict(con.execute("select line_number, reason_code from quarantine where source = 'suivi'").fetchall())
    con.close()
    want = {int(r.line_number): r.defect for r in truth.itertuples() if r.defect}
    assert "unknown_case" in want.values()
    assert q == want
    assert res.rows_loaded == len(truth) - len(want)


@pytest.mark.parametrize("batch_files", [64, 1])
def test_the_same_content_twice_in_one_call_is_loaded_once(batch_files, synthetic, tmp_path, monkeypatch):
    """Files are read in batches: a copy of a file sent in the same call (another name, same
    bytes) must still be recognised, and its lines not loaded twice, whether it falls in the
    original's batch or in a later one."""
    import shutil

    import pipelines.ingest.load as load

    monkeypatch.setattr(load, "BATCH_FILES", batch_files)

    out, manifest = synthetic
    folder = tmp_path / "envoi"
    folder.mkdir()
    first, second = manifest.files["procedure"][:2]
    shutil.copy(first, folder / "a_original.csv")
    shutil.copy(second, folder / "b_autre.csv")
    shutil.copy(first, folder / "c_copie.csv")
    con = connect(tmp_path / "w.duckdb")
    results, _ = ingest_files(con, "procedure", [folder])
    staged = dict(con.execute("select ingest_id, count(*) from staging_procedure group by 1").fetchall())
    con.close()
    assert [r.status for r in results] == ["loaded", "loaded", "already_loaded"]
    assert "a_original.csv" in results[2].message
    assert set(staged) == {results[0].ingest_id, results[1].ingest_id}
    assert staged[results[0].ingest_id] == results[0].rows_loaded > 0


@pytest.mark.parametrize("source", ["cdp", "bailleur"])
def test_large_files_read_alone_load_the_same_rows(source, synthetic, tmp_path, monkeypatch):
    """A file past BATCH_LINES is typed straight from what was read, alone in its batch: its
    rows, quarantined lines, skipped lines and counts must be those of the batched path."""
    import pipelines.ingest.load as load

    out, _ = synthetic

    def ingest(name):
        con = connect(tmp_path / name)
        results, _ = ingest_files(con, source, [out / source])
        sums = table_checksums(con)
        con.close()
        return [(r.status, r.rows_read, r.rows_loaded, r.rows_quarantined, r.rows_skipped, r.message) for r in results], sums

    batched = ingest("batched.duckdb")
    monkeypatch.setattr(load, "BATCH_LINES", 2)  # every file is "large"
    alone = ingest("alone.duckdb")
    assert alone == batched
    assert sum(r[3] for r in batched[0]) > 0 and sum(r[4] for r in batched[0]) > 0  # lines set aside, lines skipped
