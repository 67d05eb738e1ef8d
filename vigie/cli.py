"""The `vigie` command. Each command runs as a Prefect flow; exit codes: 0 done,
1 done but something needs a person's eye, 2 unusable input or arguments."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import time
from contextlib import nullcontext
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Optional

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# Prefect's temporary server creates its database on a fresh machine: on a busy 2-core machine
# that took longer than Prefect's default wait (seen from a clean clone: "Timed out while
# attempting to connect to ephemeral Prefect API server")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402

from pipelines.contracts import SOURCES  # noqa: E402
from pipelines.analytics import PseudonymKeyMissing  # noqa: E402
from pipelines.risk import ModelError  # noqa: E402
from pipelines.warehouse import WarehouseBusy  # noqa: E402
from vigie.config import DEFAULT_DEMO_DIR, warehouse_path  # noqa: E402

app = typer.Typer(help="Vigie : alerte précoce pour prévenir les expulsions locatives à Paris.",
                  no_args_is_help=True, add_completion=False)
console = Console()
err = Console(stderr=True)

WarehouseOpt = Annotated[Optional[Path], typer.Option("--warehouse", help="Fichier DuckDB (défaut : $VIGIE_WAREHOUSE ou warehouse/vigie.duckdb)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Un seul document JSON en sortie")]


def fail(message: str, code: int = 2) -> None:
    err.print(f"[bold red]Erreur :[/] {message}")
    raise typer.Exit(code)


def _emit_json(doc) -> None:
    sys.stdout.write(json.dumps(doc, ensure_ascii=False, default=str, indent=2) + "\n")


def _exit_code(results: list[dict]) -> int:
    if any(r["status"] == "rejected" for r in results):
        return 2
    return 1 if any(r["needs_attention"] for r in results) else 0


def _print_results(results: list[dict], title: str) -> None:
    table = Table(title=title, show_lines=False)
    for col in ("fichier", "lues", "chargées", "écartées", "ignorées", "statut"):
        table.add_column(col, justify="right" if col not in ("fichier", "statut") else "left")
    for r in results:
        style = {"rejected": "red", "already_loaded": "dim"}.get(r["status"], "yellow" if r["needs_attention"] else "")
        table.add_row(Path(r["file_path"]).name, str(r["rows_read"]), str(r["rows_loaded"]),
                      str(r["rows_quarantined"]), str(r["rows_skipped"]), r["status"], style=style)
    console.print(table)
    for r in results:
        if r["message"] and r["status"] != "already_loaded":
            target = err if r["status"] == "rejected" else console
            target.print(f"[bold]{Path(r['file_path']).name}[/] : {r['message']}")


def _guard_warehouse(path: Path) -> None:
    from pipelines.warehouse import connect

    try:
        connect(path).close()
    except WarehouseBusy as exc:
        fail(str(exc))


@app.command()
def ingest(
    source: Annotated[str, typer.Argument(help="cdp, bailleur, fsl, procedure ou suivi")],
    paths: Annotated[list[Path], typer.Argument(help="Fichiers ou dossiers à charger")],
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Charge les fichiers d'une source ; un fichier déjà chargé (même contenu) ne change rien."""
    if source not in SOURCES:
        fail(f"source inconnue « {source} » : choisissez parmi {', '.join(SOURCES)}")
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        fail(f"introuvable : {', '.join(missing)} : vérifiez le chemin")
    from pipelines.ingest.load import iter_files

    if not iter_files(paths):
        fail("aucun fichier à charger dans ce dossier")
    wh = warehouse_path(warehouse)
    _guard_warehouse(wh)
    from flows.ingest_flow import ingest_flow

    try:
        results = ingest_flow(source, [str(p) for p in paths], str(wh), progress=not as_json and console.is_terminal)
    except WarehouseBusy as exc:
        fail(str(exc))
    if as_json:
        _emit_json({"source": source, "warehouse": str(wh), "files": [
            {k: v for k, v in r.items() if k != "validation"} for r in results]})
    else:
        _print_results(results, f"Chargement « {source} » dans {wh}")
    raise typer.Exit(_exit_code(results))


