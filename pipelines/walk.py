"""Each household's timeline walked once for a run: the rows of `cases` (its stage and next
deadline as of the run's date) and, for the same open cases, the timeline features the risk
score reads. Two processes share the walk when the city is big.

The walk is Python, one household at a time, and households are independent: at L (1.35
million households) it is most of the stage step. Above `SPLIT_MIN_EVENTS` events, every
other household's rows of the timeline query go to a helper process (`pipelines/helper.py`,
as an Arrow stream), which walks them while this one walks the rest; the two answers are put
back in household order. The cases and features are the same, row for row, as one process
walking them all (`tests/test_walk.py`).
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipelines.helper import Helper, shared
from pipelines.ladder.cases import insert_cases, open_situations, timeline_table, timelines_from_table
from pipelines.risk.history import snapshots

# below this many events, starting a process (about 1 s) and sending it rows costs more than
# it saves (the M city, 180 355 households: about 1.5 million events)
SPLIT_MIN_EVENTS = 400_000


def walk(table: pa.Table, as_of: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The case rows (`cases`' columns) and the timeline features of the households of `table`
    (rows of `timeline_table`) whose situation is open as of `as_of`, in the table's order."""
    timelines = timelines_from_table(table)
    situations = open_situations(timelines, as_of)
    features = snapshots(timelines, [as_of], with_label=False, situations=situations)
    del timelines  # (the biggest object of the step)
    if features.empty:
        return pd.DataFrame(), features
    found = [situations[h] for h in features["household_id"]]
    cases = pd.DataFrame({
        "case_id": "C" + features["household_id"].str[1:], "household_id": features["household_id"],
        "as_of": as_of, "stage": features["stage"], "stage_since": features["stage_since"],
        "next_deadline": features["next_deadline"], "next_deadline_kind": features["next_deadline_kind"],
        "deadline_passed": [s.deadline_passed for s in found],
        "earliest_eviction": [s.earliest_eviction for s in found],
        # the last debt and rent reported by the as-of date, as the features read them
        "debt": features["debt"], "monthly_rent": features["monthly_rent"],
        "warnings": [s.warnings for s in found]})
    return cases, features


def _sent(table: pa.Table) -> pa.Buffer:
    """The table as one Arrow stream buffer, cheap to send (a pickled table slice carries its
    whole table's buffers)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _walk_rows(rows: pa.Table | pa.Buffer, as_of: date) -> tuple[pd.DataFrame, pd.DataFrame]:
    return walk(pa.ipc.open_stream(rows).read_all() if isinstance(rows, pa.Buffer) else rows, as_of)


def _halves(table: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Every other household's rows, and the rest (a household's rows are consecutive). Not the
    first half and the second: open cases are not spread evenly along the household ids (on
    the M city, 22 453 in the first half of the rows and 69 931 in the second)."""
    ids, n = table.column("household_id"), table.num_rows
    changed = pc.not_equal(ids.slice(1), ids.slice(0, max(n - 1, 0))).to_numpy(zero_copy_only=False)
    household = np.cumsum(np.r_[n > 0, changed])[:n]  # each row's household, counted from the first
    even = household % 2 == 0
    return table.filter(even), table.filter(~even)


def _merged(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Two parts' rows in household order, as one process walking them all gives them."""
    if not len(a) or not len(b):
        return a if len(a) else b
    both = pd.concat([a, b], ignore_index=True)
    return both.sort_values("household_id", kind="stable", ignore_index=True)


def open_cases(con, as_of: date, helper: Helper | None = None,
               split_min_events: int | None = None) -> tuple[int, pd.DataFrame]:
    """Rebuild `cases` (one row per household whose situation is open as of `as_of`) and return
    its count and the open cases' timeline features (what `score_cases` reads)."""
    split_min_events = SPLIT_MIN_EVENTS if split_min_events is None else split_min_events
    table = timeline_table(con, until=as_of)
    if helper is None or table.num_rows < max(split_min_events, 2):
        cases, features = walk(table, as_of)
    else:
        if pc.min(table.column("present")).as_py() >= 0:
            table = table.drop_columns(["details"])  # read only for keys the walk does not know
        first, second = _halves(table)
        del table
        (cases, features), rest = shared(helper, _walk_rows, (first, as_of), (_sent(second), as_of))
        cases, features = _merged(cases, rest[0]), _merged(features, rest[1])
    return insert_cases(con, cases), features

