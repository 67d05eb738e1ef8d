"""Each household's situation as of a date, from its events: the `cases` table."""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from pipelines.ladder.legal import load_rules
from pipelines.ladder.stages import Event, Situation, situation
from pipelines.memory import paused_gc

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


# the keys build_case_events writes into `details`, typed here as the ladder reads them
_KEYS = {"lease_date": "date", "hearing": "date", "first_unpaid": "date", "debt": "double",
         "monthly_rent": "double", "amount": "double", "outcome": "varchar", "statut": "varchar"}


def load_timelines(con, households: list[str] | None = None, until: date | None = None) -> dict[str, list[Event]]:
    """Every household's dated events (case_events), oldest first; events of the same day in a
    fixed order (the stage must not depend on the order the database returns them in)."""
    return timelines_from_table(timeline_table(con, households, until))


def timeline_table(con, households: list[str] | None = None, until: date | None = None) -> pa.Table:
    """`case_events` as `timelines_from_table` reads them: ordered by household, then day and a
    fixed order within a day, with the details unpacked by DuckDB (json.loads event by event
    took most of the time). A household's events are consecutive rows."""
    where = []
    if households is not None:
        con.register("_tl_ids", pd.DataFrame({"household_id": households}))
        where.append("household_id in (select household_id from _tl_ids)")
    if until is not None:
        where.append(f"event_date <= date '{until.isoformat()}'")
    where.append("event_date is not null")
    shape = json.dumps({k: "VARCHAR" if t == "date" else t.upper() for k, t in _KEYS.items()})
    typed = ", ".join(f"try_cast(left(v.{k}, 10) as date) as {k}" if t == "date" else f"v.{k} as {k}"
                      for k, t in _KEYS.items())
    # which keys each event has, as bits (a list column costs more to bring into Python than the values)
    bits = " + ".join(f"case when list_contains(keys, '{k}') then {1 << i} else 0 end" for i, k in enumerate(_KEYS))
    table = con.sql(f"""
        select household_id, event_date, event, details,
               case when keys is null then 0 when list_has_all({list(_KEYS)}, keys) then {bits} else -1 end as present,
               {typed}
        from (select *, json_keys(details) as keys, json_transform(details, '{shape}') as v
              from case_events where {' and '.join(where)})
        order by household_id, event_date, event, source, source_key, details""").to_arrow_table()
    if households is not None:
        con.unregister("_tl_ids")
    return table


@paused_gc()
def timelines_from_table(table: pa.Table) -> dict[str, list[Event]]:
    """Each household's events, from rows of `timeline_table` (any slice of them that keeps
    a household's rows together)."""
    out: dict[str, list[Event]] = defaultdict(list)
    if not table.num_rows:
        return out

    columns: dict[str, np.ndarray] = {}

    def column(name):  # as Python values (None for null), each column converted once
        if name not in columns:
            if name == "event_date" or _KEYS.get(name) == "date":
                values = table.column(name).to_numpy(zero_copy_only=False).astype("datetime64[D]").astype(object)
            else:
                values = np.empty(table.num_rows, dtype=object)
                values[:] = table.column(name).to_pylist()
            columns[name] = values
        return columns[name]

    # each event's details, built a kind of key set at a time (all the events with the same keys
    # at once, from whole columns: the per-event lookups took most of the time)
    present = table.column("present").to_numpy()
    data = np.empty(table.num_rows, dtype=object)
    for mask in np.unique(present).tolist():
        rows = np.flatnonzero(present == mask)
        if mask < 0:  # a key this code does not know: read the whole text
            details, days, kinds = column("details")[rows], column("event_date")[rows], column("event")[rows]
            built = [_event(d, k, t).data for d, k, t in zip(days, kinds, details)]
        else:
            keys = [k for i, k in enumerate(_KEYS) if mask >> i & 1]
            built = [dict(zip(keys, values)) for values in zip(*(column(k)[rows] for k in keys))] if keys \
                else [{} for _ in range(len(rows))]
        data[rows] = built
    events = list(map(Event._make, zip(column("event_date"), column("event"), data)))  # (Event() is Python-level)
    # rows come ordered by household: each household's events are one slice
    hids = column("household_id")
    starts = np.flatnonzero(np.r_[True, hids[1:] != hids[:-1]]).tolist()
    out.update({hids[a]: events[a:b] for a, b in zip(starts, starts[1:] + [len(events)])})
    return out


@paused_gc()
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


CASE_COLUMNS = ["case_id", "household_id", "as_of", "stage", "stage_since", "next_deadline",
                "next_deadline_kind", "deadline_passed", "earliest_eviction", "debt", "monthly_rent", "warnings"]


def insert_cases(con, rows: pd.DataFrame) -> int:
    """Replace `cases` with these rows (CASE_COLUMNS; `pipelines/walk.py` builds them)."""
    con.execute("delete from cases")
    if len(rows):
        # through Arrow, which types a column from all its values (DuckDB's pandas scan samples
        # the first rows: a run of empty warning lists made it type the column as NULL[])
        con.register("_cases_df", pa.Table.from_pandas(rows[CASE_COLUMNS], preserve_index=False))
        names = ", ".join(CASE_COLUMNS)
        con.execute(f"insert into cases ({names}) select {names} from _cases_df")
        con.unregister("_cases_df")
    return len(rows)
