"""Charter monitoring: indicators against hand computations, published trends, the report,
the pseudonymised analytics snapshot, and the analysts' notebooks executed for real."""
from __future__ import annotations

import json
import os
import re
import shutil
from datetime import date

import nbformat
import pandas as pd
import pytest
from nbclient import NotebookClient

from pipelines.analytics import PseudonymKeyMissing, pseudonym
from pipelines.indicators import charter as charter_indicators
from pipelines.indicators.report import write_report
from pipelines.indicators.trends import funnel_ratios, read_published, series, span_change
from pipelines.run import run
from pipelines.warehouse import connect
from vigie.config import REPO_ROOT

# ---------------------------------------------------------------- a small hand-made city

HOUSEHOLDS = [("M1", 18, "social"), ("M2", 18, "prive_physique"), ("M3", 11, "prive_morale"),
              ("M4", 11, "prive_physique"), ("M5", 20, "social"), ("M6", 20, "social"), ("M7", 20, "social")]
EVENTS = [
    ("M1", "2025-01-10", "arrears", None), ("M1", "2025-02-05", "cdp", None),
    ("M1", "2025-04-20", "assignation", {"hearing": "2025-06-15"}),
    ("M1", "2025-06-15", "jugement", {"outcome": "resiliation_expulsion"}), ("M1", "2025-08-01", "cql", None),
    ("M2", "2025-02-20", "cdp", None),
    ("M3", "2025-03-10", "cdp", None), ("M3", "2025-06-01", "assignation", {"hearing": "2025-07-20"}),
    ("M3", "2025-07-20", "jugement", {"outcome": "delais_accordes"}),
    ("M4", "2024-11-05", "cdp", None), ("M4", "2025-01-15", "sortie_dette_soldee", None),
    ("M5", "2024-04-10", "cfp_accordee", None), ("M5", "2024-05-15", "expulsion", None),
    ("M6", "2025-05-20", "expulsion", None), ("M7", "2025-05-03", "expulsion", None),
]
CONTACTS = [("C2", "2025-03-01", "contacte"), ("C3", "2025-07-01", "accompagnement"), ("C4", "2024-11-10", "non_joignable")]
FSL = [("F1", "M1", "accord", "2025-03-15", 2500.0), ("F2", "M2", "refus", "2025-04-01", None)]
AS_OF = date(2025, 12, 31)


