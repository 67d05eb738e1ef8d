"""Hostile files against the readers (hypothesis draws the kind and the seed; the same
generators feed `bench/fuzz_ingest.py`, which runs 10 000 of them): never an uncaught
exception, never a half-loaded file, every line read accounted for, a refused file
changes nothing; header names never reach SQL unescaped; names with `../` stay names."""
from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipelines.ingest.load import ingest_file
from pipelines.synth import hostile
from pipelines.warehouse import connect


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    con = connect(folder / "w.duckdb")
    yield con, folder
    con.close()


COMMON = [k for k in hostile.KINDS if k not in ("giant_line", "wide_header")]


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(kind=st.sampled_from(COMMON), seed=st.integers(0, 2**32 - 1))
def test_hostile_files_break_no_promise(warehouse, kind, seed):
    con, folder = warehouse
    data, suffix = hostile.make(kind, seed)
    path = folder / f"{kind}_{seed}{suffix}"
    path.write_bytes(data)
    status, broken = hostile.check(con, path, ingest_file)
    assert not broken, (kind, seed, status, broken)


@pytest.mark.parametrize("kind", ["giant_line", "wide_header", "hostile_header"])
def test_rare_monsters(warehouse, kind):
    con, folder = warehouse
    for seed in range(2):
        data, suffix = hostile.make(kind, seed)
        path = folder / f"{kind}_{seed}{suffix}"
        path.write_bytes(data)
        status, broken = hostile.check(con, path, ingest_file)
        assert not broken, (kind, seed, status, broken)


def test_an_xlsx_bomb_is_refused_without_inflating(warehouse):
    con, folder = warehouse
    data, suffix = hostile.make("valid", 0)
    path = folder / "bomb.xlsx"
    path.write_bytes(hostile.xlsx_bomb(None))
    status, broken = hostile.check(con, path, ingest_file)
    assert status == "rejected" and not broken


def test_file_names_with_dot_dot_are_only_names(warehouse):
    con, folder = warehouse
    (folder / "sub").mkdir(exist_ok=True)
    data, _ = hostile.make("valid", 7)
    (folder / "..evil..csv").write_bytes(data)
    path = folder / "sub" / ".." / "..evil..csv"
    status, broken = hostile.check(con, Path(path), ingest_file)
    assert status == "loaded" and not broken
    logged = con.execute("select file_path from ingest_log order by ingest_id desc limit 1").fetchall()[0][0]
    assert logged.endswith("..evil..csv")
