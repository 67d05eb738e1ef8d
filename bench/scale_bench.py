"""Time and peak memory of each step of the pipeline at several sizes, per source row:

    python bench/scale_bench.py --sizes S M          # S = the demo (5 000 households), M ~ 1 M rows
    python bench/scale_bench.py --sizes L            # L ~ 5 M rows (long: generation alone takes a while)
    python bench/scale_bench.py --sizes M --keep     # keep M's warehouse, then after a change:
    python bench/scale_bench.py --rerun /tmp/vigie-scale-M-xxxx/vigie.duckdb   # `vigie run`'s steps again
    python bench/scale_bench.py --ingest /tmp/vigie-scale-M-xxxx/data          # the ingest again

Steps are the plain pipeline functions the flows call (no Prefect): generate, ingest +
validate, then `vigie run`'s: link, stage, score, route, indicators, commit (stage to
indicators are one transaction), snapshot; then export (xlsx lists), report.
In the same run, DuckDB's own typed `read_csv` reads every generated CSV (the reference
the ingest is compared with). Peak memory is the highest resident size sampled during
the step, this process's and its children's together. A fixed workload (`machine_probe`)
is timed before and after each size: absolute times only compare between runs whose
probes agree. Prints one table; writes bench/results/scale_bench.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
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

from pipelines.indicators.report import write_report  # noqa: E402
from pipelines.ingest.load import ingest_files  # noqa: E402
from pipelines.route.case_lists import all_destinations, write_lists  # noqa: E402
from pipelines.run import run  # noqa: E402
from pipelines.synth.generate import generate  # noqa: E402
from pipelines.warehouse import connect  # noqa: E402

# households for about this many source rows (the demo: 5 000 households, ~18 000 rows)
SIZES = {"S": 5_000, "M": 270_000, "L": 1_350_000}
RUN_STEPS = ("link", "stage", "score", "route", "indicators", "commit", "snapshot")  # what `vigie run` does


class PeakRSS:
    """Highest resident memory (MB) of this process and its children (the helper process of the
    linkage and the timeline walk, `pipelines/helper.py`), summed at each sample, while the block runs."""

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
        def resident(pid) -> float:
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            return int(line.split()[1]) / 1024
            except OSError:  # (a child that has just ended)
                pass
            return 0.0

        children = set()
        for task in Path("/proc/self/task").iterdir():
            try:
                children.update((task / "children").read_text().split())
            except OSError:
                pass
        return resident("self") + sum(resident(pid) for pid in children)


def measure(steps: dict, name: str, fn):
    started = time.perf_counter()
    with PeakRSS() as mem:
        result = fn()
    steps[name] = {"seconds": round(time.perf_counter() - started, 2), "peak_mb": round(mem.peak)}
    print(f"  {name:<22} {steps[name]['seconds']:>8.1f} s {steps[name]['peak_mb']:>7} MB", flush=True)
    return result


_PROBE = """
import json, time
import duckdb
started = time.perf_counter()
rows = [(i, str(i), {"debt": float(i)}) for i in range(500_000)]
del rows
python_s = time.perf_counter() - started
con = duckdb.connect()
started = time.perf_counter()
con.execute("select sum(hash(i) % 1000) from range(50000000) t(i)").fetchall()
print(json.dumps({"python_s": round(python_s, 2), "duckdb_s": round(time.perf_counter() - started, 2)}))
"""


def machine_probe(label: str) -> dict:
    """A fixed workload, timed before and after the measured steps, in a fresh process (the
    bench's own heap would slow its Python part): Python building small objects, as the
    timeline walk does, and a DuckDB aggregation on every core. This machine's speed moves by
    a quarter or more during a day (docs/BENCHMARKS.md, seventh session): the probe tells a slow
    phase from a slower code. Its figures compare only with the same probe's."""
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True).stdout
    probe = json.loads(out)
    print(f"  machine probe {label}: Python {probe['python_s']:.2f} s, DuckDB {probe['duckdb_s']:.2f} s", flush=True)
    return probe


