"""`vigie run`: link households, write their events, place each on the ladder as of a date."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd

from pipelines.analytics import pseudonym_key, write_snapshot
from pipelines.helper import helper_process
from pipelines.indicators import charter as charter_indicators
from pipelines.ladder.events import build_case_events
from pipelines.link.households import REVIEW_BAND, deterministic_links, link
from pipelines.link.keys import arrondissement
from pipelines.risk.train import score_cases, shadow_scores
from pipelines.route.routing import route_cases
from pipelines.walk import open_cases
from pipelines.warehouse import recreate_table
from vigie.config import MODELS_DIR

LINKAGE_MODEL = MODELS_DIR / "linkage" / "splink_model.json"


def link_households(con, model_path: Path = LINKAGE_MODEL, train: bool = False) -> dict:
    decisions = {(l, r): a for l, r, a in con.execute(
        "select unique_id_l, unique_id_r, accepted from link_decisions").fetchall()}
    with helper_process("pipelines.link.records") as helper:  # (it imports while DuckDB reads the records)
        records, pairs = link(con, decisions, model_path, train, helper)
    sure = deterministic_links(records)
    con.execute("begin transaction")
    try:
        con.execute("delete from record_households")
        con.register("_rh", records[["source", "source_key", "household_id"]])
        con.execute("insert into record_households select source, source_key, household_id from _rh")
        con.unregister("_rh")
        con.execute("delete from record_links")
        con.register("_links", pd.concat([sure, pairs], ignore_index=True) if len(pairs) else sure)
        con.execute("insert into record_links select unique_id_l, unique_id_r, match_probability, match_weight, "
                    "reasons from _links")
        con.unregister("_links")
        _households(con, records)
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise
    uncertain = int(((pairs["match_probability"] >= REVIEW_BAND[0]) & (pairs["match_probability"] < REVIEW_BAND[1])).sum())
    return {"records": len(records), "households": int(records["household_id"].nunique()),
            "pairs": len(pairs), "uncertain_pairs": uncertain}


def _households(con, records: pd.DataFrame) -> None:
    frame = records[["household_id", "source", "source_key", "postal_code"]].copy()
    codes = frame["postal_code"].dropna().unique()
    frame["arrondissement"] = frame["postal_code"].map(dict(zip(codes, map(arrondissement, codes)))).astype("Int64")
    con.register("_hh", frame)
    recreate_table(con, "households")
    # the most frequent arrondissement (ties: the smallest) and the latest commandement's landlord
    # type: the same records always give the same row
    con.execute("""
        insert into households
        with landlord as (
            select h.household_id,
                   first(c.bailleur_type order by c.date_signification desc, c.num_acte desc)
                       filter (where c.bailleur_type is not null) as cdp_type,
                   bool_or(h.source = 'bailleur') as social
            from _hh h left join source_records r on r.source = h.source and r.source_key = h.source_key
            left join staging_cdp c on h.source = 'cdp' and c.ingest_id = r.ingest_id and c.line_number = r.line_number
            group by h.household_id),
        arr as (select household_id, first(arrondissement order by n desc, arrondissement) as arrondissement
                from (select household_id, arrondissement, count(*) as n from _hh
                      where arrondissement is not null group by all)
                group by household_id)
        select l.household_id, a.arrondissement, coalesce(l.cdp_type, case when l.social then 'social' end), null, null
        from landlord l left join arr a using (household_id)""")
    con.unregister("_hh")


def date_households(con) -> None:
    """Each household's first and last event dates (from case_events). The table is rebuilt
    with them: an update of its primary-keyed rows cost DuckDB 4 s for 180 000 households."""
    con.execute("""create temp table _dated as
                   select h.household_id, h.arrondissement, h.bailleur_type, e.first, e.last
                   from households h left join (select household_id, min(event_date) as first,
                                                       max(event_date) as last
                                                from case_events group by household_id) e using (household_id)""")
    recreate_table(con, "households")
    con.execute("insert into households select * from _dated")
    con.execute("drop table _dated")


def _untimed(name: str, fn):
    return fn()


def place_on_ladder(con, as_of: date, evaluation_seed: int | None = None, shadow_model: str | None = None,
                    step=_untimed) -> dict:
    """case_events, households' first/last dates, then each household's stage into cases,
    scored and routed (evaluation mode: with a seed; shadow mode: another model recorded aside).
    `step(name, fn)` runs each step (bench/scale_bench.py times them with it)."""
    def stage():
        with helper_process("pipelines.walk") as helper:  # (it imports while DuckDB builds the events)
            events = build_case_events(con)
            date_households(con)
            # each household's timeline walked once for its stage and its risk features
            return events, *open_cases(con, as_of, helper)

    con.execute("begin transaction")
    try:
        events, cases, features = step("stage", stage)
        version = step("score", lambda: score_cases(con, as_of, features))
        if not shadow_model:
            features = None
        step("route", lambda: route_cases(con, as_of, evaluation_seed))
        shadowed = step("shadow", lambda: shadow_scores(con, as_of, shadow_model, features)) \
            if shadow_model else None
        indicators = step("indicators", lambda: charter_indicators.compute(con, as_of))
        step("commit", lambda: con.execute("commit"))
    except BaseException:
        con.execute("rollback")
        raise
    return {"events": events, "open_cases": cases, "risk_model": version, "evaluation_seed": evaluation_seed,
            "shadow_model": shadow_model, "shadow_scored": shadowed, "indicator_rows": indicators}


def analytics_snapshot(con, key: bytes) -> dict | None:
    """The pseudonymised Parquet snapshot beside the warehouse (pipelines/analytics.py)."""
    return write_snapshot(con, key)


def run(con, as_of: date | None = None, train_linkage: bool = False, model_path: Path = LINKAGE_MODEL,
        evaluation_seed: int | None = None, shadow_model: str | None = None, step=_untimed) -> dict:
    """The whole step (what the Prefect flow wires): link, then events and cases, then the snapshot."""
    as_of = as_of or date.today()
    key = pseudonym_key(con)  # before any change: no key, no run
    summary = step("link", lambda: link_households(con, model_path, train_linkage))
    summary.update(place_on_ladder(con, as_of, evaluation_seed, shadow_model, step))
    summary["analytics"] = step("snapshot", lambda: analytics_snapshot(con, key))
    summary["as_of"] = as_of.isoformat()
    return summary
