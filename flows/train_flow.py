"""Prefect wiring for `vigie train`: snapshots of the history, models, model card."""
from __future__ import annotations

from datetime import date

from prefect import flow
from prefect.artifacts import create_markdown_artifact

from pipelines.risk.train import train
from pipelines.warehouse import connect


@flow(name="vigie-train")
def train_flow(warehouse: str, as_of: date | None = None, progress=None) -> dict:
    con = connect(warehouse)
    try:
        meta = train(con, as_of=as_of, progress=progress)
    finally:
        con.close()
    best = meta["test"]["table"][0]
    k = meta["k"]
    create_markdown_artifact(key="risk-model", markdown="\n".join([
        f"# Modèle de risque {meta['version']}", "",
        f"- modèle retenu : {meta['model']}",
        f"- précision à {k} (test) : {best[f'précision@{k}']:.3f}, AUC {best['AUC']:.3f}, ECE {best['ECE']:.3f}",
        f"- gain sur « {meta['test']['best_baseline']} » : {meta['test']['lift']:+.1%}",
        f"- fiche : {meta['folder']}/MODEL_CARD.md"]))
    return meta
