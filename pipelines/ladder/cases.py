"""Each household's situation as of a date, from its events: the `cases` table."""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import date

import pandas as pd
import pyarrow as pa

from pipelines.ladder.legal import load_rules
from pipelines.ladder.stages import Event, situation

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


def build_cases(con, as_of: date) -> int:
    """Rebuild `cases`: one row per household whose situation is open as of `as_of`."""
    rules = load_rules()
    rows = con.execute("select household_id, event_date, event, details from case_events "
                       "where event_date <= ? order by household_id, event_date", [as_of]).fetchall()
    by_household: dict[str, list[Event]] = defaultdict(list)
    for hid, day, kind, details in rows:
        by_household[hid].append(_event(day, kind, details))
    out = []
    for hid, events in by_household.items():
        s = situation(events, as_of, rules)
        if not s.open:
            continue
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
