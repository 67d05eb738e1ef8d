"""`vigie purge`: the retention limit applied to nominative data (registered on the main app)."""
from __future__ import annotations

from typing import Annotated

import typer

from vigie.cli import JsonOpt, WarehouseOpt, _emit_json, _guard_warehouse, _parse_day, app, console, fail
from vigie.config import warehouse_path


@app.command()
def purge(
    before: Annotated[str, typer.Option("--before", help="Limite de conservation : situations closes dont le dernier fait est antérieur à cette date")],
    yes: Annotated[bool, typer.Option("--yes", help="Ne pas demander de confirmation")] = False,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Efface les données nominatives des situations closes avant une date (agrégats et pseudonymes gardés)."""
    from pipelines.analytics import PseudonymKeyMissing, pseudonym_key
    from pipelines.purge import purge as purge_households
    from pipelines.warehouse import connect

    day = _parse_day(before)
    wh = warehouse_path(warehouse)
    if not wh.exists():
        fail(f"pas d'entrepôt à {wh}")
    _guard_warehouse(wh)
    if not yes:
        if as_json or not console.is_terminal:
            fail("purge irréversible : ajoutez --yes pour confirmer")
        typer.confirm(f"Effacer les noms, adresses, dates de naissance et commentaires des situations closes "
                      f"avant le {day:%d/%m/%Y} ?", abort=True)
    con = connect(wh)
    try:
        summary = purge_households(con, day, pseudonym_key(con))
    except PseudonymKeyMissing as exc:
        fail(str(exc))
    finally:
        con.close()
    if as_json:
        _emit_json(summary)
        return
    console.print(f"{summary['households']} ménage(s) purgé(s) ; lignes modifiées : "
                  + ", ".join(f"{s} {n}" for s, n in summary["rows"].items())
                  + f" ; {summary['quarantine_lines']} ligne(s) de quarantaine vidée(s).")
    if summary["exported_files_before"]:
        console.print(f"[yellow]{summary['exported_files_before']} liste(s) exportée(s) avant cette date[/] "
                      "(table export_log) : supprimez aussi ces fichiers là où ils ont été envoyés.")