@pytest.fixture()
def small_city(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    con.executemany("insert into households values (?, ?, ?, null, null)", HOUSEHOLDS)
    con.executemany("insert into case_events values (?, ?, ?, 'test', ?, ?)",
                    [(h, d, e, f"{h}|{e}", json.dumps(x) if x else None) for h, d, e, x in EVENTS])
    for ingest_id, source in ((1, "suivi"), (2, "fsl")):
        con.execute("insert into ingest_log (ingest_id, file_path, source, status, ingested_at) "
                    "values (?, ?, ?, 'loaded', current_timestamp)", [ingest_id, f"{source}.csv", source])
    con.executemany("insert into staging_suivi (ingest_id, line_number, case_id, date_contact, statut) values (1, ?, ?, ?, ?)",
                    [(i + 2, c, d, s) for i, (c, d, s) in enumerate(CONTACTS)])
    con.executemany("insert into staging_fsl (ingest_id, line_number, num_dossier, decision, date_decision, montant_accorde) "
                    "values (2, ?, ?, ?, ?, ?)", [(i + 2, n, dec, d, amount) for i, (n, _, dec, d, amount) in enumerate(FSL)])
    con.executemany("insert into record_households values ('fsl', ?, ?)", [(n, h) for n, h, *_ in FSL])
    charter_indicators.compute(con, AS_OF)
    yield con
    con.close()


def _value(con, indicator, detail, period="2025", scope="paris", landlord="tous"):
    rows = con.execute("select distinct value from charter_indicators where indicator = ? and detail = ? and period = ? "
                       "and scope = ? and landlord = ?", [indicator, detail, period, scope, landlord]).fetchall()
    assert len(rows) == 1, (indicator, detail, period, scope, landlord, rows)
    return rows[0][0]


def test_indicators_equal_hand_computations(small_city):
    con = small_city
    assert _value(con, "volume_par_stade", "cdp") == 3                       # M1, M2, M3 (M4's was in 2024)
    assert _value(con, "volume_par_stade", "cdp", scope="18") == 2           # M1, M2
    assert _value(con, "volume_par_stade", "cdp", landlord="prive") == 2     # M2, M3
    assert _value(con, "volume_par_stade", "cdp", period="2025-02") == 2     # M1, M2
    assert _value(con, "conversion_entre_stades", "cdp>assignation") == pytest.approx(2 / 3)
    assert _value(con, "duree_par_stade", "cdp") == pytest.approx((74 + 83) / 2)  # median of 74 and 83 days
    assert _value(con, "part_cdp_contactes_15_jours", "cdp") == pytest.approx(1 / 3)  # M2, 9 days after
    assert _value(con, "part_cdp_contactes_15_jours", "cdp", period="2024") == 0  # M4: nobody reached
    assert _value(con, "part_sans_contact", "cdp") == pytest.approx(1 / 3)   # M1 only: M2, M3 reached later
    assert _value(con, "part_assignations_contact_avant_audience", "assignation") == 0.5  # M3, not M1
    assert _value(con, "decisions_fsl", "accord") == 1 and _value(con, "decisions_fsl", "refus") == 1
    assert _value(con, "montants_fsl", "accorde") == 2500
    assert _value(con, "sorties_par_type", "sortie_dette_soldee") == 1
    assert _value(con, "expulsions_par_mois", "nombre", period="2025-05") == 2
    assert _value(con, "expulsions_par_mois", "evolution_sur_un_an", period="2025-05") == pytest.approx(1.0)
    actions = {a for (a,) in con.execute("select distinct action_id from charter_indicators "
                                         "where indicator = 'part_cdp_contactes_15_jours'").fetchall()}
    assert "A11" in actions


def test_facts_after_the_date_are_not_counted(small_city):
    charter_indicators.compute(small_city, date(2025, 3, 31))
    assert _value(small_city, "volume_par_stade", "cdp") == 3
    assert _value(small_city, "conversion_entre_stades", "cdp>assignation") == 0  # the summons came later


# ---------------------------------------------------------------- published statistics

def test_trends_reproduce_the_published_national_change():
    df = read_published(REPO_ROOT / "data" / "published" / "statistiques_nationales.csv")
    change = span_change(df, 2008, 2017).set_index("indicateur")
    assert change.loc["expulsions_effectives", ["debut", "fin"]].tolist() == [11284, 15547]
    assert round(change.loc["expulsions_effectives", "evolution"], 3) == 0.378
    ratios = funnel_ratios(df).set_index(["annee", "ratio"])["valeur"]
    assert ratios.loc[(2017, "cfp_accordees / cfp_demandes")] == pytest.approx(33837 / 50596)
    s = series(df).set_index(["indicateur", "annee"])
    assert s.loc[("expulsions_effectives", 2017), "evolution"] == pytest.approx(15547 / 14363 - 1)


def test_trends_take_the_latest_revision(tmp_path):
    path = tmp_path / "pub.csv"
    path.write_text("annee,territoire,indicateur,valeur,source,date_publication\n"
                    "2017,paris,expulsions_effectives,999,sans date,\n"
                    "2017,paris,expulsions_effectives,1180,premier,2018-03-01\n"
                    "2017,paris,expulsions_effectives,1210,révisé,2019-06-30\n"
                    "2016,paris,expulsions_effectives,1100,premier,2017-03-01\n", encoding="utf-8")
    df = read_published(path)
    assert df.set_index("annee").loc[2017, "valeur"] == 1210
    assert series(df).set_index("annee").loc[2017, "evolution"] == pytest.approx(1210 / 1100 - 1)


# ---------------------------------------------------------------- run: report, snapshot, notebooks

@pytest.fixture(scope="module")
def monitored(loaded, tmp_path_factory):
    wh, _ = loaded
    folder = tmp_path_factory.mktemp("monitor")
    shutil.copy(wh, folder / "w.duckdb")
    con = connect(folder / "w.duckdb")
    summary = run(con, date.today())
    yield con, folder, summary
    con.close()


def _surnames(truth) -> set[str]:
    """The generator's tenants' surnames (upper-case words of their names in the truth)."""
    records, _ = truth
    return {w for name in records["locataire"] if isinstance(name, str)
            for w in re.findall(r"\b[A-ZÀ-Ý][A-ZÀ-Ý'-]{3,}\b", name)}


def test_the_report_in_french_with_small_counts_hidden(monitored, tmp_path):
    con, _, _ = monitored
    path = write_report(con, tmp_path / "rapport", date(date.today().year - 2, 1, 1), date.today())
    text = path.read_text(encoding="utf-8")
    assert "Suivi de la charte" in text and "L'entonnoir" in text and "trêve hivernale" in text
    assert text.count("data:image/png;base64,") == 3 and "http://" not in text and "https://" not in text
    assert "&lt;11" in text  # this small city has fewer than 11 evictions a year
    for name in ("entonnoir", "tendances", "arrondissements"):
        assert (tmp_path / "rapport" / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for action in ("A11", "A24"):
        assert f"<td>{action}</td>" in text


def test_the_analytics_snapshot_is_pseudonymised_and_stable(monitored, truth):
    con, folder, summary = monitored
    snap = folder / "analytics"
    assert summary["analytics"]["cases"] > 0 and (snap / "DICTIONARY.md").exists()
    assert not list(snap.glob(".*tmp"))  # written then renamed
    frames = {p.stem: pd.read_parquet(p) for p in snap.glob("*.parquet")}
    assert {"households", "case_events", "cases", "charter_indicators", "model_evaluation", "model_fairness"} <= set(frames)
    forbidden = {"locataire", "locataire_nom", "adresse", "adresse_voie", "birth", "date_naissance", "commentaire",
                 "household_id", "case_id", "source_key"}
    surnames = _surnames(truth)
    assert len(surnames) > 30
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(surnames))) + r")\b")
    for name, frame in frames.items():
        assert not forbidden & set(frame.columns), name
        text = " ".join(str(v) for v in frame.select_dtypes(exclude="number").to_numpy().ravel())
        assert not pattern.search(text), (name, pattern.search(text))
    hh = frames["households"]
    key = os.environ["VIGIE_PSEUDONYM_KEY"].encode()
    first = con.execute("select household_id from households order by household_id limit 1").fetchall()[0][0]
    assert pseudonym(key, first) in set(hh["pseudonym"])
    assert pseudonym(b"another key entirely", first) not in set(hh["pseudonym"])
    small = frames["charter_indicators"]
    counts = small[small["indicator"] == "volume_par_stade"]
    assert (counts.loc[counts["value"].between(1, 10), "published_value"] == "<11").all()
    before = set(hh["pseudonym"])
    run(con, date.today())
    assert set(pd.read_parquet(snap / "households.parquet")["pseudonym"]) == before  # stable across runs


