"""Two Vigie processes on one warehouse: the second waits (bounded) for the first, or stops
with a clear message; the warehouse is never damaged and both files end up loaded."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import table_checksums
from pipelines.warehouse import connect

HOLD = """
import sys, time
from pipelines.warehouse import connect
con = connect(sys.argv[1])
con.execute("create table if not exists held (x integer)")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""

INGEST = """
import sys
from pathlib import Path
from pipelines.ingest.load import ingest_files
from pipelines.warehouse import connect
con = connect(sys.argv[1])
results, _ = ingest_files(con, sys.argv[2], [Path(p) for p in sys.argv[3:]])
print(",".join(r.status for r in results), flush=True)
con.close()
"""


def _holder(wh: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(wh), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_command_stops_with_a_clear_message_when_the_wait_runs_out(tmp_path, synthetic):
    out, _ = synthetic
    wh = tmp_path / "w.duckdb"
    holder = _holder(wh, 20)
    try:
        env = {**os.environ, "VIGIE_LOCK_WAIT_SECONDS": "1"}
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "vigie", "ingest", "cdp", str(out / "cdp"), "--warehouse", str(wh)],
                              capture_output=True, text=True, env=env, timeout=120)
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2
    assert "utilisé par un autre traitement" in done.stderr and "Traceback" not in done.stderr
    assert waited >= 1.0  # it did wait before giving up
    con = connect(wh)  # not damaged: opens, and nothing of the refused command is in it
    assert table_checksums(con, ["ingest_log", "staging_cdp"]) == {"ingest_log": (0, 0), "staging_cdp": (0, 0)}
    con.close()


def test_a_second_command_waits_for_the_first_and_both_files_load(tmp_path, synthetic):
    out, _ = synthetic
    wh = tmp_path / "w.duckdb"
    connect(wh).close()
    cdp_files = sorted((out / "cdp").iterdir())[:3]
    fsl_files = sorted((out / "fsl").iterdir())[:3]
    env = {**os.environ, "VIGIE_LOCK_WAIT_SECONDS": "120"}
    first = subprocess.Popen([sys.executable, "-c", INGEST, str(wh), "cdp", *map(str, cdp_files)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    second = subprocess.Popen([sys.executable, "-c", INGEST, str(wh), "fsl", *map(str, fsl_files)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    outs = [p.communicate(timeout=300) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], outs
    assert all(set(o[0].strip().split(",")) == {"loaded"} for o in outs), outs
    con = connect(wh)
    logged = con.execute("select source, count(*), sum(rows_read), sum(rows_loaded + rows_quarantined + rows_skipped) "
                         "from ingest_log group by 1 order by 1").fetchall()
    con.close()
    assert [(s, n) for s, n, _, _ in logged] == [("cdp", 3), ("fsl", 3)]
    assert all(read == accounted for _, _, read, accounted in logged)