def probed(fn, *args) -> dict:
    """fn(*args)'s result (a dict), with the machine probe before and after it."""
    before = machine_probe("before")
    result = fn(*args)
    return {**result, "machine_probe": {"before": before, "after": machine_probe("after")}}


def duckdb_reference(data: Path, folder: Path) -> dict[str, float]:
    """DuckDB's own read_csv of every generated CSV (types by auto-detection) into a table of a
    fresh database file, as `bench/ingest_bench.py` does; seconds per source. The partners' xlsx
    files have no DuckDB equivalent here: the reference leaves them out."""
    con = duckdb.connect(str(folder / "reference.duckdb"))
    seconds: dict[str, float] = {}
    for i, path in enumerate(sorted(data.glob("*/*.csv"))):
        if path.parent.name == "truth":
            continue
        started = time.perf_counter()
        try:
            con.execute(f"create table t{i} as select * from read_csv('{path}', ignore_errors=true)")
        except duckdb.Error:
            pass  # a file DuckDB cannot sniff (the generator's oddities): Vigie reads it, the reference skips it
        seconds[path.parent.name] = seconds.get(path.parent.name, 0.0) + time.perf_counter() - started
    con.close()
    return seconds


def run_steps(con, as_of: date, steps: dict) -> None:
    """`vigie run` itself (pipelines/run.py), each of its steps measured."""
    run(con, as_of, step=lambda name, fn: measure(steps, name, fn))


def rerun(warehouse: Path) -> dict:
    """`vigie run`'s steps again on a copy of a warehouse (one kept by --keep): to measure a
    change to linkage, stages, score or routing without generating and ingesting the city again."""
    folder = Path(tempfile.mkdtemp(prefix="vigie-rerun-"))
    shutil.copy(warehouse, folder / "vigie.duckdb")
    con = connect(folder / "vigie.duckdb")
    rows = con.execute("select count(*) from source_records").fetchall()[0][0]
    steps: dict = {}
    print(f"{warehouse}: {rows} source rows (a copy in {folder})", flush=True)
    run_steps(con, date.today(), steps)
    open_cases = con.execute("select count(*) from cases").fetchall()[0][0]
    con.close()
    shutil.rmtree(folder, ignore_errors=True)
    total = sum(steps[k]["seconds"] for k in RUN_STEPS)
    print(f"vigie run: {total:.1f} s, peak {max(steps[k]['peak_mb'] for k in RUN_STEPS)} MB, {open_cases} open cases")
    return {"warehouse": str(warehouse), "source_rows": rows, "open_cases": open_cases, "steps": steps,
            "run_s": round(total, 1)}


def measure_ingest(con, data: Path, folder: Path, steps: dict) -> dict:
    """Ingest + validation of every source's files in `data`, then DuckDB's reference on the same
    files in the same process; rows read and the ratios."""
    by_source: dict[str, float] = {}

    def ingest():
        rows = 0
        for source in ("cdp", "bailleur", "fsl", "procedure"):
            started = time.perf_counter()
            results, _ = ingest_files(con, source, [data / source])
            by_source[source] = time.perf_counter() - started
            rows += sum(r.rows_read for r in results)
        return rows

    import great_expectations  # noqa: F401  its import (several seconds, once per process) is not ingest work

    rows = measure(steps, "ingest + validate", ingest)
    reference = duckdb_reference(data, folder)
    csv_only = ("cdp", "procedure")  # sources whose files are all CSV: the like-for-like comparison
    csv_ratio = sum(by_source[x] for x in csv_only) / max(1e-9, sum(reference.get(x, 0.0) for x in csv_only))
    print(f"  ingest / DuckDB read_csv: {steps['ingest + validate']['seconds'] / sum(reference.values()):.2f} x "
          f"over all sources, {csv_ratio:.2f} x on the CSV sources "
          f"({', '.join(f'{k} {v:.2f} s against {reference.get(k, 0.0):.2f} s' for k, v in by_source.items())})")
    return {"source_rows": rows, "duckdb_read_csv_s": round(sum(reference.values()), 2),
            "ingest_vs_duckdb": round(steps["ingest + validate"]["seconds"] / sum(reference.values()), 2),
            "ingest_s_by_source": {k: round(v, 2) for k, v in by_source.items()},
            "duckdb_read_csv_s_by_source": {k: round(v, 2) for k, v in reference.items()},
            "csv_sources_ingest_vs_duckdb": round(csv_ratio, 2)}


