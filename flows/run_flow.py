"""Prefect wiring for `vigie run`: link households, then events, stages and deadlines."""
from __future__ import annotations

from datetime import date

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pipelines.run import LINKAGE_MODEL, link_households, place_on_ladder
from pipelines.warehouse import connect


@task(cache_policy=NO_CACHE)
def link_task(con, train: bool) -> dict:
    """Splink linkage into record_households, record_links, households."""
    return link_households(con, LINKAGE_MODEL, train)


@task(cache_policy=NO_CACHE)
def ladder_task(con, as_of: date, evaluation_seed: int | None, shadow_model: str | None) -> dict:
    """case_events, then each household's stage and next deadline into cases, scored and routed."""
    return place_on_ladder(con, as_of, evaluation_seed, shadow_model)


@flow(name="vigie-run")
def run_flow(warehouse: str, as_of: date | None = None, train_linkage: bool = False,
             evaluation_seed: int | None = None, shadow_model: str | None = None) -> dict:
    as_of = as_of or date.today()
    con = connect(warehouse)
    try:
        summary = link_task(con, train_linkage)
        summary.update(ladder_task(con, as_of, evaluation_seed, shadow_model))
        by_stage = con.execute("select stage, count(*) from cases group by 1 order by 2 desc").fetchall()
    finally:
        con.close()
    summary["as_of"] = as_of.isoformat()
    summary["by_stage"] = dict(by_stage)
    create_markdown_artifact(key="run-summary", markdown="\n".join(
        [f"# Vigie run au {as_of:%d/%m/%Y}", "", f"- ménages : {summary['households']}",
         f"- paires incertaines à revoir : {summary['uncertain_pairs']}", f"- situations ouvertes : {summary['open_cases']}",
         f"- modèle de risque : {summary['risk_model'] or 'aucun (classement par stade puis dette)'}",
         "", "| stade | situations |", "|---|---|"] + [f"| {s} | {n} |" for s, n in by_stage]))
    return summary
