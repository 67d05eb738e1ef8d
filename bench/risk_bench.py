"""Risk model: training time on a warehouse, and scoring time for N households.

    python bench/risk_bench.py --warehouse out/demo/vigie.duckdb      # training time
    python bench/risk_bench.py --households 100000                    # scoring time
    python bench/risk_bench.py --warehouse out/demo/vigie.duckdb --model-sizes   # quality against cost

Scoring: the synthetic city's true events for N households are written straight into
`case_events` of a fresh warehouse (no files, no linkage: those have their own benches),
then `cases` is built and `score_cases` runs with the shipped model, step by step. The
partners' facts tables are empty here, so the join of partner facts runs on nothing: its
cost on a full warehouse is measured by the training run (same SQL, all snapshots).
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from pipelines.ladder.cases import insert_cases, timeline_table  # noqa: E402
from pipelines.ladder.events import ACTS  # noqa: E402
from pipelines.risk import model as risk_model  # noqa: E402
from pipelines.risk.features import add_source_facts  # noqa: E402
from pipelines.risk.reasons import top_reasons  # noqa: E402
from pipelines.walk import walk  # noqa: E402
from pipelines.synth.world import World  # noqa: E402
from pipelines.warehouse import connect  # noqa: E402


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case_events_of(households: int, seed: int) -> pd.DataFrame:
    end = date.today() - timedelta(days=1)
    world = World(households, end - timedelta(days=3 * 365), end, seed)
    rows = []
    for hh in world.households:
        hid = "M" + hh.household_id[1:]
        for e in hh.events:
            d = e.data
            if e.kind == "cdp":
                rows.append((hid, e.day, "cdp", "cdp", json.dumps({"lease_date": str(hh.lease_date), "debt": d["debt"],
                                                                   "monthly_rent": hh.monthly_rent})))
            elif e.kind == "snapshot":
                rows.append((hid, e.day, "arrears", "bailleur", json.dumps(
                    {"debt": d["solde"], "monthly_rent": hh.monthly_rent, "first_unpaid": str(d["first_unpaid"])})))
            elif e.kind in ACTS or e.kind == "desistement":
                rows.append((hid, e.day, ACTS.get(e.kind, e.kind), "procedure", json.dumps(
                    {"hearing": str(d["hearing"]) if d.get("hearing") else None, "outcome": d.get("issue"),
                     "debt": d.get("debt")})))
            elif e.kind == "sortie_fsl":
                rows.append((hid, e.day, "sortie_fsl", "fsl", None))
    df = pd.DataFrame(rows, columns=["household_id", "event_date", "event", "source", "details"])
    df["source_key"] = df["household_id"] + "|" + df.index.astype(str)
    return df[["household_id", "event_date", "event", "source", "source_key", "details"]]


def bench_scoring(households: int, seed: int) -> dict:
    steps = {}
    t = time.perf_counter()
    events = case_events_of(households, seed)
    steps["generate events"] = time.perf_counter() - t
    folder = Path(tempfile.mkdtemp(prefix="vigie-risk-bench-"))
    con = connect(folder / "w.duckdb")
    con.register("_ev", events)
    con.execute("insert into case_events select * from _ev")
    con.unregister("_ev")
    as_of = date.today()
    t = time.perf_counter()  # as `vigie run` does (pipelines/walk.py), in one process here
    table = timeline_table(con, until=as_of)
    steps["timelines (SQL)"] = time.perf_counter() - t
    t = time.perf_counter()
    cases, snap = walk(table, as_of)
    steps["walk: stages and timeline features"] = time.perf_counter() - t
    open_cases = insert_cases(con, cases)
    model, meta = risk_model.load()
    t0 = t = time.perf_counter()
    frame = add_source_facts(con, snap)
    steps["score: partner facts (empty tables)"] = time.perf_counter() - t
    t = time.perf_counter()
    score, contrib = risk_model.contributions(model, frame, meta["reference"])
    steps["score: model + contributions"] = time.perf_counter() - t
    t = time.perf_counter()
    top_reasons(frame, contrib)
    steps["score: reasons in words"] = time.perf_counter() - t
    steps["score: total"] = time.perf_counter() - t0
    con.close()
    shutil.rmtree(folder, ignore_errors=True)
    return {"households": households, "open_cases": open_cases, "model": meta["version"],
            "steps_s": {k: round(v, 2) for k, v in steps.items()}, "peak_mb": round(peak_mb())}


def bench_training(warehouse: Path) -> dict:
    from pipelines.risk.train import train

    folder = Path(tempfile.mkdtemp(prefix="vigie-risk-train-"))
    copy = folder / "w.duckdb"
    shutil.copy(warehouse, copy)
    con = connect(copy)
    t = time.perf_counter()
    meta = train(con, folder=folder / "models", make_current=False)
    seconds = time.perf_counter() - t
    con.close()
    shutil.rmtree(folder, ignore_errors=True)
    return {"warehouse": str(warehouse), "rows": meta["rows"], "seconds": round(seconds, 1),
            "fit_seconds": meta["fit_seconds"], "model": meta["model"], "peak_mb": round(peak_mb())}


# (trees, learning rate) besides the shipped candidate's own: fewer and larger steps
MODEL_SIZES = [(150, 0.08), (100, 0.125), (60, 0.2), (40, 0.3)]


def bench_model_sizes(warehouse: Path) -> list[dict]:
    """The gradient-boosting candidate at several sizes, fitted and calibrated as `vigie train`
    does on the warehouse's snapshots: precision at k on validation (what chooses) and test,
    and the prediction cost per row (what the score step pays, 10.4 rows a case)."""
    from sklearn.base import clone

    from pipelines.risk.evaluate import precision_by_date
    from pipelines.risk.features import FEATURES
    from pipelines.risk.train import _rows, dataset, list_size, split

    con = connect(warehouse, read_only=True)
    frame, dates = dataset(con)
    con.close()
    parts = split(dates)
    train_rows, val_rows, test_rows = (_rows(frame, parts[p]) for p in ("train", "validation", "test"))
    k, many = list_size(), pd.concat([test_rows] * max(1, 200_000 // max(1, len(test_rows))))
    out = []
    shipped = risk_model.candidates()["gradient_boosting"]  # the other settings stay the candidate's
    for trees, rate in [(shipped.max_iter, shipped.learning_rate), *MODEL_SIZES]:
        estimator = clone(shipped).set_params(max_iter=trees, learning_rate=rate)
        model = risk_model.fit_calibrated(estimator, train_rows, val_rows)
        precision = {name: float(precision_by_date(rows, pd.Series(model.predict_proba(rows[FEATURES])[:, 1],
                                                                   index=rows.index), k).mean())
                     for name, rows in (("validation", val_rows), ("test", test_rows))}
        t = time.perf_counter()
        model.predict_proba(many[FEATURES])
        us = (time.perf_counter() - t) / len(many) * 1e6
        out.append({"trees": trees, "learning_rate": rate, "validation_precision_at_k": round(precision["validation"], 3),
                    "test_precision_at_k": round(precision["test"], 3), "predict_us_per_row": round(us, 2)})
        print(f"  {trees:>4} trees at {rate:<5} validation {precision['validation']:.3f}  test {precision['test']:.3f}  "
              f"{us:6.2f} µs a row", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--households", type=int, default=0)
    ap.add_argument("--warehouse", type=Path)
    ap.add_argument("--seed", type=int, default=21)
    ap.add_argument("--model-sizes", action="store_true",
                    help="with --warehouse: the boosting candidate at several sizes, quality against prediction cost")
    args = ap.parse_args()
    out = {}
    if args.warehouse and args.model_sizes:
        out["model_sizes"] = bench_model_sizes(args.warehouse)
    elif args.warehouse:
        out["training"] = bench_training(args.warehouse)
    if args.households:
        out["scoring"] = bench_scoring(args.households, args.seed)
    if not out:
        ap.error("--warehouse (training) et/ou --households (scoring)")
    print(json.dumps(out, indent=2, ensure_ascii=False))
    results = ROOT / "bench" / "results"
    results.mkdir(exist_ok=True)
    path = results / "risk_bench.json"  # each kind of measurement replaces its own entry only
    kept = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    path.write_text(json.dumps({**kept, **out}, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
