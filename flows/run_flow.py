"""Prefect wiring for `vigie run`: link households, then events, stages and deadlines."""
from __future__ import annotations

from datetime import date

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from pipelines.analytics import pseudonym_key
from pipelines.indicators.report import run_markdown
from pipelines.run import LINKAGE_MODEL, analytics_snapshot, link_households, place_on_ladder
from pipelines.warehouse import connect


@task(cache_policy=NO_CACHE)
def link_task(con, train: bool) -> dict:
    """Splink linkage into record_households, record_links, households."""
    return link_households(con, LINKAGE_MODEL, train)


@task(cache_policy=NO_CACHE)
def ladder_task(con, as_of: date, evaluation_seed: int | None, shadow_model: str | None) -> dict:
    """case_events, then each household's stage and next deadline into cases, scored and routed."""
    return place_on_ladder(con, as_of, evaluation_seed, shadow_model)


@task(cache_policy=NO_CACHE)
def snapshot_task(con, key: bytes) -> dict | None:
    """Pseudonymised Parquet files for the analysts, beside the warehouse."""
    return analytics_snapshot(con, key)


@flow(name="vigie-run")
def run_flow(warehouse: str, as_of: date | None = None, train_linkage: bool = False,
             evaluation_seed: int | None = None, shadow_model: str | None = None) -> dict:
    as_of = as_of or date.today()
    con = connect(warehouse)
    try:
        key = pseudonym_key(con)  # before any change: no key, no run
        summary = link_task(con, train_linkage)
        summary.update(ladder_task(con, as_of, evaluation_seed, shadow_model))
        summary["analytics"] = snapshot_task(con, key)
        by_stage = con.execute("select stage, count(*) from cases group by 1 order by 2 desc").fetchall()
        markdown = run_markdown(con, {**summary, "as_of": as_of.isoformat()})
    finally:
        con.close()
    summary["as_of"] = as_of.isoformat()
    summary["by_stage"] = dict(by_stage)
    create_markdown_artifact(key="run-summary", markdown=markdown)
    return summary
