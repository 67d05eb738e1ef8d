"""Charter indicators (`charter_indicators`): per month and year, for Paris and each
arrondissement, by landlord type; each value tied to the charter actions it measures
(rules/charter.yaml). The SQL lives in warehouse/charter_indicators.sql."""
from __future__ import annotations

from datetime import date

import pandas as pd

from pipelines.route.routing import charter
from vigie.config import WAREHOUSE_SQL_DIR

PERIODS = {"mois": "strftime(f.d, '%Y-%m')", "annee": "strftime(f.d, '%Y')"}
SMALL = 11  # published counts below this are shown as "<11"

LABELS = {
    "volume_par_stade": "ménages entrés dans le stade",
    "conversion_entre_stades": "part passée à l'étape suivante",
    "duree_par_stade": "jours médians avant l'étape suivante",
    "part_cdp_contactes_15_jours": "part des commandements contactés sous 15 jours",
    "part_sans_contact": "part des commandements sans aucun contact",
    "part_assignations_contact_avant_audience": "part des assignations contactées avant l'audience",
    "decisions_fsl": "décisions du FSL",
    "montants_fsl": "montants accordés par le FSL (€)",
    "sorties_par_type": "sorties de la procédure",
    "expulsions_par_mois": "expulsions avec le concours de la force publique",
    "cas_eliahs": "cas orientés vers ELIAHS",
}
COUNTS = {"volume_par_stade", "decisions_fsl", "sorties_par_type", "expulsions_par_mois", "cas_eliahs"}


def long_values(con, as_of: date) -> pd.DataFrame:
    sql = (WAREHOUSE_SQL_DIR / "charter_indicators.sql").read_text(encoding="utf-8")
    frames = [con.sql(sql.format(period=expr, as_of=as_of.isoformat())).to_arrow_table().to_pandas()
              .assign(period_kind=kind) for kind, expr in PERIODS.items()]
    out = pd.concat(frames, ignore_index=True)
    eliahs = con.execute("""select count(*) from cases where destination = 'eliahs' or list_contains(co_destinations, 'eliahs')""").fetchall()[0][0]
    out = pd.concat([out, pd.DataFrame([
        {"period": period, "period_kind": kind, "scope": "paris", "landlord": "tous", "indicator": "cas_eliahs",
         "detail": "ouverts", "value": float(eliahs), "base": eliahs}
        for kind, period in (("mois", f"{as_of:%Y-%m}"), ("annee", f"{as_of:%Y}"))])], ignore_index=True)
    return _year_on_year(out)


def _year_on_year(df: pd.DataFrame) -> pd.DataFrame:
    """Evictions of a period against the same period a year before (`evolution_sur_un_an`)."""
    ev = df[(df["indicator"] == "expulsions_par_mois") & (df["detail"] == "nombre")].copy()
    if ev.empty:
        return df
    ev["previous"] = [f"{int(p[:4]) - 1}{p[4:]}" for p in ev["period"]]
    before = ev[["period_kind", "period", "scope", "landlord", "value"]].rename(
        columns={"period": "previous", "value": "value_before"})
    merged = ev.merge(before, on=["period_kind", "previous", "scope", "landlord"], how="inner")
    merged = merged[merged["value_before"] > 0]
    change = merged.assign(detail="evolution_sur_un_an", value=merged["value"] / merged["value_before"] - 1)
    return pd.concat([df, change[df.columns]], ignore_index=True)


def actions_by_indicator() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for action in charter()["actions"]:
        for ind in action.get("indicators") or []:
            out.setdefault(ind, []).append(action["id"])
    return out


def compute(con, as_of: date) -> int:
    """Rebuild `charter_indicators` as of a date; returns the number of rows."""
    values = long_values(con, as_of)
    by_ind = actions_by_indicator()
    values["action_id"] = values["indicator"].map(lambda i: by_ind.get(i, [None]))
    rows = values.explode("action_id")
    rows = rows[rows["action_id"].notna()].assign(as_of=as_of)
    con.execute("delete from charter_indicators")
    con.register("_ind", rows[["period", "period_kind", "action_id", "indicator", "detail", "value", "base", "scope",
                               "landlord", "as_of"]])
    con.execute("insert into charter_indicators select * from _ind")
    con.unregister("_ind")
    return len(rows)


def published(value: float, indicator: str) -> str:
    """What a report shows: counts below 11 as `<11`."""
    if indicator in COUNTS and value < SMALL:
        return "<11" if value > 0 else "0"
    if indicator.startswith("part_") or indicator == "conversion_entre_stades":
        return f"{value:.0%}".replace("%", " %")
    return f"{value:,.0f}".replace(",", " ")
