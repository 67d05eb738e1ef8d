"""Case lists as the teams receive them: only their cases, priority order, capacity cut,
editable return columns only, no cell read as a formula."""
from __future__ import annotations

import csv
from datetime import date

import openpyxl
import pandas as pd
import pytest

from conftest import ran_copy
from pipelines.route.case_lists import COLUMNS, case_list, write_csv, write_xlsx
from pipelines.route.routing import capacity
from pipelines.run import run


@pytest.fixture(scope="module")
def routed(loaded, tmp_path_factory):
    con, _ = ran_copy(loaded, tmp_path_factory, "lists")
    yield con
    con.close()


def test_a_social_service_sees_only_its_arrondissement(routed):
    lists = {f"ssp-{a:02d}": case_list(routed, f"ssp-{a:02d}") for a in range(1, 21)}
    assert sum(len(df) for df in lists.values()) > 50
    for dest, df in lists.items():
        arrs = {int(cp) % 100 if cp != "75116" else 16 for cp in df["code_postal"].dropna()}
        assert arrs <= {int(dest[-2:])}, (dest, arrs)


def test_adil_gets_private_tenants_at_the_commandement_and_court_stages_as_co_worker(routed):
    df = case_list(routed, "adil")
    assert len(df) > 10
    owners = routed.execute("select case_id, stage, destination, co_destinations from cases").fetchall()
    expected = {cid for cid, stage, dest, co in owners if dest == "adil" or "adil" in (co or [])}
    assert set(df["case_id"]) == expected
    stages = dict(routed.execute("select case_id, stage from cases").fetchall())
    btypes = dict(routed.execute("select case_id, bailleur_type from cases join households using (household_id)").fetchall())
    for cid in df["case_id"]:
        assert stages[cid] in ("assignation", "cql") or (stages[cid] == "cdp" and btypes[cid] != "social")


def test_priority_order_and_capacity(routed):
    df = case_list(routed, "adil")
    assert list(df["priorite"]) == list(range(1, len(df) + 1))
    assert df["dans_capacite"].sum() == min(len(df), capacity("adil"))
    assert list(df.columns[: len(COLUMNS)]) == COLUMNS


def test_formula_injection_is_neutralised(routed, tmp_path):
    df = case_list(routed, "adil").head(3).copy()
    df.loc[0, "locataire"] = '=HYPERLINK("http://exemple.invalid","cliquez")'
    df.loc[1, "adresse"] = "+33 1 23 45 67 89"
    df.loc[2, "bailleur"] = "@SUM(A1:A9)"
    xlsx = write_xlsx(df, tmp_path / "adil.xlsx", "adil", date.today())
    ws = openpyxl.load_workbook(xlsx).worksheets[0]
    cells = [c for row in ws.iter_rows(min_row=2) for c in row if isinstance(c.value, str) and c.value[:1] in "=+@-"]
    assert len(cells) == 3 and all(c.data_type == "s" for c in cells)
    path = write_csv(df, tmp_path / "adil.csv")
    with open(path, encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh, delimiter=";"))
    values = [v for r in rows[1:] for v in r]
    assert "'=HYPERLINK(\"http://exemple.invalid\",\"cliquez\")" in values and "'+33 1 23 45 67 89" in values
    assert not any(v[:1] in "=+@" for v in values if v)


def test_every_list_is_written_as_csv_with_empty_cells_where_no_deadline_is_ahead(routed, tmp_path):
    """`vigie cases ... --format csv`: a case with no legal deadline ahead (a judgment awaiting
    its CQL) has an empty cell; the CSV export stopped on it before."""
    lists = [case_list(routed, d) for d in ("adil", *(f"ssp-{a:02d}" for a in range(1, 21)))]
    assert any(df["prochaine_echeance"].isna().any() for df in lists)
    for i, df in enumerate(lists):
        with open(write_csv(df, tmp_path / f"{i}.csv"), encoding="utf-8-sig") as fh:
            rows = list(csv.DictReader(fh, delimiter=";"))
        assert len(rows) == len(df)
        assert [r["prochaine_echeance"] == "" for r in rows] == df["prochaine_echeance"].isna().tolist()


def test_only_the_return_columns_are_editable_and_statut_offers_its_values(routed, tmp_path):
    df = case_list(routed, "adil")
    ws = openpyxl.load_workbook(write_xlsx(df, tmp_path / "adil.xlsx", "adil", date.today())).worksheets[0]
    assert ws.protection.sheet
    header = [c.value for c in ws[1]]
    unlocked = {header[c.column - 1] for row in ws.iter_rows(min_row=2) for c in row if not c.protection.locked}
    assert unlocked == {"date_contact", "statut", "commentaire"}
    (dv,) = ws.data_validations.dataValidation
    assert "non_joignable" in dv.formula1 and "clos_relogement" in dv.formula1


def test_the_round_trip_a_closed_case_leaves_the_next_list(routed, tmp_path):
    """ADIL fills its return columns in the xlsx, the file comes back, the next run drops
    the case it closed and keeps the one it contacted."""
    from pipelines.ingest.load import ingest_files

    first = case_list(routed, "adil")
    path = write_xlsx(first, tmp_path / "adil.xlsx", "adil", date.today())
    wb = openpyxl.load_workbook(path)
    ws = wb["cas"]
    header = [c.value for c in ws[1]]
    col = {name: header.index(name) + 1 for name in ("case_id", "date_contact", "statut", "commentaire")}
    closed, contacted = ws.cell(row=2, column=col["case_id"]).value, ws.cell(row=3, column=col["case_id"]).value
    ws.cell(row=2, column=col["date_contact"]).value = date.today()
    ws.cell(row=2, column=col["statut"]).value = "clos_dette_soldee"
    ws.cell(row=3, column=col["date_contact"]).value = date.today()
    ws.cell(row=3, column=col["statut"]).value = "contacte"
    ws.cell(row=3, column=col["commentaire"]).value = "rappeler lundi"
    wb.save(path)
    (res,), _ = ingest_files(routed, "suivi", [path])
    assert (res.status, res.rows_loaded, res.rows_quarantined) == ("loaded", 2, 0)
    assert res.rows_skipped == len(first) - 2  # the lines not worked this week
    # the list's other columns (tenant's name, address...) are not kept a second time
    assert routed.execute("select count(*) from staging_suivi where extra_columns is not null").fetchall() == [(0,)]
    run(routed, date.today())
    again = set(case_list(routed, "adil")["case_id"])
    assert closed not in again and contacted in again


