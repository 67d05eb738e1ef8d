"""`vigie report`: the charter monitoring report, in French, as one self-contained HTML
file (charts embedded) with its matplotlib charts beside it as PNG files."""
from __future__ import annotations

import base64
import html
from datetime import date, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
import pandas as pd  # noqa: E402

from pipelines.indicators.charter import LABELS, SMALL, published  # noqa: E402
from pipelines.ladder.legal import load_rules  # noqa: E402
from pipelines.route.routing import charter  # noqa: E402

FUNNEL = ["impaye", "cdp", "assignation", "jugement", "cql", "cfp_demandee", "cfp_accordee", "expulsion"]
STAGE_FR = {"impaye": "Impayé", "cdp": "Commandement\nde payer", "assignation": "Assignation", "jugement": "Jugement",
            "cql": "Commandement\nde quitter", "cfp_demandee": "Force publique\ndemandée",
            "cfp_accordee": "Force publique\naccordée", "expulsion": "Expulsion"}
BLUE, GREY = "#1f5fa8", "#9aa5b1"


def _indicators(con, start: date, end: date) -> pd.DataFrame:
    return con.execute("""select distinct period, period_kind, indicator, detail, value, base, scope, landlord
                          from charter_indicators""").fetchdf().query(
        "(period_kind == 'mois' and period >= @s and period <= @e) or period_kind == 'annee'",
        local_dict={"s": f"{start:%Y-%m}", "e": f"{end:%Y-%m}"})


def _monthly(ind: pd.DataFrame, indicator: str, detail: str, scope: str = "paris", landlord: str = "tous") -> pd.Series:
    rows = ind[(ind["period_kind"] == "mois") & (ind["indicator"] == indicator) & (ind["detail"] == detail)
               & (ind["scope"] == scope) & (ind["landlord"] == landlord)]
    return rows.set_index("period")["value"].sort_index()


def _save(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def chart_funnel(ind: pd.DataFrame, path: Path) -> None:
    counts = [_monthly(ind, "volume_par_stade", s).sum() for s in FUNNEL]
    fig, ax = plt.subplots(figsize=(9, 4.2))
    shown = [c if c >= SMALL else 0 for c in counts]
    bars = ax.bar(range(len(FUNNEL)), shown, color=BLUE)
    for bar, c in zip(bars, counts, strict=True):
        ax.annotate(f"{c:,.0f}".replace(",", " ") if c >= SMALL else "<11", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=9)
    ax.set_xticks(range(len(FUNNEL)), [STAGE_FR[s] for s in FUNNEL], fontsize=8)
    ax.set_ylabel("ménages entrés dans l'étape")
    ax.set_title("L'entonnoir de la procédure sur la période", fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    _save(fig, path)


def chart_trends(ind: pd.DataFrame, start: date, end: date, path: Path) -> None:
    rules = load_rules()
    fig, ax = plt.subplots(figsize=(9, 4.2))
    # the month in progress is left out: its counts are partial
    months = pd.period_range(f"{start:%Y-%m}", f"{end:%Y-%m}", freq="M")
    if (end + timedelta(days=1)).month == end.month and len(months) > 1:
        months = months[:-1]
    for detail, label, color in (("cdp", "commandements de payer", BLUE), ("assignation", "assignations", "#d9822b"),
                                 ("jugement", "jugements", "#2f9e44")):
        s = _monthly(ind, "volume_par_stade", detail).reindex([str(m) for m in months]).fillna(0)
        s = s.where(s >= SMALL)  # below 11: not drawn
        ax.plot(months.to_timestamp(), s.values, label=label, color=color, linewidth=1.8)
    year = start.year - 1
    while year <= end.year:
        treve = rules.treve_containing(date(year + 1, 1, 15))
        if treve:
            ax.axvspan(pd.Timestamp(max(treve[0], start)), pd.Timestamp(min(treve[1], end)), color="#e8eef7", zorder=0)
        year += 1
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Patch(color="#e8eef7"))
    labels.append("trêve hivernale")
    ax.set_xlim(pd.Timestamp(start), months.to_timestamp()[-1])
    ax.set_ylabel("actes par mois (Paris)")
    ax.set_title("Évolution mensuelle (les mois à moins de 11 actes ne sont pas tracés)", fontsize=11)
    ax.legend(handles, labels, loc="upper left", fontsize=8, frameon=False, ncols=4)
    ax.spines[["top", "right"]].set_visible(False)
    _save(fig, path)


def chart_arrondissements(ind: pd.DataFrame, path: Path) -> pd.DataFrame:
    rows = ind[(ind["period_kind"] == "mois") & (ind["indicator"] == "volume_par_stade") & (ind["landlord"] == "tous")
               & ind["scope"].str.fullmatch(r"\d\d") & ind["detail"].isin(["cdp", "assignation"])]
    table = rows.pivot_table(index="scope", columns="detail", values="value", aggfunc="sum").fillna(0)
    table = table.reindex([f"{a:02d}" for a in range(1, 21)]).fillna(0)
    order = table.sum(axis=1).sort_values()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    left = pd.Series(0.0, index=order.index)
    for detail, label, color in (("cdp", "commandements", BLUE), ("assignation", "assignations", "#d9822b")):
        values = table.reindex(order.index).get(detail, pd.Series(0, index=order.index))
        ax.barh([("1er" if int(a) == 1 else f"{int(a)}e") for a in order.index], values.where(values >= SMALL, 0), left=left, color=color, label=label)
        left += values.where(values >= SMALL, 0)
    ax.set_xlabel("actes sur la période (une valeur sous 11 n'est pas tracée)")
    ax.set_title("Arrondissements comparés", fontsize=11)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    _save(fig, path)
    return table


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(path.stem)}">'