def ingest_again(data: Path) -> dict:
    """Only the ingest + validation, of a kept city's files (the `data` folder of a --keep run),
    into a fresh warehouse, against DuckDB's reference: to measure a change to the ingest."""
    folder = Path(tempfile.mkdtemp(prefix="vigie-ingest-"))
    con = connect(folder / "vigie.duckdb")
    steps: dict = {}
    print(f"{data}: ingest into {folder}", flush=True)
    doc = measure_ingest(con, data, folder, steps)
    con.close()
    shutil.rmtree(folder, ignore_errors=True)
    return {"data": str(data), "steps": steps, **doc}


def one_size(label: str, households: int, seed: int, keep: bool = False) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"vigie-scale-{label}-"))
    data, as_of, steps = folder / "data", date.today(), {}
    print(f"{label}: {households} households in {folder}", flush=True)
    measure(steps, "generate", lambda: generate(data, households=households, seed=seed))
    con = connect(folder / "vigie.duckdb")
    con.execute("create table if not exists vigie_demo as select current_timestamp as created_at")
    ingest = measure_ingest(con, data, folder, steps)
    rows = ingest["source_rows"]
    run_steps(con, as_of, steps)
    measure(steps, "export", lambda: write_lists(con, all_destinations(con), folder / "lists"))
    measure(steps, "report", lambda: write_report(con, folder / "rapport", date(as_of.year - 3, 1, 1), as_of))
    open_cases = con.execute("select count(*) from cases").fetchall()[0][0]
    con.close()
    if keep:
        print(f"  kept: {folder / 'vigie.duckdb'}")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    for s in steps.values():
        s["us_per_row"] = round(s["seconds"] / rows * 1e6, 1)
    return {"size": label, "households": households, "open_cases": open_cases, "steps": steps, **ingest,
            "run_s": round(sum(steps[k]["seconds"] for k in RUN_STEPS), 1),
            "run_peak_mb": max(steps[k]["peak_mb"] for k in RUN_STEPS)}


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
    lines.append(f"{'  CSV sources only':<20}" + "".join(f"{r['csv_sources_ingest_vs_duckdb']:>27}" for r in results))
    probe = lambda p: f"{p['python_s']:.2f}/{p['duckdb_s']:.2f}"  # noqa: E731
    lines.append(f"{'probe Py/DuckDB (s)':<20}" + "".join(
        f"{probe(r['machine_probe']['before']) + ' -> ' + probe(r['machine_probe']['after']):>27}" for r in results))
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", nargs="+", default=["S", "M"], choices=list(SIZES))
    ap.add_argument("--seed", type=int, default=31)
    ap.add_argument("--keep", action="store_true", help="keep each size's warehouse (to profile a step)")
    ap.add_argument("--rerun", type=Path, metavar="WAREHOUSE",
                    help="only the steps of `vigie run`, again, on a copy of this (kept) warehouse")
    ap.add_argument("--ingest", type=Path, metavar="DATA",
                    help="only the ingest + validation, of a kept city's data folder, against DuckDB's read_csv")
    args = ap.parse_args()
    if args.ingest:
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / "scale_ingest.json").write_text(json.dumps(probed(ingest_again, args.ingest), indent=2),
                                               encoding="utf-8")
        return
    if args.rerun:
        out = ROOT / "bench" / "results"
        out.mkdir(exist_ok=True)
        (out / "scale_rerun.json").write_text(json.dumps(probed(rerun, args.rerun), indent=2), encoding="utf-8")
        return
    results = [probed(one_size, s, SIZES[s], args.seed, args.keep) for s in args.sizes]
    print(table(results))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "scale_bench.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
