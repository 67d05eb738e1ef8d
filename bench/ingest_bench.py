"""Ingest + validation of a large `cdp` file against DuckDB's own typed read_csv of the
same file, measured in the same run, each in a fresh process (time and peak memory).

    python bench/ingest_bench.py --rows 5000000

Prints a table and writes bench/results/ingest.json. The ratio compares marginal costs:
(time on the large file - time on a 10-row file) for Vigie / the same for DuckDB.
"""
from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HEADER = ("num_acte;date_signification;etude_commissaire;bailleur_nom;bailleur_type;locataire_nom;"
          "locataire_date_naissance;adresse_voie;adresse_complement;code_postal;loyer_mensuel_cc;"
          "montant_dette;nb_mois_impayes;beneficiaire_apl;date_bail")
REFERENCE_TYPES = {"num_acte": "VARCHAR", "date_signification": "DATE", "etude_commissaire": "VARCHAR",
                   "bailleur_nom": "VARCHAR", "bailleur_type": "VARCHAR", "locataire_nom": "VARCHAR",
                   "locataire_date_naissance": "DATE", "adresse_voie": "VARCHAR", "adresse_complement": "VARCHAR",
                   "code_postal": "VARCHAR", "loyer_mensuel_cc": "DECIMAL(14,2)", "montant_dette": "DECIMAL(14,2)",
                   "nb_mois_impayes": "INTEGER", "beneficiaire_apl": "VARCHAR", "date_bail": "DATE"}


def write_cdp(path: Path, rows: int, seed: int = 0, defect_rate: float = 0.01) -> None:
    """A préfecture-style export (UTF-8, ';', dd/mm/yyyy, decimal comma), with 1 % bad lines."""
    rng = random.Random(seed)
    base = date(2024, 1, 1)
    dates = [(base + timedelta(days=i)).strftime("%d/%m/%Y") for i in range(900)]
    births = [(date(1940, 1, 1) + timedelta(days=i * 17)).strftime("%d/%m/%Y") for i in range(1500)]
    names = ["DUPONT Hélène", "NGUYỄN Văn Minh", "ÇELIK Ayşe", "O'BRIEN Luc", "MARTIN Jean / DIALLO Aïcha"]
    streets = ["12 bis rue de la Roquette", "3 av. Jean Jaurès", "45 bd de Belleville", "8 imp. Mouzaïa"]
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(HEADER + "\n")
        buf = []
        for i in range(rows):
            cp = f"750{rng.randint(1, 20):02d}"
            if rng.random() < defect_rate:
                cp = "92100"
            buf.append(f"CDP-{i:09d};{dates[i % 900]};Étude Moulin;SCI Les Lilas;prive_morale;{names[i % 5]};"
                       f"{births[i % 1500]};{streets[i % 4]};\"Bât. B; esc. 2\";{cp};{800 + i % 900},{i % 100:02d};"
                       f"{(i * 7) % 9000},50;{i % 24};{'oui' if i % 3 else 'non'};01/02/2019\n")
            if len(buf) == 100_000:
                fh.write("".join(buf))
                buf.clear()
        fh.write("".join(buf))


def worker(kind: str, path: str, wh: str) -> None:
    t = time.perf_counter()
    if kind == "duckdb":
        import duckdb

        con = duckdb.connect(wh)
        cols = "{" + ", ".join(f"'{k}': '{v}'" for k, v in REFERENCE_TYPES.items()) + "}"
        con.execute(f"create table ref as select * from read_csv('{path}', delim=';', header=true, "
                    f"dateformat='%d/%m/%Y', decimal_separator=',', columns={cols})")
        rows = con.execute("select count(*) from ref").fetchall()[0][0]
    else:
        from pipelines.ingest.load import ingest_file, validate_loaded
        from pipelines.warehouse import connect

        con = connect(wh)
        res = ingest_file(con, "cdp", Path(path))
        validate_loaded(con, "cdp", [res])
        rows = res.rows_loaded + res.rows_quarantined
    con.close()
    print(json.dumps({"seconds": time.perf_counter() - t, "rows": rows}))


def measure(kind: str, path: Path, tmp: Path) -> dict:
    wh = tmp / f"{kind}_{path.stem}.duckdb"
    wh.unlink(missing_ok=True)
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([sys.executable, __file__, "--worker", kind, str(path), str(wh)],
                         check=True, capture_output=True, text=True)
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    doc["peak_mb"] = round(max(peak_kb, before) / 1024)  # max RSS over children so far: run small files first
    wh.unlink(missing_ok=True)
    return doc


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--tmp", type=Path, default=Path("/tmp/vigie-bench"))
    ap.add_argument("--worker", nargs=3, metavar=("KIND", "FILE", "WAREHOUSE"))
    args = ap.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    args.tmp.mkdir(parents=True, exist_ok=True)
    small, large = args.tmp / "cdp_10.csv", args.tmp / f"cdp_{args.rows}.csv"
    write_cdp(small, 10)
    if not large.exists():
        t = time.perf_counter()
        write_cdp(large, args.rows)
        print(f"generated {large} ({large.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.0f} s")
    # peak RSS of children is a running maximum: measure in increasing order of expected memory
    results = {}
    for kind in ("duckdb", "vigie"):
        results[(kind, "small")] = measure(kind, small, args.tmp)
    for kind in ("duckdb", "vigie"):
        results[(kind, "large")] = measure(kind, large, args.tmp)
    marginal = {k: results[(k, "large")]["seconds"] - results[(k, "small")]["seconds"] for k in ("duckdb", "vigie")}
    ratio = marginal["vigie"] / marginal["duckdb"]
    doc = {"rows": args.rows, "file_mb": round(large.stat().st_size / 1e6),
           "duckdb_read_csv": {"small_s": round(results[("duckdb", "small")]["seconds"], 2),
                               "large_s": round(results[("duckdb", "large")]["seconds"], 2),
                               "peak_mb": results[("duckdb", "large")]["peak_mb"]},
           "vigie_ingest_validate": {"small_s": round(results[("vigie", "small")]["seconds"], 2),
                                     "large_s": round(results[("vigie", "large")]["seconds"], 2),
                                     "peak_mb": results[("vigie", "large")]["peak_mb"]},
           "marginal_ratio": round(ratio, 2), "target_ratio": 2.5}
    print(f"{'':28}{'10 rows':>10}{f'{args.rows:,} rows':>16}{'peak MB':>10}")
    for label, key in (("DuckDB typed read_csv", "duckdb_read_csv"), ("Vigie ingest + validation", "vigie_ingest_validate")):
        d = doc[key]
        print(f"{label:28}{d['small_s']:>9.2f}s{d['large_s']:>15.2f}s{d['peak_mb']:>10}")
    print(f"marginal cost ratio Vigie / DuckDB: {ratio:.2f} (target <= 2.5)")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "ingest.json").write_text(json.dumps(doc, indent=2))


if __name__ == "__main__":
    main()
