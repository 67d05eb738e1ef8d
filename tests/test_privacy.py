"""Personal data: the retention purge removes names and addresses of closed situations
while open cases keep theirs and the aggregates stay; every list export is logged."""
from __future__ import annotations

import os
import shutil
from datetime import date

import pytest

from pipelines.purge import purge
from pipelines.route.case_lists import case_list, write_lists
from pipelines.run import run
from pipelines.warehouse import connect

NAMES = "select r.household_id, s.locataire_nom, s.adresse_voie from source_records r join staging_cdp s " \
        "on s.ingest_id = r.ingest_id and s.line_number = r.line_number where r.source = 'cdp'"
INDICATORS = "select distinct period, period_kind, indicator, detail, scope, landlord, value from charter_indicators " \
             "where indicator in ('volume_par_stade', 'expulsions_par_mois', 'sorties_par_type')"


@pytest.fixture()
def city(loaded, tmp_path):
    wh, _ = loaded
    shutil.copy(wh, tmp_path / "w.duckdb")
    con = connect(tmp_path / "w.duckdb")
    run(con, date.today())
    yield con
    con.close()


def test_purge_removes_names_of_closed_situations_and_keeps_the_rest(city):
    con = city
    before_names = con.execute(NAMES).fetchall()
    open_households = {r[0] for r in con.execute("select household_id from cases").fetchall()}
    indicators = set(con.execute(INDICATORS).fetchall())
    households = {r[0] for r in con.execute("select household_id from households").fetchall()}
    key = os.environ["VIGIE_PSEUDONYM_KEY"].encode()

    summary = purge(con, date.today(), key)
    assert summary["households"] > 50 and summary["rows"]["cdp"] > 0

    after = {(h, n, a) for h, n, a in con.execute(NAMES).fetchall()}
    purged = {h for h, in con.execute("select household_id from purge_log").fetchall()}
    assert purged and not purged & open_households
    kept_values = {n for _, n, _ in after} | {a for _, _, a in after}
    for hid, name, address in before_names:
        if hid in purged:
            assert name not in kept_values and address not in kept_values  # gone everywhere
        elif hid in open_households:
            assert (hid, name, address) in after  # open cases keep what their lists need
    adil = case_list(con, "adil")
    assert adil["locataire"].notna().all() and not adil["locataire"].str.startswith("P").all()
    # the aggregates and the households survive a new run
    run(con, date.today())
    assert set(con.execute(INDICATORS).fetchall()) == indicators
    assert {r[0] for r in con.execute("select household_id from households").fetchall()} == households
    # and a second purge has nothing left to do
    assert purge(con, date.today(), key)["households"] == 0


def test_every_export_is_logged(city, tmp_path):
    written = write_lists(city, ["adil", "ssp-18"], tmp_path / "lists")
    log = city.execute("select destination, file_path, rows from export_log order by destination").fetchall()
    assert [(d, r) for d, _, r in log] == [(w["destination"], w["rows"]) for w in written]
    assert all(p.endswith(".xlsx") and os.path.exists(p) for _, p, _ in log)
