"""Great Expectations runs the contract's suites for real on each loaded batch."""
from __future__ import annotations

import shutil

import duckdb

from pipelines.contracts import load_contract
from pipelines.ingest.load import IngestResult, validate_loaded
from pipelines.validate import build_batch_expectations, build_row_expectations
from pipelines.warehouse import connect


def test_suites_derive_from_the_contract():
    contract = load_contract("fsl")
    row = build_row_expectations(contract)
    kinds = [type(e).__name__ for e in row]
    # every required column is checked for nulls, every enum for its values, every cross rule has an expectation
    assert sum("NotBeNull" in k for k in kinds) == len(contract.required) + sum(
        r.rule == "required_when" for r in contract.cross_rules)
    assert sum("InSet" in k for k in kinds) == sum(c.kind in ("enum", "postal_code_paris") for c in contract.columns)
    assert sum("PairValues" in k for k in kinds) == sum(r.rule != "required_when" for r in contract.cross_rules)
    batch = [type(e).__name__ for e in build_batch_expectations(contract)]
    assert batch[0] == "ExpectColumnPairValuesAToBeGreaterThanB"  # volume against the previous batch


def test_a_line_that_slipped_past_the_sql_rules_is_caught_and_quarantined(loaded, tmp_path):
    """Simulate a rule the SQL side missed: the suite names the line and it moves to quarantine."""
    wh, results = loaded
    copy = tmp_path / "w.duckdb"
    shutil.copy(wh, copy)
    con = connect(copy)
    last = results["fsl"][-1]
    target = con.execute("select line_number from staging_fsl where ingest_id = ? and decision = 'accord' limit 1",
                         [last.ingest_id]).fetchall()[0][0]
    con.execute("update staging_fsl set montant_accorde = null where ingest_id = ? and line_number = ?",
                [last.ingest_id, target])
    res = IngestResult(last.file_path, "fsl", "loaded", last.rows_read, last.rows_loaded, last.rows_quarantined,
                       last.rows_skipped, ingest_id=last.ingest_id, min_rows=0)
    outcomes = validate_loaded(con, "fsl", [res])
    failed = [o for o in outcomes if not o.success and o.level == "row"]
    assert [(o.expectation, o.column) for o in failed] == [("expect_column_values_to_not_be_null", "montant_accorde")]
    assert failed[0].unexpected == [(last.ingest_id, target)]
    q = con.execute("select reason_code, reason from quarantine where ingest_id = ? and line_number = ?",
                    [last.ingest_id, target]).fetchall()
    still = con.execute("select count(*) from staging_fsl where ingest_id = ? and line_number = ?",
                        [last.ingest_id, target]).fetchall()[0][0]
    log = con.execute("select validation_success, rows_loaded, rows_quarantined from ingest_log where ingest_id = ?",
                      [last.ingest_id]).fetchall()[0]
    con.close()
    assert q[0][0] == "gx_expectation" and "montant_accorde" in q[0][1]
    assert still == 0
    assert log == (False, last.rows_loaded - 1, last.rows_quarantined + 1)


def test_every_loaded_file_has_a_validation_record(loaded):
    wh, _ = loaded
    con = duckdb.connect(str(wh), read_only=True)
    missing = con.execute("select count(*) from ingest_log where status = 'loaded' and validation is null").fetchall()[0][0]
    sample = con.execute("select validation from ingest_log where status = 'loaded' limit 1").fetchall()[0][0]
    con.close()
    assert missing == 0
    assert '"expect_column_values_to_not_be_null"' in sample
