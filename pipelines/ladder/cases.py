"""Each household's situation as of a date, from its events: the `cases` table."""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import date

import pandas as pd
import pyarrow as pa

from pipelines.ladder.legal import load_rules
from pipelines.ladder.stages import Event, Situation, situation

_DATE_KEYS = ("lease_date", "hearing", "first_unpaid")


def _event(day, kind, details) -> Event:
    data = json.loads(details) if details else {}
    for k in _DATE_KEYS:
        if data.get(k):
            data[k] = date.fromisoformat(str(data[k])[:10])
    for k in ("debt", "monthly_rent"):
        if data.get(k) is not None:
            data[k] = float(data[k])
    return Event(day, kind, data)


def load_timelines(con, households: list[str] | None = None, until: date | None = None) -> dict[str, list[Event]]:
    """Every household's dated events (case_events), oldest first; events of the same day in a
    fixed order (the stage must not depend on the order the database returns them in)."""
    where, params = [], []
    if households is not None:
        con.register("_tl_ids", pd.DataFrame({"household_id": households}))
        where.append("household_id in (select household_id from _tl_ids)")
    if until is not None:
        where.append("event_date <= ?")
        params.append(until)
    rows = con.execute(f"select household_id, event_date, event, details from case_events "
                       f"{'where ' + ' and '.join(where) if where else ''} "
                       "order by household_id, event_date, event, source, source_key, details", params).fetchall()
    if households is not None:
        con.unregister("_tl_ids")
    out: dict[str, list[Event]] = defaultdict(list)
    for hid, day, kind, details in rows:
        if day is not None:
            out[hid].append(_event(day, kind, details))
    return out


def open_situations(timelines: dict[str, list[Event]], as_of: date, rules=None) -> dict[str, Situation]:
    """Each household's situation as of a date (its events up to that day), open ones only."""
    rules = rules or load_rules()
    out = {}
    for hid, events in timelines.items():
        known = [e for e in events if e.day <= as_of]
        if known:
            s = situation(known, as_of, rules)
            if s.open:
                out[hid] = s
    return out


def build_cases(con, as_of: date, timelines: dict[str, list[Event]] | None = None,
                situations: dict[str, Situation] | None = None) -> int:
    """Rebuild `cases`: one row per household whose situation is open as of `as_of`. The
    timelines and situations, when given, are those the risk score will use too."""
    if timelines is None:
        timelines = load_timelines(con, until=as_of)
    if situations is None:
        situations = open_situations(timelines, as_of)
    out = []
    for hid, s in situations.items():
        events = [e for e in timelines[hid] if e.day <= as_of]
        known = [e.data for e in events if e.data.get("debt") is not None]
        rents = [e.data["monthly_rent"] for e in events if e.data.get("monthly_rent")]
        out.append({"case_id": "C" + hid[1:], "household_id": hid, "as_of": as_of, "stage": s.stage,
                    "stage_since": s.stage_since, "next_deadline": s.next_deadline,
                    "next_deadline_kind": s.next_deadline_kind, "deadline_passed": s.deadline_passed,
                    "earliest_eviction": s.earliest_eviction,
                    "debt": known[-1]["debt"] if known else None, "monthly_rent": rents[-1] if rents else None,
                    "warnings": s.warnings})
    con.execute("delete from cases")
    if out:
        # through Arrow, which types a column from all its values (DuckDB's pandas scan samples
        # the first rows: a run of empty warning lists made it type the column as NULL[])
        frame = pa.Table.from_pandas(pd.DataFrame(out), preserve_index=False)
        con.register("_cases_df", frame)
        con.execute("""insert into cases (case_id, household_id, as_of, stage, stage_since, next_deadline,
                           next_deadline_kind, deadline_passed, earliest_eviction, debt, monthly_rent, warnings)
                       select case_id, household_id, as_of, stage, stage_since, next_deadline, next_deadline_kind,
                              deadline_passed, earliest_eviction, debt, monthly_rent, warnings from _cases_df""")
        con.unregister("_cases_df")
    return len(out)
