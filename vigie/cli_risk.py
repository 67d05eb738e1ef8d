"""`vigie train` and `vigie evaluate`: the risk model's commands (registered on the main app)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import Progress
from rich.table import Table

from vigie.cli import JsonOpt, WarehouseOpt, _emit_json, _guard_warehouse, _parse_day, _read_only, app, console, fail
from vigie.config import warehouse_path


def _metric_rows(table: list[dict], k: int) -> Table:
    out = Table(title=f"Précision à {k} (part des {k} premiers cas passés à l'étape suivante dans les 6 mois)")
    for col in ("classement", f"précision@{k}", "IC95", "AUC", "ECE"):
        out.add_column(col, justify="left" if col == "classement" else "right")
    for r in table:
        ece = r.get("ECE")
        out.add_row(r["classement"], f"{r[f'précision@{k}']:.3f}", f"{r['IC95 bas']:.3f} – {r['IC95 haut']:.3f}",
                    f"{r['AUC']:.3f}", "" if ece is None or ece != ece else f"{ece:.3f}")
    return out


@app.command()
def train(
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="N'utiliser que l'historique connu à cette date")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Entraîne le modèle de risque sur l'historique de l'entrepôt et écrit sa fiche sous models/."""
    day = _parse_day(as_of) if as_of else None
    wh = warehouse_path(warehouse)
    if not wh.exists():
        fail(f"pas d'entrepôt à {wh} : chargez des fichiers (`vigie ingest`) puis lancez `vigie run`")
    _guard_warehouse(wh)
    from flows.train_flow import train_flow

    try:
        if as_json or not console.is_terminal:
            meta = train_flow(str(wh), as_of=day)
        else:
            with Progress(console=console, transient=True) as bar:
                task = bar.add_task("Instantanés de l'historique", total=None)
                meta = train_flow(str(wh), as_of=day, progress=lambda: bar.advance(task))
    except ValueError as exc:
        fail(str(exc))
    if as_json:
        _emit_json(meta)
        return
    console.print(f"Modèle [bold]{meta['version']}[/] ({meta['model']}) entraîné en {meta['seconds']:.0f} s, "
                  f"{meta['rows']['train']} lignes d'entraînement.")
    console.print(_metric_rows(meta["test"]["table"], meta["k"]))
    lo, hi = meta["test"]["lift_interval"]
    console.print(f"Gain sur « {meta['test']['best_baseline']} » : {meta['test']['lift']:+.0%} (IC95 {lo:+.0%} ; {hi:+.0%}).")
    console.print(f"Fiche du modèle : {Path(meta['folder']) / 'MODEL_CARD.md'} ; c'est désormais le modèle de `vigie run`.")


@app.command()
def evaluate(
    model: Annotated[Optional[str], typer.Option("--model", help="Version du modèle (défaut : le modèle courant)")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mesure le modèle sur la période la plus récente d'un entrepôt (par exemple un autre jeu de données)."""
    from pipelines.risk.model import ModelError
    from pipelines.risk.train import evaluate as evaluate_model

    con = _read_only(warehouse)
    try:
        table, lift, fair = evaluate_model(con, model)
    except (ModelError, ValueError) as exc:
        fail(str(exc))
    finally:
        con.close()
    if as_json:
        _emit_json({"table": table.to_dict(orient="records"), **lift, "fairness": fair.to_dict(orient="records")})
        return
    console.print(_metric_rows(table.to_dict(orient="records"), lift["k"]))
    lo, hi = lift["lift_interval"]
    console.print(f"{lift['rows']} cas sur {lift['dates']} dates. Gain sur « {lift['best_baseline']} » : "
                  f"{lift['lift']:+.0%} (IC95 {lo:+.0%} ; {hi:+.0%}).")
    flagged = fair[fair["signalé"]]
    for _, r in flagged.iterrows():
        console.print(f"[yellow]Équité[/] {r['attribut']} = {r['groupe']} : faux négatifs {r['taux de faux négatifs']:.0%}")
