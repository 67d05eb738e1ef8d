"""The timeline walk shared by two processes on a big city (`pipelines/walk.py`): the cases,
their risk features and their scores are the same as one process walking them all."""
from __future__ import annotations

import multiprocessing
from datetime import date

import pyarrow as pa
import pytest

from conftest import ran_copy
from pipelines.helper import helper_process
from pipelines.ladder.cases import CASE_COLUMNS
from pipelines.risk.train import score_cases
from pipelines.walk import _halves, open_cases


@pytest.fixture(scope="module")
def linked(loaded, tmp_path_factory):
    """The synthetic city, linked and with its events written (`vigie run` once)."""
    con, _ = ran_copy(loaded, tmp_path_factory, "walk")
    yield con
    con.close()


def _cases(con) -> list[tuple]:
    return con.execute(f"""select {', '.join(CASE_COLUMNS)}, risk_score, risk_reasons, model_version
                           from cases order by household_id""").fetchall()


def test_two_processes_build_the_same_cases_features_and_scores_as_one(linked):
    con, as_of = linked, date.today()
    con.execute("begin transaction")
    try:
        alone, alone_features = open_cases(con, as_of)
        score_cases(con, as_of, alone_features)
        one = _cases(con)
        with helper_process() as helper:
            split, split_features = open_cases(con, as_of, helper, split_min_events=0)
        score_cases(con, as_of, split_features)
        two = _cases(con)
    finally:
        con.execute("rollback")
    assert split == alone > 100
    assert helper.answered  # the helper process walked its part
    assert two == one
    assert split_features.equals(alone_features)
    assert all(row[-3] is not None and row[-1] for row in two)  # every case scored


def test_a_helper_that_dies_leaves_its_part_to_the_step(linked):
    """A helper killed (out of memory, by an operator) before it answers: the step walks its
    part itself and the cases are all there."""
    con, as_of = linked, date.today()
    con.execute("begin transaction")
    try:
        alone, _ = open_cases(con, as_of)
        with helper_process() as helper:
            helper.process.kill()
            helper.process.wait()
            count, features = open_cases(con, as_of, helper, split_min_events=0)
    finally:
        con.execute("rollback")
    assert not helper.answered
    assert count == alone == len(features) > 100


def test_the_two_parts_never_share_a_household_and_keep_every_row():
    for ids in (["a", "a", "b", "b", "b", "c"], ["a"] * 5 + ["b"], ["a"] * 6, ["a", "b"], []):
        parts = _halves(pa.table({"household_id": pa.array(ids, pa.string()), "n": pa.array(range(len(ids)), pa.int64())}))
        assert not set(parts[0]["household_id"].to_pylist()) & set(parts[1]["household_id"].to_pylist())
        assert sorted(parts[0]["n"].to_pylist() + parts[1]["n"].to_pylist()) == list(range(len(ids)))
        for part in parts:  # each in the table's order
            assert part["n"].to_pylist() == sorted(part["n"].to_pylist())


def _daemon_helper(answers):
    try:
        with helper_process() as helper:
            answers.put("none" if helper is None else "pool")
    except Exception as e:  # noqa: BLE001 (sent back to the test)
        answers.put(f"error: {e}")


def test_no_second_process_inside_a_daemon_worker():
    """The national flow runs a département in a Dask worker, a daemon process that may not
    start children: the walk must then stay in that process instead of failing."""
    ctx = multiprocessing.get_context("fork")
    answers = ctx.Queue()
    worker = ctx.Process(target=_daemon_helper, args=(answers,), daemon=True)
    worker.start()
    worker.join(60)
    assert answers.get(timeout=5) == "none"
