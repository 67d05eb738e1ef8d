"""Each household's timeline walked once for a run: the rows of `cases` (its stage and next
deadline as of the run's date) and, for the same open cases, the timeline features the risk
score reads. Two processes share the walk when the city is big.

The walk is Python, one household at a time, and households are independent: at L (1.35
million households) it is most of the stage step. Above `SPLIT_MIN_EVENTS` events, the rows
of the timeline query (ordered by household) are cut in two at a household's boundary; a
second process walks the second half, given its rows as Arrow, while this one walks the
first, and the two halves' rows are put back in the same order. The cases and features are
the same, row for row, as one process walking them all (`tests/test_walk.py`).

A second process is not used in a daemon process (a Dask worker of the national flow may not
start children) nor on a one-core machine: the walk then runs here, whole.
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import subprocess
import sys
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
    """The table as an Arrow stream (a slice pickles with its whole table's buffers)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


class SecondProcess:
    """`python -m pipelines.walk`, a fresh interpreter that walks the rows it is sent. Not
    multiprocessing: its children import the caller's main script again (a script without a
    main guard would run twice), and forking a process that runs DuckDB's threads is unsafe."""

    def __init__(self):
        root = str(Path(__file__).resolve().parent.parent)  # this same code, wherever it is imported from
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
        self.process = subprocess.Popen([sys.executable, "-m", "pipelines.walk"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env)
        self.households = 0  # how many open cases it walked (tests)
        self._waiting = False  # rows sent, answer not read

    def send(self, table: pa.Table, as_of: date) -> None:
        """Send the rows to walk (it starts as soon as they are in)."""
        try:
            self._waiting = True
            pickle.dump((as_of, _sent(table)), self.process.stdin, protocol=5)
            self.process.stdin.close()
        except BrokenPipeError:  # it stopped: result() says so
            pass

    def result(self) -> tuple[pd.DataFrame, pd.DataFrame] | None:
        """The sent rows' cases and features; None if the process failed (its error is on stderr)."""
        try:
            out = pickle.load(self.process.stdout)
        except (EOFError, OSError, ValueError, pickle.UnpicklingError):
            return None
        finally:
            self._waiting = False
        self.households = len(out[1])
        return out

    def close(self) -> None:
        """Stop it: at once if its answer is no longer wanted (the step failed), else once it
        has seen that nothing more comes."""
        if self._waiting:
            self.process.kill()
        elif not self.process.stdin.closed:
            self.process.stdin.close()  # nothing sent: it stops
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()


@contextmanager
def second_process():
    """A second process for the walk, started now (it imports while DuckDB works), or None
    where there is no second core for it: a one-core machine, or a daemon process (a Dask
    worker of the national flow, which already has a core of its own)."""
    if multiprocessing.current_process().daemon or (os.cpu_count() or 1) < 2:
        yield None
        return
    helper = SecondProcess()
    try:
        yield helper
    finally:
        helper.close()


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


def open_cases(con, as_of: date, helper: SecondProcess | None = None,
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
        helper.send(second, as_of)
        cases, features = walk(first, as_of)
        rest = helper.result()
        if rest is None:  # the second process failed (killed, out of memory): walk its half here
            rest = walk(second, as_of)
        cases, features = _merged(cases, rest[0]), _merged(features, rest[1])
    return insert_cases(con, cases), features


def _serve() -> None:
    """The second process: read (as_of, rows), write back (cases, features)."""
    out = os.fdopen(os.dup(1), "wb")  # the answer's own channel; a stray print goes to stderr
    os.dup2(2, 1)
    try:
        as_of, rows = pickle.load(sys.stdin.buffer)
    except EOFError:  # nothing was sent (the city was small)
        return
    pickle.dump(walk(pa.ipc.open_stream(rows).read_all(), as_of), out, protocol=5)
    out.close()


if __name__ == "__main__":
    _serve()
