"""Time and peak memory of each step of the pipeline at several sizes, per source row:

    python bench/scale_bench.py --sizes S M          # S = the demo (5 000 households), M ~ 1 M rows
    python bench/scale_bench.py --sizes L            # L ~ 5 M rows (long: generation alone takes a while)

Steps are the plain pipeline functions the flows call (no Prefect): generate, ingest +
validate, link, stage, score, route, indicators, snapshot, export (xlsx lists), report.
In the same run, DuckDB's own typed `read_csv` reads every generated CSV (the reference
the ingest is compared with). Peak memory is the highest resident size sampled during
the step. Prints one table; writes bench/results/scale_bench.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("VIGIE_PSEUDONYM_KEY", "bench-key-synthetic-data-only")

import duckdb  # noqa: E402

from pipelines.analytics import pseudonym_key  # noqa: E402
from pipelines.indicators import charter  # noqa: E402
from pipelines.indicators.report import write_report  # noqa: E402
from pipelines.ingest.load import ingest_files  # noqa: E402
from pipelines.ladder.cases import build_cases  # noqa: E402
from pipelines.ladder.events import build_case_events  # noqa: E402
from pipelines.risk.train import score_cases  # noqa: E402
from pipelines.route.case_lists import all_destinations, write_lists  # noqa: E402
from pipelines.route.routing import route_cases  # noqa: E402
from pipelines.run import analytics_snapshot, link_households  # noqa: E402
from pipelines.synth.generate import generate  # noqa: E402
from pipelines.warehouse import connect  # noqa: E402

# households for about this many source rows (the demo: 5 000 households, ~18 000 rows)
SIZES = {"S": 5_000, "M": 270_000, "L": 1_350_000}


class PeakRSS:
    """Highest resident memory (MB) of this process while the block runs."""

    def __enter__(self):
        self.peak, self._stop = self._rss(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    def _sample(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._rss())

    @staticmethod
    def _rss() -> float:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return 0.0


def measure(steps: dict, name: str, fn):
    started = time.perf_counter()
    with PeakRSS() as mem:
        result = fn()
    steps[name] = {"seconds": round(time.perf_counter() - started, 2), "peak_mb": round(mem.peak)}
    print(f"  {name:<22} {steps[name]['seconds']:>8.1f} s {steps[name]['peak_mb']:>7} MB", flush=True)
    return result


def duckdb_reference(data: Path) -> float:
    """DuckDB's own typed read_csv of every generated CSV (auto-detection), in a fresh connection."""
    con = duckdb.connect()
    started = time.perf_counter()
    for path in sorted(data.glob("*/*.csv")):
        if path.parent.name == "truth":
            continue
        try:
            con.execute(f"select count(*) from read_csv('{path}', ignore_errors=true)").fetchall()
        except duckdb.Error:
            pass  # a file DuckDB cannot sniff (the generator's oddities): Vigie reads it, the reference skips it
    seconds = time.perf_counter() - started
    con.close()
    return seconds


def one_size(label: str, households: int, seed: int) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"vigie-scale-{label}-"))
    data, as_of, steps = folder / "data", date.today(), {}
    print(f"{label}: {households} households in {folder}", flush=True)
    measure(steps, "generate", lambda: generate(data, households=households, seed=seed))
    con = connect(folder / "vigie.duckdb")
    con.execute("create table if not exists vigie_demo as select current_timestamp as created_at")

    def ingest():
        rows = 0
        for source in ("cdp", "bailleur", "fsl", "procedure"):
            results, _ = ingest_files(con, source, [data / source])
            rows += sum(r.rows_read for r in results)
        return rows

    rows = measure(steps, "ingest + validate", ingest)
    reference = duckdb_reference(data)
    measure(steps, "link", lambda: link_households(con))
    measure(steps, "stage", lambda: (build_case_events(con), build_cases(con, as_of)))
    measure(steps, "score", lambda: score_cases(con, as_of))
    measure(steps, "route", lambda: route_cases(con, as_of))
    measure(steps, "indicators", lambda: charter.compute(con, as_of))
    measure(steps, "snapshot", lambda: analytics_snapshot(con, pseudonym_key(con)))
    measure(steps, "export", lambda: write_lists(con, all_destinations(con), folder / "lists"))
    measure(steps, "report", lambda: write_report(con, folder / "rapport", date(as_of.year - 3, 1, 1), as_of))
    open_cases = con.execute("select count(*) from cases").fetchall()[0][0]
    con.close()
    shutil.rmtree(folder, ignore_errors=True)
    for s in steps.values():
        s["us_per_row"] = round(s["seconds"] / rows * 1e6, 1)
    return {"size": label, "households": households, "source_rows": rows, "open_cases": open_cases, "steps": steps,
            "duckdb_read_csv_s": round(reference, 2),
            "ingest_vs_duckdb": round(steps["ingest + validate"]["seconds"] / reference, 2) if reference else None,
            "run_s": round(sum(steps[k]["seconds"] for k in ("link", "stage", "score", "route", "indicators", "snapshot")), 1),
            "run_peak_mb": max(steps[k]["peak_mb"] for k in ("link", "stage", "score", "route", "indicators", "snapshot"))}


def table(results: list[dict]) -> str:
    names = list(results[0]["steps"])
    head = f"{'step':<20}" + "".join(f"{r['size'] + ' s':>10}{'MB':>8}{'µs/row':>9}" for r in results)
    lines = [head, "-" * len(head)]
    for n in names:
        lines.append(f"{n:<20}" + "".join(f"{r['steps'][n]['seconds']:>10.1f}{r['steps'][n]['peak_mb']:>8}"
                                          f"{r['steps'][n]['us_per_row']:>9.1f}" for r in results))
    lines.append(f"{'source rows':<20}" + "".join(f"{r['source_rows']:>27}" for r in results))
    lines.append(f"{'vigie run (s, MB)':<20}" + "".join(f"{r['run_s']:>18.1f}{r['run_peak_mb']:>9}" for r in results))
    lines.append(f"{'ingest / read_csv':<20}" + "".join(f"{r['ingest_vs_duckdb']:>27}" for r in results))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["S", "M"], choices=list(SIZES))
    ap.add_argument("--seed", type=int, default=31)
    args = ap.parse_args()
    results = [one_size(s, SIZES[s], args.seed) for s in args.sizes]
    print(table(results))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "scale_bench.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
