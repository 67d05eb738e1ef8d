"""Fuzz the ingest with N hostile files (pipelines/synth/hostile.py), one warehouse:

    python bench/fuzz_ingest.py --files 10000

Each file goes through `ingest_file` as a `cdp` file. Promises checked on every file: no
uncaught exception, a loaded file whole with every line accounted for, a refused file
changing no data. Prints counts by kind and status, the failures (kind, seed: replay
with `hostile.make(kind, seed)`), and the time; writes bench/results/fuzz_ingest.json.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.ingest.load import ingest_file  # noqa: E402
from pipelines.synth import hostile  # noqa: E402
from pipelines.warehouse import connect  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=20261127)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="vigie-fuzz-"))
    con = connect(folder / "w.duckdb")
    counts: Counter = Counter()
    failures = []
    started = time.perf_counter()
    for i in range(args.files):
        kind, seed = hostile.draw_kind(rng), rng.randrange(2**32)
        data, suffix = hostile.make(kind, seed)
        path = folder / f"f{i}{suffix}"
        path.write_bytes(data)
        status, broken = hostile.check(con, path, ingest_file)
        path.unlink()
        counts[(kind, status)] += 1
        if broken:
            failures.append({"kind": kind, "seed": seed, "status": status, "broken": broken})
        if (i + 1) % 1000 == 0:
            print(f"{i + 1} files, {len(failures)} failures, {time.perf_counter() - started:.0f} s", flush=True)
    con.close()
    out = {"files": args.files, "seconds": round(time.perf_counter() - started, 1), "failures": failures,
           "by_kind_and_status": {f"{k}/{s}": n for (k, s), n in sorted(counts.items())}}
    print(json.dumps(out, indent=2, ensure_ascii=False))
    (ROOT / "bench" / "results").mkdir(exist_ok=True)
    (ROOT / "bench" / "results" / "fuzz_ingest.json").write_text(json.dumps(out, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
