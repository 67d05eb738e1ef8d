"""Prefect wiring for `vigie report`: the charter monitoring report from the warehouse."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import flow
from prefect.artifacts import create_link_artifact

from pipelines.indicators.report import write_report
from pipelines.warehouse import connect


@flow(name="vigie-report")
def report_flow(warehouse: str, out: str, start: date, end: date) -> str:
    con = connect(warehouse, read_only=True)
    try:
        path = write_report(con, Path(out), start, end)
    finally:
        con.close()
    create_link_artifact(key="charter-report", link=path.resolve().as_uri(), link_text="rapport de suivi de la charte")
    return str(path)
