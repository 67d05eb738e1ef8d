"""Prefect wiring for `vigie demo`: the synthetic Paris's files (written by the CLI while
Prefect's temporary server starts), ingested source by source, then linked into households
placed on the ladder (`vigie run`), then a returned follow-up file."""
from __future__ import annotations

from datetime import date
from pathlib import Path

from prefect import flow, task

from flows.ingest_flow import ingest_flow
from flows.run_flow import run_flow
from pipelines.synth.generate import write_suivi
from pipelines.warehouse import connect

SOURCE_ORDER = ("cdp", "bailleur", "fsl", "procedure")


@flow(name="vigie-demo")
def demo_flow(out_dir: str, warehouse: str, files: dict[str, list[str]], seed: int = 0,
              progress: bool = False) -> dict:
    """`files`: the partner files `pipelines.synth.generate` wrote under out_dir, by source."""
    ingested = {}
    for source in SOURCE_ORDER:
        if files.get(source):
            ingested[source] = ingest_flow(source, [str(Path(out_dir) / source)], warehouse,
                                           as_of=date.today(), progress=progress)
    summary = run_flow(warehouse, as_of=date.today())
    suivi = returned_follow_up(out_dir, warehouse, seed)
    ingested["suivi"] = ingest_flow("suivi", [suivi], warehouse, as_of=date.today(), progress=progress)
    return {"files": files, "ingested": ingested, "run": summary}


@task
def returned_follow_up(out_dir: str, warehouse: str, seed: int) -> str:
    """What workers send back: contacts on some of the open cases (synthetic)."""
    con = connect(warehouse)
    try:
        cases = con.execute("select c.case_id, 'ssp-' || lpad(cast(h.arrondissement as varchar), 2, '0') "
                            "from cases c join households h using (household_id) order by c.case_id").fetchall()
    finally:
        con.close()
    return str(write_suivi(Path(out_dir), cases, seed))
