"""Past one machine: one warehouse per département, each processed by a flow task on a
local Dask cluster (prefect-dask); a remote scheduler is the same flow with an address."""
from __future__ import annotations

import os
from datetime import date, timedelta

import pytest

from pipelines.synth.generate import generate
from pipelines.warehouse import connect

pytestmark = pytest.mark.slow


def test_each_departement_runs_on_a_dask_worker_into_its_own_warehouse(prefect_harness, tmp_path, monkeypatch):
    from flows.national_flow import run_national, task_runner

    monkeypatch.delenv("VIGIE_DASK_ADDRESS", raising=False)
    monkeypatch.setenv("VIGIE_DASK_WORKERS", "2")
    partitions = []
    for i, code in enumerate(("92", "93")):
        generate(tmp_path / code / "data", households=80, seed=40 + i, years=1, end=date.today() - timedelta(days=1))
        partitions.append({"code": code, "data_dir": str(tmp_path / code / "data"),
                           "warehouse": str(tmp_path / code / "vigie.duckdb")})
    results = run_national(partitions)
    assert [r["departement"] for r in results] == ["92", "93"]
    assert os.getpid() not in {r["worker_pid"] for r in results}  # ran in Dask worker processes
    for r, p in zip(results, partitions, strict=True):
        assert r["rows_loaded"] > 100 and r["open_cases"] > 0
        con = connect(p["warehouse"], read_only=True)
        households = con.execute("select count(*) from households").fetchall()[0][0]
        files = {f for (f,) in con.execute("select file_path from ingest_log").fetchall()}
        con.close()
        assert households == r["households"] and all(f.startswith(p["data_dir"]) for f in files)
        assert (tmp_path / r["departement"] / "analytics" / "cases.parquet").exists()
    monkeypatch.setenv("VIGIE_DASK_ADDRESS", "tcp://scheduler.example:8786")
    assert task_runner().address == "tcp://scheduler.example:8786"  # the same flow, pointed at a remote cluster
