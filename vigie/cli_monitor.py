"""`vigie report` and `vigie trends`: charter monitoring (registered on the main app)."""
from __future__ import annotations

from contextlib import nullcontext
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from vigie.cli import JsonOpt, WarehouseOpt, _emit_json, _parse_day, _read_only, app, console, fail
from vigie.config import warehouse_path


def _pct(v) -> str:
    return "" if v != v or v is None else f"{v:+.1%}".replace("%", " %").replace(".", ",")


@app.command()
def report(
    out: Annotated[Path, typer.Option("--out", help="Dossier du rapport (HTML + PNG)")] = Path("rapport_charte"),
    start: Annotated[Optional[str], typer.Option("--from", help="Début de la période (défaut : trois ans avant la fin)")] = None,
    end: Annotated[Optional[str], typer.Option("--to", help="Fin de la période (défaut : date du dernier `vigie run`)")] = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rapport de suivi de la charte : chiffres clés, entonnoir, tendances, arrondissements, indicateurs par action."""
    con = _read_only(warehouse)
    try:
        last = con.execute("select max(as_of) from charter_indicators").fetchall()[0][0]
    finally:
        con.close()
    if last is None:
        fail("aucun indicateur dans l'entrepôt : lancez d'abord `vigie run`")
    to_day = _parse_day(end) if end else last
    from_day = _parse_day(start) if start else date(to_day.year - 3, 1, 1)
    if from_day >= to_day:
        fail("--from doit précéder --to")
    from flows.report_flow import report_flow

    with console.status("Rapport en cours…") if not as_json and console.is_terminal else nullcontext():
        try:
            path = report_flow(str(warehouse_path(warehouse)), str(out), from_day, to_day)
        except ValueError as exc:
            fail(str(exc))
    if as_json:
        _emit_json({"report": path, "from": from_day, "to": to_day})
    else:
        console.print(f"Rapport du {from_day:%d/%m/%Y} au {to_day:%d/%m/%Y} : {path}")


@app.command()
def trends(
    file: Annotated[Path, typer.Argument(help="CSV des statistiques publiées (annee, territoire, indicateur, valeur, source, date_publication)")],
    span: Annotated[Optional[str], typer.Option("--span", help="Évolution entre deux années, ex. 2007:2017")] = None,
    territory: Annotated[Optional[str], typer.Option("--territoire", help="N'afficher qu'un territoire (france, paris, 75…)")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Séries publiées : évolution annuelle, évolution sur une période, ratios entre étapes."""
    from pipelines.indicators.trends import TrendsError, funnel_ratios, parse_span, read_published, series, span_change

    if not file.exists():
        fail(f"fichier introuvable : {file}")
    try:
        df = read_published(file)
        bounds = parse_span(span) if span else None
    except TrendsError as exc:
        fail(str(exc))
    if territory:
        df = df[df["territoire"] == territory.lower()]
        if df.empty:
            fail(f"aucune ligne pour le territoire « {territory} »")
    s, ratios = series(df), funnel_ratios(df)
    spans = span_change(df, *bounds) if bounds else None
    if as_json:
        _emit_json({"series": s.to_dict(orient="records"), "funnel": ratios.to_dict(orient="records"),
                    "span": None if spans is None else spans.to_dict(orient="records")})
        return
    t = Table(title=f"Séries publiées ({file.name})")
    for col in ("territoire", "indicateur", "année", "valeur", "évolution"):
        t.add_column(col, justify="right" if col in ("valeur", "évolution") else "left")
    for r in s.itertuples():
        since = f" depuis {int(r.annee_precedente)}" if r.annee_precedente == r.annee_precedente else ""
        t.add_row(r.territoire, r.indicateur, str(r.annee), f"{r.valeur:,.0f}".replace(",", " "),
                  (_pct(r.evolution) + since) if since else "")
    console.print(t)
    if spans is not None:
        t = Table(title=f"Évolution {bounds[0]} → {bounds[1]}")
        for col in ("territoire", "indicateur", str(bounds[0]), str(bounds[1]), "évolution"):
            t.add_column(col)
        for r in spans.itertuples():
            t.add_row(r.territoire, r.indicateur, f"{r.debut:,.0f}".replace(",", " "), f"{r.fin:,.0f}".replace(",", " "),
                      _pct(r.evolution))
        console.print(t if len(spans) else f"Aucune série n'a à la fois {bounds[0]} et {bounds[1]}.")
    t = Table(title="Entonnoir : chaque étape rapportée à la précédente")
    for col in ("territoire", "année", "ratio", "valeur"):
        t.add_column(col)
    for r in ratios.itertuples():
        t.add_row(r.territoire, str(r.annee), r.ratio, f"{r.valeur:.1%}".replace("%", " %").replace(".", ","))
    console.print(t)