@app.command()
def quarantine(
    source: Annotated[Optional[str], typer.Option("--source", help="Limiter à une source")] = None,
    limit: Annotated[int, typer.Option(help="Nombre de lignes affichées (le JSON les donne toutes)")] = 50,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ce qui a été mis de côté, pourquoi, et depuis quel fichier et quelle ligne."""
    if source and source not in SOURCES:
        fail(f"source inconnue « {source} » : choisissez parmi {', '.join(SOURCES)}")
    wh = warehouse_path(warehouse)
    if not wh.exists():
        fail(f"pas d'entrepôt à {wh} : lancez d'abord `vigie ingest` ou `vigie demo`")
    from pipelines.warehouse import connect

    try:
        con = connect(wh, read_only=True)
    except WarehouseBusy as exc:
        fail(str(exc))
    where = "where source = ?" if source else ""
    params = [source] if source else []
    rows = con.execute(f"select source, file_path, line_number, reason_code, reason from quarantine {where} "
                       f"order by source, file_path, line_number", params).fetchall()
    by_reason = con.execute(f"select source, reason_code, count(*) from quarantine {where} group by all "
                            f"order by 3 desc", params).fetchall()
    con.close()
    if as_json:
        _emit_json({"count": len(rows), "by_reason": [dict(zip(("source", "reason_code", "count"), r)) for r in by_reason],
                    "lines": [dict(zip(("source", "file_path", "line_number", "reason_code", "reason"), r)) for r in rows]})
        return
    if not rows:
        console.print("Aucune ligne en quarantaine.")
        return
    summary = Table(title=f"Lignes en quarantaine : {len(rows)}")
    for col in ("source", "motif", "lignes"):
        summary.add_column(col)
    for s, code, n in by_reason:
        summary.add_row(s, code, str(n))
    console.print(summary)
    detail = Table(title=f"Détail ({min(limit, len(rows))} premières)")
    for col in ("source", "fichier", "ligne", "motif", "raison"):
        detail.add_column(col, overflow="fold")
    for s, fp, ln, code, reason in rows[:limit]:
        detail.add_row(s, Path(fp).name, str(ln), code, reason)
    console.print(detail)


@app.command()
def run(
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Date de situation jj/mm/aaaa ou aaaa-mm-jj (défaut : aujourd'hui)")] = None,
    train_linkage: Annotated[bool, typer.Option("--train-linkage", help="Réentraîner le modèle de rapprochement (Splink)")] = False,
    evaluation: Annotated[bool, typer.Option("--evaluation", help="Mode évaluation : ordre tiré au sort par paliers de rang (graine enregistrée)")] = False,
    seed: Annotated[Optional[int], typer.Option("--seed", help="Graine du tirage du mode évaluation (défaut : au hasard)")] = None,
    shadow_model: Annotated[Optional[str], typer.Option("--shadow-model", help="Mode fantôme : noter aussi avec ce modèle, sans changer les listes")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rapproche les ménages, calcule stades et échéances, évalue le risque et oriente les cas, à une date."""
    day = _parse_day(as_of) if as_of else date.today()
    if seed is not None and not evaluation:
        fail("--seed ne sert qu'avec --evaluation")
    evaluation_seed = (seed if seed is not None else secrets.randbelow(2 ** 31)) if evaluation else None
    wh = warehouse_path(warehouse)
    if not wh.exists():
        fail(f"pas d'entrepôt à {wh} : chargez d'abord des fichiers avec `vigie ingest`")
    _guard_warehouse(wh)
    from flows.run_flow import run_flow

    with console.status("Rapprochement des ménages et calcul des stades…", spinner="dots") if not as_json \
            and console.is_terminal else nullcontext():
        try:
            summary = run_flow(str(wh), as_of=day, train_linkage=train_linkage, evaluation_seed=evaluation_seed,
                               shadow_model=shadow_model)
        except (ModelError, PseudonymKeyMissing, WarehouseBusy) as exc:
            fail(str(exc))
    if as_json:
        _emit_json(summary)
    else:
        _print_run(summary)
    raise typer.Exit(1 if summary["uncertain_pairs"] else 0)


def _print_run(summary: dict) -> None:
    table = Table(title=f"Situation au {date.fromisoformat(summary['as_of']):%d/%m/%Y}")
    table.add_column("stade")
    table.add_column("ménages", justify="right")
    for stage, n in summary["by_stage"].items():
        table.add_row(stage, str(n))
    console.print(table)
    console.print(f"{summary['records']} enregistrements, {summary['households']} ménages, "
                  f"{summary['open_cases']} situations ouvertes.")
    if summary.get("risk_model"):
        console.print(f"Risque calculé par le modèle {summary['risk_model']}.")
    elif "risk_model" in summary:
        console.print("[yellow]Aucun modèle de risque[/] : cas classés par stade puis dette (`vigie train` pour en entraîner un).")
    if summary.get("evaluation_seed") is not None:
        console.print(f"Mode évaluation : ordre tiré au sort par paliers (graine {summary['evaluation_seed']}, "
                      "table evaluation_draws).")
    if summary.get("shadow_model"):
        console.print(f"Mode fantôme : {summary['shadow_scored']} cas notés par {summary['shadow_model']} "
                      "(table shadow_scores), listes inchangées.")
    if summary["uncertain_pairs"]:
        console.print(f"[yellow]{summary['uncertain_pairs']} rapprochement(s) incertain(s)[/] à décider : `vigie review`")


@app.command()
def household(
    household_id: Annotated[str, typer.Argument(help="Identifiant du ménage (ex. M0000042)")],
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Les enregistrements d'un ménage, pourquoi ils ont été rapprochés, et sa chronologie."""
    con = _read_only(warehouse)
    records = con.execute("select source, source_key, file_path, line_number from source_records "
                          "where household_id = ? order by source, source_key", [household_id]).fetchall()
    if not records:
        con.close()
        fail(f"ménage inconnu : {household_id} (lancez `vigie run`, puis voyez la table cases)")
    ids = [f"{s}|{k}" for s, k, _, _ in records]
    links = con.execute("select unique_id_l, unique_id_r, match_probability, reasons from record_links "
                        "where unique_id_l in (select unnest(?)) or unique_id_r in (select unnest(?)) "
                        "order by match_probability desc", [ids, ids]).fetchall()
    events = con.execute("select event_date, event, source, source_key from case_events where household_id = ? "
                         "order by event_date", [household_id]).fetchall()
    case = con.execute("select stage, stage_since, next_deadline, next_deadline_kind from cases where household_id = ?",
                       [household_id]).fetchall()
    con.close()
    if as_json:
        _emit_json({"household_id": household_id, "records": [dict(zip(("source", "source_key", "file_path", "line_number"), r)) for r in records],
                    "links": [dict(zip(("left", "right", "match_probability", "reasons"), l)) for l in links],
                    "events": [dict(zip(("date", "event", "source", "source_key"), e)) for e in events],
                    "case": dict(zip(("stage", "stage_since", "next_deadline", "next_deadline_kind"), case[0])) if case else None})
        return
    t = Table(title=f"Ménage {household_id} : enregistrements")
    for col in ("source", "clé", "fichier", "ligne"):
        t.add_column(col)
    for s, k, fp, ln in records:
        t.add_row(s, k, Path(fp).name, str(ln))
    console.print(t)
    if links:
        t = Table(title="Rapprochements probabilistes (Splink)")
        for col in ("gauche", "droite", "probabilité", "raisons (poids)"):
            t.add_column(col, overflow="fold")
        for l, r, p, why in links:
            t.add_row(l, r, f"{p:.3f}", why)
        console.print(t)
    t = Table(title="Chronologie")
    for col in ("date", "événement", "source"):
        t.add_column(col)
    for d, e, s, _ in events:
        t.add_row(f"{d:%d/%m/%Y}", e, s)
    console.print(t)
    if case:
        st, since, nd, kind = case[0]
        console.print(f"Stade : [bold]{st}[/] depuis le {since:%d/%m/%Y}" +
                      (f" ; prochaine échéance : {kind} le {nd:%d/%m/%Y}" if nd else ""))


@app.command()
def review(
    accept: Annotated[Optional[list[str]], typer.Option("--accept", help="Accepter la paire n° (voir la liste)")] = None,
    reject: Annotated[Optional[list[str]], typer.Option("--reject", help="Refuser la paire n°")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Les rapprochements incertains : les lister, en accepter ou en refuser (décisions conservées)."""
    from pipelines.link.households import REVIEW_BAND

    wh = warehouse_path(warehouse)
    if not wh.exists():
        fail(f"pas d'entrepôt à {wh}")
    _guard_warehouse(wh)
    from pipelines.warehouse import connect

    con = connect(wh)
    pending = con.execute(
        "select unique_id_l, unique_id_r, match_probability, reasons from record_links l "
        "where match_probability >= ? and match_probability < ? and not exists (select 1 from link_decisions d "
        "where d.unique_id_l = l.unique_id_l and d.unique_id_r = l.unique_id_r) order by match_probability desc",
        list(REVIEW_BAND)).fetchall()
    decided = []
    for numbers, accepted in ((accept or [], True), (reject or [], False)):
        for n in numbers:
            if not n.isdigit() or not 1 <= int(n) <= len(pending):
                con.close()
                fail(f"paire n° {n} inconnue : choisissez un numéro de la liste `vigie review`")
            l, r, _, _ = pending[int(n) - 1]
            con.execute("insert into link_decisions values (?, ?, ?, current_timestamp)", [l, r, accepted])
            decided.append((n, accepted))
    con.close()
    if as_json:
        _emit_json({"pending": [dict(zip(("left", "right", "match_probability", "reasons"), p)) for p in pending],
                    "decided": [{"pair": n, "accepted": a} for n, a in decided]})
        return
    if decided:
        console.print(f"{len(decided)} décision(s) enregistrée(s) ; elles s'appliquent au prochain `vigie run`.")
        return
    if not pending:
        console.print("Aucun rapprochement incertain à décider.")
        return
    t = Table(title="Rapprochements incertains")
    for col in ("n°", "gauche", "droite", "probabilité", "raisons (poids)"):
        t.add_column(col, overflow="fold")
    for i, (l, r, p, why) in enumerate(pending, start=1):
        t.add_row(str(i), l, r, f"{p:.3f}", why)
    console.print(t)
    console.print("Décidez avec `vigie review --accept N` ou `vigie review --reject N`.")


@app.command()
def cases(
    destination: Annotated[str, typer.Argument(help="adil, ssp-01 .. ssp-20 (16e : ssp-16), eliahs, ou all")],
    fmt: Annotated[str, typer.Option("--format", help="xlsx ou csv")] = "xlsx",
    out: Annotated[Path, typer.Option("--out", help="Dossier où écrire les listes")] = Path("case_lists"),
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Exporte la liste priorisée d'une destination (ou de toutes) pour la semaine."""
    if fmt not in ("xlsx", "csv"):
        fail("--format doit valoir xlsx ou csv")
    import re

    if destination not in ("adil", "eliahs", "all") and not re.fullmatch(r"ssp-(0[1-9]|1[0-9]|20)", destination):
        fail(f"destination inconnue « {destination} » : adil, ssp-01 à ssp-20, eliahs ou all")
    wh = warehouse_path(warehouse)
    if not wh.exists():
        fail(f"pas d'entrepôt à {wh}")
    _guard_warehouse(wh)
    from pipelines.route.case_lists import all_destinations, write_lists
    from pipelines.warehouse import connect

    con = connect(wh)

    as_of = con.execute("select max(as_of) from cases").fetchall()[0][0]
    if as_of is None:
        con.close()
        fail("aucun cas calculé : lancez d'abord `vigie run`")
    written = write_lists(con, all_destinations(con) if destination == "all" else [destination], out, fmt)
    con.close()
    if as_json:
        _emit_json({"as_of": as_of.isoformat(), "lists": written})
        return
    table = Table(title=f"Listes de cas au {as_of:%d/%m/%Y}")
    for col in ("destination", "dossiers", "dans la capacité", "fichier"):
        table.add_column(col)
    for w in written:
        table.add_row(w["destination"], str(w["rows"]), str(w["within_capacity"]), w["file"])
    console.print(table)


def _parse_day(text: str) -> date:
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            pass
    fail(f"date illisible « {text} » : écrivez-la jj/mm/aaaa ou aaaa-mm-jj")


def _read_only(warehouse):
    wh = warehouse_path(warehouse)
    if not wh.exists():
        fail(f"pas d'entrepôt à {wh}")
    from pipelines.warehouse import connect

    try:
        return connect(wh, read_only=True)
    except WarehouseBusy as exc:
        fail(str(exc))


@app.command()
def demo(
    households: Annotated[int, typer.Option(help="Nombre de ménages du Paris synthétique")] = 5000,
    seed: Annotated[int, typer.Option(help="Graine du générateur (même graine, mêmes fichiers)")] = 0,
    out: Annotated[Path, typer.Option(help="Dossier des fichiers synthétiques")] = DEFAULT_DEMO_DIR,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fabrique un Paris synthétique réaliste et le fait passer dans toute la chaîne."""
    if households < 10:
        fail("--households doit valoir au moins 10")
    started = time.perf_counter()
    wh = warehouse_path(warehouse)
    _reset_demo_warehouse(wh)  # (may refuse and stop: before anything is started)
    _mark_demo(wh)
    server = _start_prefect_server_early()
    data_dir = out / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    from pipelines.synth.generate import generate

    if not as_json:
        console.print(f"Paris synthétique : {households} ménages, graine {seed} -> {data_dir}")
    with (console.status("Fabrication des fichiers des partenaires…") if not as_json and console.is_terminal
          else nullcontext()):
        manifest = generate(data_dir, households=households, seed=seed)
    from flows.demo_flow import demo_flow

    if server:
        server.join()
    result = demo_flow(str(data_dir), str(wh), {s: [str(p) for p in ps] for s, ps in manifest.files.items()}, seed=seed,
                       progress=not as_json and console.is_terminal)
    lists_dir = out / "case_lists"
    lists = _write_all_lists(wh, lists_dir)
    report_path = _write_demo_report(wh, out / "rapport")
    elapsed = time.perf_counter() - started
    all_results = [r for rs in result["ingested"].values() for r in rs]
    from pipelines.ingest.report import summarise

    totals = summarise(all_results)
    if as_json:
        _emit_json({"warehouse": str(wh), "data_dir": str(data_dir), "seconds": round(elapsed, 1), "totals": totals,
                    "run": result["run"], "case_lists": lists, "report": str(report_path),
                    "files": [{k: v for k, v in r.items() if k != "validation"} for r in all_results]})
    else:
        table = Table(title=f"Démo terminée en {elapsed:.0f} s")
        for col in ("source", "fichiers", "lues", "chargées", "écartées", "ignorées", "à vérifier"):
            table.add_column(col, justify="left" if col == "source" else "right")
        for source, rs in result["ingested"].items():
            table.add_row(source, str(len(rs)), *(str(sum(r[k] for r in rs)) for k in
                          ("rows_read", "rows_loaded", "rows_quarantined", "rows_skipped")),
                          str(sum(1 for r in rs if r["needs_attention"])))
        console.print(table)
        flagged = [r for r in all_results if "volume anormal" in r["message"] or "plus de" in r["message"]]
        for r in flagged:
            console.print(f"[yellow]À vérifier[/] {Path(r['file_path']).name} : {r['message']}")
        _print_run(result["run"])
        console.print(f"Listes de cas : {len(lists)} destinations dans {lists_dir}")
        console.print(f"Rapport de suivi de la charte : {report_path}")
        console.print(f"Entrepôt : {wh}\nFichiers partenaires : {data_dir}\n"
                      f"Lignes écartées : `vigie quarantine --warehouse {wh}`")
    raise typer.Exit(1 if any(r["needs_attention"] for r in all_results) else 0)


def _start_prefect_server_early():
    """Prefect starts its temporary server (a separate process) at the first flow, 7 to 10 s
    of waiting: start it now, in the background, while the demo writes its files. Nothing to
    do when PREFECT_API_URL names a server. Returns something to `join()` before the first flow, or None."""
    import threading

    from prefect.settings import PREFECT_API_URL

    def start():
        try:
            from prefect.server.api.server import SubprocessASGIServer

            SubprocessASGIServer().start()
        except Exception:  # noqa: BLE001  the first flow starts it again, and says what is wrong
            pass

    if PREFECT_API_URL.value():
        return None
    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    return thread


def _write_demo_report(wh: Path, folder: Path) -> Path:
    from pipelines.indicators.report import write_report
    from pipelines.warehouse import connect

    shutil.rmtree(folder, ignore_errors=True)
    con = connect(wh, read_only=True)
    try:
        end = con.execute("select max(as_of) from charter_indicators").fetchall()[0][0]
        return write_report(con, folder, date(end.year - 3, 1, 1), end)
    finally:
        con.close()


def _write_all_lists(wh: Path, folder: Path) -> list[dict]:
    from pipelines.route.case_lists import all_destinations, write_lists
    from pipelines.warehouse import connect

    shutil.rmtree(folder, ignore_errors=True)
    con = connect(wh)
    try:
        return write_lists(con, all_destinations(con), folder)
    finally:
        con.close()


def _reset_demo_warehouse(wh: Path) -> None:
    """The demo starts from an empty warehouse, but never erases one that holds real data."""
    if not wh.exists():
        return
    from pipelines.warehouse import connect, scalar

    try:
        con = connect(wh, read_only=True)
    except WarehouseBusy as exc:
        fail(str(exc))
    try:
        is_demo = scalar(con, "select count(*) from information_schema.tables where table_name = 'vigie_demo'")
        empty = scalar(con, "select count(*) from ingest_log") == 0 if scalar(
            con, "select count(*) from information_schema.tables where table_name = 'ingest_log'") else True
    finally:
        con.close()
    if not (is_demo or empty):
        fail(f"{wh} contient des données réelles : la démo ne l'écrase pas ; "
             f"donnez-lui un autre entrepôt avec --warehouse")
    for p in (wh, wh.with_name(wh.name + ".wal")):
        p.unlink(missing_ok=True)


def _mark_demo(wh: Path) -> None:
    from pipelines.warehouse import connect

    con = connect(wh)
    con.execute("create table if not exists vigie_demo as select current_timestamp as created_at")
    con.close()


from vigie import cli_monitor, cli_privacy, cli_risk  # noqa: E402,F401  (register train, evaluate, report, trends, purge)

if __name__ == "__main__":
    app()
