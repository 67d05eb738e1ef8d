"""Case lists (INTERFACES.md): one file per destination, French headers, priority order,
only that destination's cases, the three return columns the only editable cells, and no
cell that a spreadsheet would read as a formula."""
from __future__ import annotations

import csv
from datetime import date, datetime
from pathlib import Path

import pandas as pd

from pipelines.route.routing import capacity
from pipelines.warehouse import plain_rows

COLUMNS = ["priorite", "case_id", "stade", "prochaine_echeance", "nature_echeance", "score_risque", "raisons",
           "locataire", "adresse", "code_postal", "bailleur", "type_bailleur", "dette", "loyer_mensuel_cc",
           "mois_impayes", "leviers", "actions_charte", "historique", "date_contact", "statut", "commentaire"]
RETURN_COLUMNS = ["date_contact", "statut", "commentaire"]
STATUTS = ["non_joignable", "contacte", "accompagnement", "plan_apurement", "fsl_depose", "orientation_autre",
           "clos_dette_soldee", "clos_relogement", "clos_expulsion"]
EXPLANATIONS = {
    "priorite": "Rang dans votre liste : échéance légale sous 14 jours d'abord, puis risque décroissant.",
    "case_id": "Identifiant du dossier : à garder tel quel, il permet de relier votre retour.",
    "stade": "Étape de la procédure (impayé, commandement de payer, assignation, jugement, CQL, concours de la force publique).",
    "prochaine_echeance": "Date de la prochaine échéance légale.",
    "nature_echeance": "fin_delai_cdp, audience, fin_delai_cql, decision_prefet, fin_treve, signalement_caf.",
    "score_risque": "Probabilité (0 à 1) que la procédure passe à l'étape suivante dans les 6 mois, calculée par le "
                    "modèle de risque ; sans modèle, selon le stade et la dette.",
    "raisons": "Les trois faits du dossier qui ont le plus augmenté son score (comparé à un dossier typique), "
               "puis l'échéance si elle est proche.",
    "leviers": "Aides possibles : FSL maintien (dette jusqu'à 11 000 €, ressources par unité de consommation), "
               "plan d'apurement, délais de paiement à l'audience, surendettement, relogement / DALO.",
    "historique": "Les actes connus, du plus ancien au plus récent.",
    "date_contact": "À remplir : date du contact (jj/mm/aaaa).",
    "statut": "À remplir : choisir dans la liste.",
    "commentaire": "À remplir si utile (ne pas y mettre d'informations de santé).",
}
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value):
    """Text a spreadsheet would take for a formula gets a leading apostrophe (CSV) —
    in xlsx the cell is typed as text instead (see write_xlsx)."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def case_rows(con) -> pd.DataFrame:
    """Every open case with what its list shows (computed once for all the lists)."""
    return con.execute("""
        with latest_name as (
            select r.household_id,
                   arg_max(coalesce(c.locataire_nom, p.locataire_nom, b.locataire_nom || coalesce(' ' || b.locataire_prenom, ''),
                                    f.demandeur_nom || coalesce(' ' || f.demandeur_prenom, '')), r.ingest_id) as locataire,
                   arg_max(coalesce(c.adresse_voie || coalesce(', ' || c.adresse_complement, ''), p.adresse_voie,
                                    b.adresse_voie, f.adresse_voie), r.ingest_id) as adresse,
                   arg_max(coalesce(c.code_postal, p.code_postal, b.code_postal, f.code_postal), r.ingest_id) as code_postal,
                   arg_max(coalesce(c.bailleur_nom, p.bailleur_nom, b.bailleur_code), r.ingest_id) as bailleur
            from source_records r
            left join staging_cdp c on r.source = 'cdp' and c.ingest_id = r.ingest_id and c.line_number = r.line_number
            left join staging_procedure p on r.source = 'procedure' and p.ingest_id = r.ingest_id and p.line_number = r.line_number
            left join staging_bailleur b on r.source = 'bailleur' and b.ingest_id = r.ingest_id and b.line_number = r.line_number
            left join staging_fsl f on r.source = 'fsl' and f.ingest_id = r.ingest_id and f.line_number = r.line_number
            where r.household_id is not null
            group by r.household_id),
        history as (
            select household_id, string_agg(strftime(event_date, '%d/%m/%Y') || ' ' || event, ' ; ' order by event_date) as historique
            from case_events where event <> 'arrears' group by household_id)
        select c.case_id, c.stage as stade, c.next_deadline as prochaine_echeance, c.next_deadline_kind as nature_echeance,
               c.risk_score as score_risque, c.risk_reasons as raisons, n.locataire, n.adresse, n.code_postal, n.bailleur,
               h.bailleur_type as type_bailleur, c.debt as dette, c.monthly_rent as loyer_mensuel_cc,
               round(c.debt / nullif(c.monthly_rent, 0), 1) as mois_impayes, array_to_string(c.levers, ' ; ') as leviers,
               array_to_string(c.charter_actions, ' ; ') as actions_charte, y.historique,
               c.urgent, c.within_capacity, c.destination, c.co_destinations
        from cases c join households h using (household_id)
        left join latest_name n using (household_id) left join history y using (household_id)
        """).fetchdf()


def members(rows: pd.DataFrame) -> dict[str, list[int]]:
    """For each destination, the positions of its rows in `rows` (its own cases and those it
    shares), in order. Worked out once for all the lists (a pass over every case for each list
    took a third of the export)."""
    out: dict[str, list[int]] = {}
    owners, shared = rows["destination"].to_numpy(dtype=object), rows["co_destinations"].to_numpy(dtype=object)
    for i, (owner, co) in enumerate(zip(owners, shared)):
        for dest in dict.fromkeys([owner, *(co if co is not None else [])]):
            out.setdefault(dest, []).append(i)
    return out


def case_list(con, destination: str, rows: pd.DataFrame | None = None,
              positions: dict[str, list[int]] | None = None) -> pd.DataFrame:
    """The rows of one destination's list, in priority order, within-capacity rows first.
    `rows`, `positions`: case_rows(con) and its members(), when several lists are made at once."""
    rows = case_rows(con) if rows is None else rows
    df = rows.iloc[(positions if positions is not None else members(rows)).get(destination, [])].copy()
    if df.empty:
        return pd.DataFrame(columns=COLUMNS + ["dans_capacite"])
    df["_deadline"] = pd.to_datetime(df["prochaine_echeance"]).fillna(pd.Timestamp.max)
    df = df.sort_values(["urgent", "score_risque", "_deadline", "case_id"], ascending=[False, False, True, True])
    df["priorite"] = range(1, len(df) + 1)
    df["dans_capacite"] = df["priorite"] <= capacity(destination)
    for col in RETURN_COLUMNS:
        df[col] = None
    return df[COLUMNS + ["dans_capacite"]].reset_index(drop=True)


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.writer(fh, delimiter=";")
        w.writerow(COLUMNS)
        for row in plain_rows(df, COLUMNS):
            cells = map(_cell, row)  # the workbook's own reading of each value (empty: None, NaN, NaT)
            w.writerow(["" if v is None else neutralise(_text(v)) for v in cells])
    return path


def _text(value):
    if isinstance(value, (date, pd.Timestamp)):
        return f"{value:%d/%m/%Y}"
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",")
    return str(value) if not isinstance(value, str) else value


def _cell(value):
    """A value the workbook writes as its own type: dates as dates, amounts as numbers."""
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    if type(value).__name__ == "Decimal":
        return float(value)
    return value


WIDTHS = {"priorite": 8, "case_id": 11, "stade": 16, "prochaine_echeance": 12, "nature_echeance": 16,
          "score_risque": 8, "raisons": 45, "locataire": 28, "adresse": 36, "code_postal": 8, "bailleur": 22,
          "type_bailleur": 14, "dette": 10, "loyer_mensuel_cc": 10, "mois_impayes": 8, "leviers": 45,
          "actions_charte": 14, "historique": 60, "date_contact": 12, "statut": 18, "commentaire": 40}
DATE_COLUMNS = ("prochaine_echeance", "date_contact")


def write_xlsx(df: pd.DataFrame, path: Path, destination: str, as_of: date) -> Path:
    """The list as a protected workbook (xlsxwriter): only the return columns unlocked, `statut`
    as a drop-down, text always written as text (never a formula, a number or a link)."""
    import xlsxwriter

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False, "strings_to_numbers": False,
                                         "strings_to_urls": False, "default_date_format": "dd/mm/yyyy"})
    formats = {}
    for grey in (False, True):
        for editable in (False, True):
            for is_date in (False, True):
                spec = {"locked": not editable}
                if grey:
                    spec["bg_color"] = "#DDDDDD"
                if is_date:
                    spec["num_format"] = "dd/mm/yyyy"
                formats[grey, editable, is_date] = wb.add_format(spec)
    ws = wb.add_worksheet("cas")
    ws.write_row(0, 0, COLUMNS, wb.add_format({"bold": True, "locked": True}))
    editable = {COLUMNS.index(c) for c in RETURN_COLUMNS}
    dates = {COLUMNS.index(c) for c in DATE_COLUMNS}
    for r, row in enumerate(plain_rows(df, ["dans_capacite", *COLUMNS]), start=1):
        grey = not row.dans_capacite
        for c, value in enumerate(row[1:]):
            fmt = formats[grey, c in editable, c in dates]
            value = _cell(value)
            if value is None or (isinstance(value, float) and value != value):
                ws.write_blank(r, c, None, fmt)
            elif isinstance(value, str):
                ws.write_string(r, c, value, fmt)
            elif isinstance(value, (date, datetime)):
                ws.write_datetime(r, c, value if isinstance(value, datetime) else datetime(value.year, value.month, value.day), fmt)
            elif isinstance(value, bool):
                ws.write_boolean(r, c, value, fmt)
            else:
                ws.write_number(r, c, value, fmt)
    if len(df):
        statut = COLUMNS.index("statut")
        ws.data_validation(1, statut, len(df), statut, {"validate": "list", "source": STATUTS, "ignore_blank": True})
    for i, col in enumerate(COLUMNS):
        ws.set_column(i, i, WIDTHS.get(col, 12))
    ws.protect()
    ws.freeze_panes(1, 2)
    help_sheet = wb.add_worksheet("colonnes")
    help_sheet.write_row(0, 0, ["colonne", "explication"])
    help_sheet.write_row(1, 0, ["liste", f"{destination}, situation au {as_of:%d/%m/%Y} ; lignes grisées : au-delà de la "
                                         f"capacité hebdomadaire ({capacity(destination)}), elles attendent avec leur rang"])
    for i, col in enumerate(COLUMNS, start=2):
        help_sheet.write_row(i, 0, [col, EXPLANATIONS.get(col, "")])
    help_sheet.set_column(0, 0, 20)
    help_sheet.set_column(1, 1, 110)
    wb.close()
    return path


def log_listed(con, df: pd.DataFrame, destination: str, as_of: date) -> None:
    """Remember which cases went out on this list (the 14-day follow-up check reads it)."""
    if df.empty:
        return
    con.register("_listed", df[["case_id", "dans_capacite"]])
    con.execute("insert into case_list_log select case_id, ?, ?, dans_capacite, current_timestamp from _listed",
                [destination, as_of])
    con.unregister("_listed")


def write_lists(con, destinations: list[str], folder: Path, fmt: str = "xlsx") -> list[dict]:
    """Write and log each destination's list as of the last run; what was written."""
    as_of = con.execute("select max(as_of) from cases").fetchall()[0][0]
    rows = case_rows(con)
    positions = members(rows)
    written = []
    for dest in destinations:
        df = case_list(con, dest, rows, positions)
        path = folder / f"{dest}_{as_of.isoformat()}.{fmt}"
        write_xlsx(df, path, dest, as_of) if fmt == "xlsx" else write_csv(df, path)
        log_listed(con, df, dest, as_of)
        entry = {"destination": dest, "file": str(path), "rows": len(df),
                 "within_capacity": int(df["dans_capacite"].sum()) if len(df) else 0}
        con.execute("insert into export_log values (current_timestamp, ?, ?, ?, ?, ?, ?)",
                    [dest, str(path.resolve()), fmt, as_of, entry["rows"], entry["within_capacity"]])
        written.append(entry)
    return written


def all_destinations(con) -> list[str]:
    rows = con.execute("select distinct destination from cases where destination is not null "
                       "union select distinct unnest(co_destinations) from cases").fetchall()
    return sorted(r[0] for r in rows if r[0])