def test_charter_catalogue_and_the_actions_each_case_gets(routed):
    from pipelines.route.routing import charter

    cat = charter()
    assert len(cat["orientations"]) == 5 and len(cat["actions"]) == 24
    assert {a["id"]: a["title_source"] for a in cat["actions"]}["A11"] == "official"
    assert all(a["title_source"] in ("official", "derived") and a["orientation"] in cat["orientations"]
               for a in cat["actions"])
    rows = routed.execute("select c.stage, h.bailleur_type, c.charter_actions from cases c "
                          "join households h using (household_id)").fetchall()
    private_cdp = [acts for stage, bt, acts in rows if stage == "cdp" and bt in ("prive_physique", "prive_morale")]
    assert private_cdp and all("A11" in acts for acts in private_cdp)
    assert all("A11" not in acts for stage, bt, acts in rows if stage != "cdp")
    df = case_list(routed, "adil")
    assert df["actions_charte"].str.contains("A11").any()


def test_unreachable_three_times_and_no_follow_up_escalate_to_the_social_service(routed, tmp_path):
    from datetime import timedelta

    from pipelines.ingest.load import ingest_files
    from pipelines.route.case_lists import log_listed

    adil = case_list(routed, "adil")
    owned = routed.execute("select case_id from cases where destination = 'adil' and not urgent "
                           "order by priority_rank desc limit 2").fetchall()
    unreachable, silent = owned[0][0], owned[1][0]
    lines = "".join(f"{unreachable};adil;{(date.today() - timedelta(days=d)):%d/%m/%Y};non_joignable;\n" for d in (1, 5, 9))
    path = tmp_path / "suivi.csv"
    path.write_text("case_id;destination;date_contact;statut;commentaire\n" + lines, encoding="utf-8")
    ingest_files(routed, "suivi", [path])
    old = adil[adil["case_id"] == silent].assign(dans_capacite=True)
    log_listed(routed, old, "adil", date.today() - timedelta(days=20))
    run(routed, date.today())
    rows = {cid: (urgent, reasons, co) for cid, urgent, reasons, co in routed.execute(
        "select case_id, urgent, risk_reasons, co_destinations from cases where case_id in (?, ?)",
        [unreachable, silent]).fetchall()}
    assert rows[unreachable][0] is True and "injoignable 3 fois" in rows[unreachable][1]
    assert any(d.startswith("ssp-") for d in rows[unreachable][2])
    assert "sans suivi depuis 14 jours" in rows[silent][1] and any(d.startswith("ssp-") for d in rows[silent][2])
    ssp_of_silent = next(d for d in rows[silent][2] if d.startswith("ssp-"))
    assert silent in set(case_list(routed, ssp_of_silent)["case_id"])


def _ranks(con) -> dict:
    return {cid: (d, r, u, w) for cid, d, r, u, w in con.execute(
        "select case_id, destination, priority_rank, urgent, within_capacity from cases").fetchall()}


def test_evaluation_mode_shuffles_within_tiers_with_a_stored_seed(routed):
    run(routed, date.today())
    normal = _ranks(routed)
    run(routed, date.today(), evaluation_seed=1234)
    drawn = _ranks(routed)
    run(routed, date.today(), evaluation_seed=1234)
    assert _ranks(routed) == drawn  # the stored seed reproduces the order
    draws = routed.execute("select seed, destination, case_id, tier, rank_before, rank_after from evaluation_draws "
                           "where seed = 1234").fetchdf()
    assert len(draws) > 50 and (draws["rank_before"] != draws["rank_after"]).sum() > 20
    for (_, _, _), g in draws.groupby(["seed", "destination", "tier"]):
        assert sorted(g["rank_before"]) == sorted(g["rank_after"])  # a permutation inside its tier
    for cid, (dest, rank, urgent, within) in normal.items():
        assert drawn[cid][0] == dest and drawn[cid][3] == within  # same lists, same capacity cut
        if urgent or not within:
            assert drawn[cid][1] == rank  # hearings in 9 days are never moved
    run(routed, date.today())
    assert _ranks(routed) == normal


def test_shadow_mode_records_another_model_without_changing_the_lists(routed):
    from pipelines.risk.model import current_version

    run(routed, date.today())
    before = case_list(routed, "adil")
    summary = run(routed, date.today(), shadow_model=current_version())
    assert summary["shadow_scored"] == routed.execute("select count(*) from cases").fetchall()[0][0]
    pd.testing.assert_frame_equal(case_list(routed, "adil"), before)
    shadow = routed.execute("select case_id, risk_score, shadow_rank from shadow_scores where destination = 'adil' "
                            "order by shadow_rank").fetchall()
    owned = routed.execute("select count(*) from cases where destination = 'adil'").fetchall()[0][0]
    assert len(shadow) == owned and shadow[0][2] == 1
    assert all(a[1] >= b[1] for a, b in zip(shadow, shadow[1:]))
