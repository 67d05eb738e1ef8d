"""The `vigie` command as a user runs it: Prefect flows for real, exit codes, JSON, artifacts."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vigie.cli import app

pytestmark = pytest.mark.slow
runner = CliRunner()


def _run(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_ingest_exit_codes_and_json(prefect_harness, synthetic, tmp_path):
    out, manifest = synthetic
    wh = tmp_path / "w.duckdb"
    clean = tmp_path / "cdp_clean.csv"
    clean.write_text("num_acte;date_signification;bailleur_nom;bailleur_type;locataire_nom;adresse_voie;"
                     "code_postal;loyer_mensuel_cc;montant_dette\n"
                     "CDP-9;03/02/2025;SCI Horizon;prive_morale;DIALLO Aïcha;4 rue Myrha;75018;850,00;1 700,00\n",
                     encoding="utf-8")
    code, stdout, _ = _run("ingest", "cdp", clean, "--warehouse", wh, "--json")
    assert code == 0
    doc = json.loads(stdout)
    assert doc["files"][0]["rows_loaded"] == 1 and doc["files"][0]["status"] == "loaded"
    code, stdout, _ = _run("ingest", "cdp", clean, "--warehouse", wh, "--json")
    assert code == 0 and json.loads(stdout)["files"][0]["status"] == "already_loaded"
    # a whole folder with defects: loaded, but a person must look (exit 1)
    code, stdout, _ = _run("ingest", "procedure", out / "procedure", "--warehouse", wh)
    assert code == 1 and "quarantaine" in stdout
    code, stdout, _ = _run("quarantine", "--source", "procedure", "--warehouse", wh, "--json")
    assert code == 0 and json.loads(stdout)["count"] > 0
    bad = tmp_path / "rapport.csv"
    bad.write_bytes(b"%PDF-1.4\n")
    code, _, stderr = _run("ingest", "cdp", bad, "--warehouse", wh)
    assert code == 2 and "PDF" in stderr
    code, _, stderr = _run("ingest", "cdpp", bad, "--warehouse", wh)
    assert code == 2 and "source inconnue" in stderr


def test_demo_runs_the_pipeline_and_publishes_artifacts(prefect_harness, tmp_path):
    wh = tmp_path / "demo.duckdb"
    code, stdout, _ = _run("demo", "--households", 150, "--seed", 3, "--out", tmp_path / "demo", "--warehouse", wh, "--json")
    assert code in (0, 1)
    doc = json.loads(stdout)
    assert doc["totals"]["rows_loaded"] > 300
    assert {l["destination"] for l in doc["case_lists"]} >= {"adil"} and all(
        (tmp_path / "demo" / "case_lists" / f"{l['file'].split('/')[-1]}").exists() for l in doc["case_lists"])
    assert doc["totals"]["rows_read"] == (doc["totals"]["rows_loaded"] + doc["totals"]["rows_quarantined"]
                                          + doc["totals"]["rows_skipped"])
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(like_="ingest-")))
    assert {a.key for a in artifacts} >= {"ingest-cdp", "ingest-bailleur", "ingest-fsl", "ingest-procedure"}
    with get_client(sync_client=True) as client:
        summary = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["run-summary"])))
    text = summary[0].data
    assert "Listes de cas" in text and "Quarantaine" in text and "| adil |" in text and "modèle de risque" in text
    assert (tmp_path / "demo" / "rapport" / "rapport_charte.html").exists() and doc["report"].endswith("rapport_charte.html")
    code, stdout, _ = _run("report", "--warehouse", wh, "--out", tmp_path / "r", "--from", "2025-01-01", "--json")
    assert code == 0 and (tmp_path / "r" / "rapport_charte.html").exists()
    # nothing personal in what Prefect keeps (artifacts, logs) nor in the report
    import re

    import pandas as pd

    truth = pd.read_csv(tmp_path / "demo" / "data" / "truth" / "records.csv", dtype=str, keep_default_na=False)
    surnames = {w for name in truth["locataire"] for w in re.findall(r"\b[A-ZÀ-Ý][A-ZÀ-Ý'-]{3,}\b", name)}
    assert len(surnames) > 30
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, sorted(surnames))) + r")\b")
    with get_client(sync_client=True) as client:
        every_artifact = client.read_artifacts()
        logs = client.read_logs()
    texts = [str(a.data) + str(a.description or "") for a in every_artifact] + [log.message for log in logs]
    texts.append((tmp_path / "demo" / "rapport" / "rapport_charte.html").read_text(encoding="utf-8"))
    assert len(every_artifact) >= 6
    leaks = [pattern.search(t).group(0) for t in texts if pattern.search(t)]
    assert not leaks, leaks[:5]
    # running the demo again on its own warehouse starts afresh; a real warehouse is never erased
    real = tmp_path / "real.duckdb"
    _run("ingest", "cdp", tmp_path / "demo" / "data" / "cdp", "--warehouse", real)
    code, _, stderr = _run("demo", "--households", 50, "--out", tmp_path / "demo2", "--warehouse", real)
    assert code == 2 and "données réelles" in stderr


def test_run_household_and_review(prefect_harness, loaded, tmp_path):
    import shutil

    wh, _ = loaded
    copy = tmp_path / "w.duckdb"
    shutil.copy(wh, copy)
    code, stdout, stderr = _run("run", "--as-of", "2026-01-15", "--warehouse", copy, "--json")
    assert code in (0, 1), stderr
    summary = json.loads(stdout)
    assert summary["as_of"] == "2026-01-15" and summary["open_cases"] > 0 and summary["households"] > 100
    import duckdb

    con = duckdb.connect(str(copy), read_only=True)
    hid = con.execute("select household_id from source_records group by 1 having count(distinct source) >= 2 "
                      "limit 1").fetchall()[0][0]
    con.close()
    code, stdout, _ = _run("household", hid, "--warehouse", copy, "--json")
    doc = json.loads(stdout)
    assert code == 0 and len({r["source"] for r in doc["records"]}) >= 2 and doc["events"]
    code, stdout, _ = _run("review", "--warehouse", copy, "--json")
    assert code == 0 and "pending" in json.loads(stdout)
    code, _, stderr = _run("run", "--as-of", "hier", "--warehouse", copy)
    assert code == 2 and "date illisible" in stderr


def test_trends_command(tmp_path):
    from vigie.config import REPO_ROOT

    code, stdout, _ = _run("trends", REPO_ROOT / "data" / "published" / "statistiques_nationales.csv", "--span", "2008:2017")
    assert code == 0 and "+37,8 %" in stdout
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("year;value\n2017;15547\n", encoding="utf-8")
    code, _, stderr = _run("trends", wrong)
    assert code == 2 and "colonnes absentes" in stderr
    code, _, stderr = _run("trends", REPO_ROOT / "README.md")
    assert code == 2 and "illisible" in stderr
    code, _, stderr = _run("trends", REPO_ROOT / "data" / "published" / "statistiques_nationales.csv", "--span", "2017")
    assert code == 2 and "ANNEE:ANNEE" in stderr
