"""Shared fixtures: a small synthetic Paris, ingested once per session with the real
DuckDB, Great Expectations and (for the `slow` tests) Prefect."""
from __future__ import annotations

import os
import shutil
import tempfile
from datetime import date, timedelta
from pathlib import Path

_prefect_home = tempfile.mkdtemp(prefix="vigie-prefect-")
os.environ.setdefault("PREFECT_HOME", _prefect_home)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# the key that pseudonymises the analytics snapshot (synthetic data only; real runs take theirs
# from the environment or a file outside the repository)
os.environ.setdefault("VIGIE_PSEUDONYM_KEY", "test-key-synthetic-data-only")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from pipelines.contracts import SOURCES  # noqa: E402
from pipelines.ingest.load import ingest_files  # noqa: E402
from pipelines.synth.generate import generate  # noqa: E402
from pipelines.warehouse import connect  # noqa: E402

DATA_TABLES = ["quarantine", "skipped_lines", "record_households"] + [f"staging_{s}" for s in SOURCES]


def table_checksums(con, tables=DATA_TABLES) -> dict:
    """Row count and an order-independent hash of every row, per table."""
    return {t: con.execute(f"select count(*), coalesce(sum(hash(x)), 0) from {t} x").fetchall()[0] for t in tables}


@pytest.fixture(scope="session")
def synthetic(tmp_path_factory):
    """A small synthetic Paris: 500 households over one year, fixed seed, many defects."""
    out = tmp_path_factory.mktemp("synthetic")
    manifest = generate(out, households=500, seed=7, end=date.today() - timedelta(days=1), years=1,
                        defect_rate=0.06)
    return out, manifest


@pytest.fixture(scope="session")
def loaded(synthetic, tmp_path_factory):
    """The synthetic files ingested source by source into a fresh warehouse."""
    out, manifest = synthetic
    wh = tmp_path_factory.mktemp("wh") / "vigie.duckdb"
    con = connect(wh)
    results = {}
    for source in ("cdp", "bailleur", "fsl", "procedure"):
        results[source], _ = ingest_files(con, source, [out / source])
    con.close()
    return wh, results


def ran_copy(loaded, tmp_path_factory, name: str):
    """A copy of the ingested city after `vigie run` as of today: (connection, run summary). Each
    test module takes its own copy (its tests change it)."""
    from pipelines.run import run

    wh, _ = loaded
    copy = tmp_path_factory.mktemp(name) / "w.duckdb"
    shutil.copy(wh, copy)
    con = connect(copy)
    return con, run(con, date.today())


@pytest.fixture(scope="session")
def truth(synthetic):
    out, _ = synthetic
    records = pd.read_csv(out / "truth" / "records.csv", dtype=str, keep_default_na=False)
    files = pd.read_csv(out / "truth" / "files.csv", dtype={"file": str})
    return records, files


@pytest.fixture(scope="session")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture()
def fresh_warehouse(tmp_path):
    return tmp_path / "w.duckdb"


def rel(path: str, root: Path) -> str:
    return str(Path(path).relative_to(root))
