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

# what `vigie ingest` (each source) then `vigie run` do, without the Prefect wiring
JOB = """
import sys
from datetime import date
from pathlib import Path
from pipelines.ingest.load import ingest_files
from pipelines.run import run
from pipelines.warehouse import connect
con = connect(sys.argv[1])
print("started", flush=True)
for source in ("cdp", "bailleur", "fsl", "procedure"):
    ingest_files(con, source, [Path(sys.argv[2]) / source])
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


def _complete(wh: Path, data: Path, as_of: date) -> float:
    """Run the job to its end; the seconds it took once the warehouse was open."""
    proc = _job(wh, data, as_of)
    proc.stdout.readline()
    opened = time.monotonic()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0 and "done" in out, err[-2000:]
    return time.monotonic() - opened


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
    full = _complete(reference, data, as_of)
    con = connect(reference)
    expected = checksums(con)
    con.close()
    assert expected["cases"][0] > 10 and expected["ingest_log"][0] == sum(FILES.values())

    rng = random.Random(2026)
    # two trials run side by side, each slower than the reference: up to 1.6 x its time reaches the run
    delays = [rng.uniform(0.05, 1.6) * full for _ in range(TRIALS)]

    def trial(i: int) -> tuple[float, int, bool]:
        wh = tmp_path / f"trial{i}.duckdb"
        proc = _job(wh, data, as_of)
        proc.stdout.readline()  # the warehouse is open: from here on, every instant is fair game
        time.sleep(delays[i])
        killed = proc.poll() is None
        if killed:
            proc.send_signal(signal.SIGKILL)
        proc.communicate()
        files = _whole_files_only(wh)  # opens, and holds whole files only
        _complete(wh, data, as_of)
        c = connect(wh)
        got = checksums(c)
        c.close()
        assert got == expected, {t: (got[t], expected[t]) for t in got if got[t] != expected[t]}
        return delays[i], files, killed

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(trial, range(TRIALS)))
    killed = [r for r in results if r[2]]
    print(f"{len(killed)} of {TRIALS} trials killed mid-way; files already in at the kill: "
          f"{sorted(r[1] for r in killed)}")
    assert len(killed) >= TRIALS * 0.6
    assert len({r[1] for r in killed}) >= 4  # killed at many different points of the ingest and the run
