"""Household linkage of about N source records: time and peak memory of each step.

    python bench/linkage_bench.py --records 1000000

Records come from the synthetic city's partner rows (the same names, addresses and
habits as the files), built in memory rather than written and ingested, so that the
figure is the linkage's own: matching keys, deterministic entities, Splink prediction
with the shipped model, connected components and stable ids.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pandas as pd  # noqa: E402

from pipelines.link.households import assign_households, deterministic_entities, entities_table, splink_pairs  # noqa: E402
from pipelines.link.records import with_matching_keys  # noqa: E402
from pipelines.run import LINKAGE_MODEL  # noqa: E402
from pipelines.synth.generate import PartnerWriter  # noqa: E402
from pipelines.synth.world import World  # noqa: E402


def records_of(households: int, seed: int) -> pd.DataFrame:
    end = date.today() - timedelta(days=1)
    world = World(households, end - timedelta(days=3 * 365), end, seed)
    w = PartnerWriter(world, Path("/tmp"), seed, date.today())
    rows = []
    for _, hh, r in w.cdp_rows():
        rows.append((hh.household_id, "cdp", r["num_acte"], None, None, r["locataire_nom"], r["locataire_date_naissance"], r["adresse_voie"],
                     r["code_postal"], r["num_acte"], None, None))
    for _, hh, r in w.procedure_rows():
        rows.append((hh.household_id, "procedure", f"{r['num_procedure']}|{r['type_acte']}|{r['date_acte']}", None, None, r["locataire_nom"],
                     None, r["adresse_voie"], r["code_postal"], r["ref_cdp"], r["num_procedure"], None))
    for _, hh, r in w.bailleur_rows():
        rows.append((hh.household_id, "bailleur", f"{r['bailleur_code']}|{r['ref_contrat']}|{r['date_extraction']}", r["locataire_nom"],
                     r["locataire_prenom"], None, None, r["adresse_voie"], r["code_postal"], None, None,
                     f"{r['bailleur_code']}|{r['ref_contrat']}"))
    for _, hh, r in w.fsl_rows():
        rows.append((hh.household_id, "fsl", r["num_dossier"], r["demandeur_nom"], r["demandeur_prenom"], None, r["demandeur_date_naissance"],
                     r["adresse_voie"], r["code_postal"], None, None, None))
    df = pd.DataFrame(rows, columns=["truth", "source", "source_key", "surname", "first_name", "full_name", "birth_date", "address",
                                     "postal_code", "cdp_key", "procedure_key", "tenancy_key"])
    return df.drop_duplicates(["source", "source_key"], keep="last").reset_index(drop=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    steps = {}

    def timed(name, fn):
        t = time.perf_counter()
        out = fn()
        steps[name] = round(time.perf_counter() - t, 1)
        print(f"{name:32}{steps[name]:>8.1f} s   peak {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:>7.0f} MB",
              flush=True)
        return out

    households = max(100, int(args.records / 3.4))
    raw = timed("synthetic records", lambda: records_of(households, args.seed))
    print(f"{len(raw):,} source records from {households:,} households")
    start = time.perf_counter()

    records = timed("matching keys", lambda: with_matching_keys(raw.assign(landlord=None)))
    records["entity_id"] = timed("deterministic entities", lambda: deterministic_entities(records))
    entities = timed("entities table", lambda: entities_table(records))
    pairs = timed("splink predict (shipped model)", lambda: splink_pairs(entities, LINKAGE_MODEL))
    ids = timed("households and stable ids", lambda: assign_households(records, pairs, {}, {}, 1))
    total = round(time.perf_counter() - start, 1)
    from pipelines.link.households import pairwise_quality

    quality = pairwise_quality(ids, records["truth"])
    print(f"pairwise precision {quality['precision']:.4f}, recall {quality['recall']:.4f} against the generator's truth")
    peak = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(f"linkage of {len(records):,} records: {total} s, peak {peak} MB "
          f"({ids.nunique():,} households, {len(pairs):,} scored pairs); target 180 s and 8 GB")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "linkage.json").write_text(json.dumps({"records": len(records), "seconds": total, "peak_mb": peak,
                                                   "steps": steps, "households": int(ids.nunique()),
                                                   "precision": quality["precision"], "recall": quality["recall"]}, indent=2))


if __name__ == "__main__":
    main()