def test_a_run_without_a_key_stops_before_changing_anything(loaded, tmp_path, monkeypatch):
    from conftest import table_checksums

    wh, _ = loaded
    shutil.copy(wh, tmp_path / "w.duckdb")
    con = connect(tmp_path / "w.duckdb")
    monkeypatch.delenv("VIGIE_PSEUDONYM_KEY")
    before = table_checksums(con, ["households", "cases", "record_households"])
    with pytest.raises(PseudonymKeyMissing, match="VIGIE_PSEUDONYM_KEY"):
        run(con, date.today())
    assert table_checksums(con, ["households", "cases", "record_households"]) == before
    con.close()


@pytest.mark.parametrize("notebook", sorted(p.name for p in (REPO_ROOT / "notebooks").glob("*.ipynb")))
def test_notebooks_run_top_to_bottom_on_the_snapshot(monitored, notebook, monkeypatch):
    _, folder, _ = monitored
    monkeypatch.setenv("VIGIE_ANALYTICS", str(folder / "analytics"))
    nb = nbformat.read(REPO_ROOT / "notebooks" / notebook, as_version=4)
    NotebookClient(nb, timeout=180, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO_ROOT / "notebooks")}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
    assert not errors
    assert sum(1 for c in nb.cells if c.cell_type == "code" and c.outputs) >= 4
    source = "\n".join(c.source for c in nb.cells)
    assert ".duckdb" not in source  # notebooks never open the nominative warehouse