DETAIL_FR = {**{k: v.replace("\n", " ").lower() for k, v in STAGE_FR.items()}, "cfp_refusee": "force publique refusée",
             "accord": "accord", "refus": "refus", "ajourne": "ajourné", "accorde": "montant accordé",
             "nombre": "nombre", "evolution_sur_un_an": "évolution sur un an", "desistement": "désistement",
             "sortie_dette_soldee": "dette soldée", "sortie_plan_respecte": "plan d'apurement respecté",
             "sortie_fsl": "FSL accordé", "sortie_relogement": "relogement", "sortie_depart": "départ", "ouverts": "ouverts"}


def _detail(d: str) -> str:
    if ">" in d:
        a, b = d.split(">")
        return f"{DETAIL_FR.get(a, a)} → {DETAIL_FR.get(b, b)}"
    return DETAIL_FR.get(d, d)


def _cell(value: float, indicator: str, detail: str) -> str:
    if detail == "evolution_sur_un_an":
        return f"{value:+.0%}".replace("%", " %")
    return published(value, indicator)


def _action_table(ind: pd.DataFrame, years: list[str]) -> str:
    paris = ind[(ind["scope"] == "paris") & (ind["landlord"] == "tous") & (ind["period_kind"] == "annee")
                & ind["period"].isin(years)]
    rows = []
    for action in charter()["actions"]:
        first = True
        for name in action.get("indicators") or []:
            sub = paris[paris["indicator"] == name]
            for d in sorted(sub["detail"].unique()) or ["—"]:
                cells = []
                for y in years:
                    v = sub[(sub["detail"] == d) & (sub["period"] == y)]["value"]
                    cells.append(_cell(float(v.iloc[0]), name, d) if len(v) else "—")
                head = (f"<td>{action['id']}</td><td>{html.escape(action['title'])}</td>" if first
                        else "<td></td><td></td>")
                first = False
                rows.append(f"<tr>{head}<td>{html.escape(LABELS.get(name, name))}</td><td>{html.escape(_detail(d))}</td>"
                            + "".join(f"<td class=n>{c}</td>" for c in cells) + "</tr>")
        if not action.get("indicators"):
            rows.append(f"<tr><td>{action['id']}</td><td>{html.escape(action['title'])}</td>"
                        f"<td colspan={2 + len(years)} class=muted>pas d'indicateur calculable à partir des données reçues</td></tr>")
    head = "".join(f"<th>{y}</th>" for y in years)
    return (f"<table><thead><tr><th>action</th><th>intitulé</th><th>indicateur</th><th>détail</th>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def headline(ind: pd.DataFrame) -> dict[str, str]:
    def total(indicator, detail):
        return _monthly(ind, indicator, detail).sum()
    contacted = ind[(ind["period_kind"] == "mois") & (ind["indicator"] == "part_cdp_contactes_15_jours")
                    & (ind["scope"] == "paris") & (ind["landlord"] == "tous")]
    share = (contacted["value"] * contacted["base"]).sum() / contacted["base"].sum() if contacted["base"].sum() else 0
    return {
        "Commandements de payer": published(total("volume_par_stade", "cdp"), "volume_par_stade"),
        "Assignations": published(total("volume_par_stade", "assignation"), "volume_par_stade"),
        "Expulsions avec la force publique": published(total("expulsions_par_mois", "nombre"), "expulsions_par_mois"),
        "Aides FSL accordées": published(total("decisions_fsl", "accord"), "decisions_fsl"),
        "Commandements contactés sous 15 jours": f"{share:.0%}".replace("%", " %"),
    }


CSS = """body{font-family:system-ui,sans-serif;max-width:980px;margin:2em auto;color:#1d2733;line-height:1.45}
h1{font-size:1.6em}h2{margin-top:1.8em;border-bottom:2px solid #e3e8ee;padding-bottom:.2em}
.cards{display:flex;flex-wrap:wrap;gap:.8em}.card{background:#f3f6fa;border-radius:8px;padding:.8em 1em;min-width:170px}
.card b{display:block;font-size:1.6em;color:#1f5fa8}table{border-collapse:collapse;font-size:.85em;width:100%}
td,th{border-bottom:1px solid #e3e8ee;padding:.3em .5em;text-align:left;vertical-align:top}.n{text-align:right}
.muted{color:#7b8794}img{max-width:100%}"""


def write_report(con, out: Path, start: date, end: date) -> Path:
    """Write rapport_charte.html and its PNG charts under `out`; returns the HTML path."""
    if not con.execute("select count(*) from charter_indicators").fetchall()[0][0]:
        raise ValueError("aucun indicateur dans l'entrepôt : lancez d'abord `vigie run`")
    out.mkdir(parents=True, exist_ok=True)
    ind = _indicators(con, start, end)
    as_of = con.execute("select max(as_of) from charter_indicators").fetchall()[0][0]
    charts = {name: out / f"{name}.png" for name in ("entonnoir", "tendances", "arrondissements")}
    chart_funnel(ind, charts["entonnoir"])
    chart_trends(ind, start, end, charts["tendances"])
    chart_arrondissements(ind, charts["arrondissements"])
    years = [str(y) for y in range(start.year, end.year + 1)]
    cards = "".join(f'<div class="card"><b>{v}</b>{html.escape(k)}</div>' for k, v in headline(ind).items())
    open_cases = con.execute("select count(*), count(*) filter (where within_capacity) from cases").fetchall()[0]
    doc = f"""<!doctype html><html lang="fr"><head><meta charset="utf-8">
<title>Vigie : suivi de la charte de prévention des expulsions</title><style>{CSS}</style></head><body>
<h1>Suivi de la charte parisienne de prévention des expulsions locatives</h1>
<p class=muted>Période du {start:%d/%m/%Y} au {end:%d/%m/%Y} ; données arrêtées au {as_of:%d/%m/%Y}.
Les effectifs inférieurs à 11 sont affichés « &lt;11 ». Source : entrepôt Vigie (préfecture, bailleurs sociaux,
FSL, suivi des équipes).</p>
<h2>Chiffres clés de la période</h2><div class="cards">{cards}
<div class="card"><b>{published(float(open_cases[0]), 'volume_par_stade')}</b>situations ouvertes aujourd'hui
({published(float(open_cases[1]), 'volume_par_stade')} dans la capacité des équipes cette semaine)</div></div>
<h2>L'entonnoir</h2>{_img(charts['entonnoir'])}
<p>Chaque barre compte les ménages entrés dans l'étape pendant la période. L'impayé n'est connu que par les
listes des bailleurs sociaux : les locataires du parc privé apparaissent au commandement de payer. Les taux de
passage d'une étape à l'autre figurent dans le tableau par action (A06).</p>
<h2>Tendances mensuelles</h2>{_img(charts['tendances'])}
<p>Les bandes bleutées marquent la trêve hivernale (du 1er novembre au 31 mars), pendant laquelle aucune
expulsion n'a lieu.</p>
<h2>Arrondissements</h2>{_img(charts['arrondissements'])}
<h2>Indicateurs par action de la charte (Paris, par année)</h2>
<p class=muted>Les intitulés marqués « dérivés » dans <code>rules/charter.yaml</code> reprennent le rapport de la
Ville ; seul le numéro de l'action 11 est officiel. Les taux de passage des années récentes sont provisoires :
une partie des ménages n'a pas encore eu le temps de franchir l'étape suivante.</p>
{_action_table(ind, years)}
</body></html>"""
    path = out / "rapport_charte.html"
    path.write_text(doc, encoding="utf-8")
    return path


def run_markdown(con, summary: dict) -> str:
    """The Prefect artifact of a run: headline indicators, list sizes, quarantine counts (counts only,
    nothing personal; counts below 11 shown as `<11`)."""
    as_of = date.fromisoformat(summary["as_of"])
    year = str(as_of.year)
    ind = con.execute("""select distinct indicator, detail, value from charter_indicators
                         where period_kind = 'annee' and period = ? and scope = 'paris' and landlord = 'tous'""",
                      [year]).fetchall()
    values = {(i, d): v for i, d, v in ind}
    heads = [("commandements de payer", "volume_par_stade", "cdp"), ("assignations", "volume_par_stade", "assignation"),
             ("expulsions", "expulsions_par_mois", "nombre"), ("commandements contactés sous 15 jours",
                                                                "part_cdp_contactes_15_jours", "cdp")]
    lists = con.execute("""select destination, count(*), count(*) filter (where within_capacity), count(*) filter (where urgent)
                           from cases group by 1 order by 1""").fetchall()
    quarantine = con.execute("select source, count(*) from quarantine group by 1 order by 1").fetchall()
    lines = [f"# Vigie run au {as_of:%d/%m/%Y}", "",
             f"- ménages : {summary['households']} ; situations ouvertes : {summary['open_cases']}",
             f"- paires incertaines à revoir : {summary['uncertain_pairs']}",
             f"- modèle de risque : {summary.get('risk_model') or 'aucun (classement par stade puis dette)'}",
             "", f"## Indicateurs {year} (Paris, depuis le 1er janvier)", "", "| indicateur | valeur |", "|---|---|"]
    lines += [f"| {label} | {published(values[(i, d)], i) if (i, d) in values else '—'} |" for label, i, d in heads]
    lines += ["", "## Listes de cas", "", "| destination | cas | dans la capacité | échéance sous 14 jours |", "|---|---|---|---|"]
    lines += [f"| {d} | {n} | {w} | {u} |" for d, n, w, u in lists]
    lines += ["", "## Quarantaine (lignes écartées, toutes ingestions)", "", "| source | lignes |", "|---|---|"]
    lines += [f"| {s} | {n} |" for s, n in quarantine] or ["| — | 0 |"]
    return "\n".join(lines)
