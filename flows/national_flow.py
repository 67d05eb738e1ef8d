"""Past one machine: one flow run per département partition, each on a Dask worker.

    python -m flows.national_flow --departements 75 92 93 --households 2000   # local Dask cluster
    VIGIE_DASK_ADDRESS=tcp://scheduler:8786 python -m flows.national_flow ...   # a remote cluster

Each partition is a folder of partner files and its own warehouse; the task only passes
paths, so a worker on another machine needs the same paths (a shared volume) and the
pseudonym key in its environment. Linkage beyond one machine: see docs/SCALE.md.
"""
from __future__ import annotations

import argparse
import json
import os
from datetime import date
from pathlib import Path

from prefect import flow, task
from prefect_dask import DaskTaskRunner

from pipelines.national import process_departement


def task_runner() -> DaskTaskRunner:
    """A remote scheduler when $VIGIE_DASK_ADDRESS is set, else a local cluster of worker processes."""
    address = os.environ.get("VIGIE_DASK_ADDRESS")
    if address:
        return DaskTaskRunner(address=address)
    workers = int(os.environ.get("VIGIE_DASK_WORKERS", "2"))
    return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True,
                                          "dashboard_address": None})


@task
def departement(code: str, data_dir: str, warehouse: str, as_of: date) -> dict:
    """Ingest, link, stage, score and route one département, in its own warehouse."""
    return {**process_departement(code, Path(data_dir), Path(warehouse), as_of), "worker_pid": os.getpid()}


@flow(name="vigie-national")
def national_flow(partitions: list[dict], as_of: date | None = None) -> list[dict]:
    """partitions: [{"code": "75", "data_dir": ..., "warehouse": ...}, ...]"""
    as_of = as_of or date.today()
    futures = [departement.submit(p["code"], p["data_dir"], p["warehouse"], as_of) for p in partitions]
    return [f.result() for f in futures]


def run_national(partitions: list[dict], as_of: date | None = None) -> list[dict]:
    return national_flow.with_options(task_runner=task_runner())(partitions, as_of)


def main() -> None:
    from pipelines.synth.generate import generate

    ap = argparse.ArgumentParser(description="Synthetic départements, one warehouse each, on a Dask cluster")
    ap.add_argument("--departements", nargs="+", default=["75", "92", "93"])
    ap.add_argument("--households", type=int, default=1000)
    ap.add_argument("--out", type=Path, default=Path("out/national"))
    args = ap.parse_args()
    os.environ.setdefault("VIGIE_PSEUDONYM_KEY", "synthetic-national-demo-key")
    partitions = []
    for i, code in enumerate(args.departements):
        folder = args.out / code
        generate(folder / "data", households=args.households, seed=100 + i)
        for p in folder.glob("vigie.duckdb*"):
            p.unlink()
        partitions.append({"code": code, "data_dir": str(folder / "data"), "warehouse": str(folder / "vigie.duckdb")})
    print(json.dumps(run_national(partitions), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
