"""Crash safety: the ingest and the run are killed (SIGKILL) at random points. Each time
the warehouse opens, every file is either wholly in it or not at all, and running again
reaches exactly the state of a run that was never interrupted (table checksums)."""
from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import pytest

from pipelines.synth.generate import generate
from pipelines.warehouse import connect

TRIALS = 20
FILES = {"cdp": 3, "bailleur": 4, "fsl": 2, "procedure": 3}

# what `vigie ingest` (each source) then `vigie run` do, without the Prefect wiring; it says
# when each file is committed and when the run starts, so that kills land everywhere
JOB = """
import sys
from datetime import date
from pathlib import Path
from pipelines.ingest.load import ingest_file, iter_files, validate_loaded
from pipelines.warehouse import connect
con = connect(sys.argv[1])
print("open", flush=True)
for source in ("cdp", "bailleur", "fsl", "procedure"):
    results = []
    for path in iter_files([Path(sys.argv[2]) / source]):
        results.append(ingest_file(con, source, path))
        print("file", flush=True)
    validate_loaded(con, source, results)
print("run", flush=True)
from pipelines.run import run
run(con, date.fromisoformat(sys.argv[3]))
con.close()
print("done", flush=True)
"""

# content only: ingest ids come from a sequence a killed transaction may have consumed
CONTENT = {
    "ingest_log": "select file_path, source, sha256, rows_read, rows_loaded, rows_quarantined, rows_skipped, status "
                  "from ingest_log where status = 'loaded'",
    "quarantine": "select * exclude (ingest_id) from quarantine",
    "skipped_lines": "select * exclude (ingest_id) from skipped_lines",
    **{f"staging_{s}": f"select * exclude (ingest_id) from staging_{s}" for s in FILES},
    "record_households": "select * from record_households",
    "households": "select * from households",
    "case_events": "select * from case_events",
    "cases": "select * from cases",
    "charter_indicators": "select * from charter_indicators",
}


def checksums(con) -> dict:
    return {t: con.execute(f"select count(*), coalesce(sum(hash(x)), 0) from ({q}) x").fetchall()[0]
            for t, q in CONTENT.items()}


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    generate(root / "all", households=100, seed=5, years=1, volume_drop=False, defect_rate=0.03)
    for source, n in FILES.items():  # a few files per source: enough transactions to kill, quick to redo
        (root / "data" / source).mkdir(parents=True)
        for path in sorted((root / "all" / source).iterdir())[:n]:
            shutil.copy(path, root / "data" / source / path.name)
    return root


def _job(wh: Path, data: Path, as_of: date) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", JOB, str(wh), str(data), as_of.isoformat()],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def _complete(wh: Path, data: Path, as_of: date) -> None:
    """What a user does after a crash: the same commands again, to the end (in this process)."""
    from pipelines.ingest.load import ingest_files
    from pipelines.run import run

    con = connect(wh)
    try:
        for source in FILES:
            ingest_files(con, source, [data / source])
        run(con, as_of)
    finally:
        con.close()


def _whole_files_only(wh: Path) -> int:
    """Every loaded file has all its lines accounted for; no line belongs to a file the log lacks."""
    con = connect(wh)
    try:
        logged = con.execute("select count(*) from ingest_log where status = 'loaded'").fetchall()[0][0]
        for source in FILES:
            bad = con.execute(f"""
                with lines as (
                    select ingest_id, count(*) as n from staging_{source} group by 1
                    union all select ingest_id, count(*) from quarantine where source = '{source}' group by 1
                    union all select ingest_id, count(*) from skipped_lines group by 1)
                select count(*) from (
                    select l.ingest_id, sum(l.n) as n from lines l group by 1) got
                left join ingest_log g using (ingest_id)
                where g.ingest_id is null""").fetchall()[0][0]
            assert bad == 0, f"{source}: lines of a file the log does not know"
        short = con.execute("""
            select count(*) from ingest_log g where status = 'loaded' and rows_read <>
              coalesce((select count(*) from quarantine q where q.ingest_id = g.ingest_id), 0)
            + coalesce((select count(*) from skipped_lines k where k.ingest_id = g.ingest_id), 0)
            + g.rows_loaded""").fetchall()[0][0]
        assert short == 0
        for source in FILES:
            half = con.execute(f"""select count(*) from ingest_log g where status = 'loaded' and source = '{source}'
                                   and rows_loaded <> (select count(*) from staging_{source} s where s.ingest_id = g.ingest_id)
                                """).fetchall()[0][0]
            assert half == 0, f"{source}: a file half loaded"
        return logged
    finally:
        con.close()


def test_killed_at_random_points_the_warehouse_recovers_exactly(city, tmp_path):
    data, as_of = city / "data", date.today() - timedelta(days=1)
    reference = tmp_path / "reference.duckdb"
    _complete(reference, data, as_of)
    con = connect(reference)
    expected = checksums(con)
    con.close()
    total = sum(FILES.values())
    assert expected["cases"][0] > 10 and expected["ingest_log"][0] == total

    rng = random.Random(2026)
    # where to kill: after the k-th file is committed (k = 0 .. total-1), a moment later (inside
    # the next file's transaction or the validation: a file takes a few tens of ms), or some time into the run
    # (each k in turn, so that the points do not bunch where a source's validation takes long)
    plan = [(i % total, rng.uniform(0, 0.04)) if i % 4 else (total, rng.uniform(0.2, 3.0)) for i in range(TRIALS)]

    def kill(i: int) -> tuple[int, bool]:
        wh = tmp_path / f"trial{i}.duckdb"
        after, delay = plan[i]
        proc = _job(wh, data, as_of)
        seen = 0
        for line in proc.stdout:
            if line.startswith("file"):
                seen += 1
            if (line.startswith("file") and seen > after) or (line.startswith("run") and after >= total):
                break
        time.sleep(delay)
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.communicate()
        return i, killed

    with ThreadPoolExecutor(max_workers=2) as pool:  # the kills run two at a time
        outcomes = list(pool.map(kill, range(TRIALS)))
    points = []
    for i, killed in outcomes:
        wh = tmp_path / f"trial{i}.duckdb"
        files = _whole_files_only(wh)  # opens, and holds whole files only
        _complete(wh, data, as_of)
        c = connect(wh)
        got = checksums(c)
        c.close()
        assert got == expected, (i, {t: (got[t], expected[t]) for t in got if got[t] != expected[t]})
        if killed:
            points.append(files)
    print(f"{len(points)} of {TRIALS} trials killed mid-way; files whole in the warehouse at the kill: {sorted(points)}")
    assert len(points) >= TRIALS * 0.75
    assert len(set(points)) >= 6  # many different points of the ingest, and the run
