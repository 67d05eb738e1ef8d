"""One département's warehouse, end to end: what the national flow runs on each partition.

A national deployment keeps one warehouse per département (each holds nominative data
of its own territory only); the flows/national_flow.py wiring sends each partition to
a Dask worker, local or remote."""
from __future__ import annotations

import time
from datetime import date
from pathlib import Path

from pipelines.ingest.load import ingest_files
from pipelines.run import run
from pipelines.warehouse import connect

SOURCES = ("cdp", "bailleur", "fsl", "procedure")


def process_departement(code: str, data_dir: Path, warehouse: Path, as_of: date) -> dict:
    """Ingest every source folder found under data_dir, then link, stage, score and route."""
    started = time.perf_counter()
    con = connect(warehouse)
    try:
        read = loaded = 0
        for source in SOURCES:
            if (Path(data_dir) / source).is_dir():
                results, _ = ingest_files(con, source, [Path(data_dir) / source])
                read += sum(r.rows_read for r in results)
                loaded += sum(r.rows_loaded for r in results)
        summary = run(con, as_of)
    finally:
        con.close()
    return {"departement": code, "rows_read": read, "rows_loaded": loaded, "households": summary["households"],
            "open_cases": summary["open_cases"], "seconds": round(time.perf_counter() - started, 1),
            "warehouse": str(warehouse)}
