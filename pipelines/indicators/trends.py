"""`vigie trends FILE`: published yearly statistics (INTERFACES.md) read with pandas:
revisions resolved, each series with its year-on-year change, the change over a span,
and the funnel ratios between stages."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

INDICATORS = ["assignations", "decisions_expulsion", "cql", "cfp_demandes", "cfp_accordees", "expulsions_effectives"]
FUNNEL = list(zip(INDICATORS[1:], INDICATORS[:-1], strict=True))  # (numerator, denominator)
REQUIRED = ["annee", "territoire", "indicateur", "valeur"]


class TrendsError(ValueError):
    """A file that cannot be read as published statistics; the message says what to do."""


def read_published(path: Path) -> pd.DataFrame:
    """The file, one row per (year, territory, indicator): the latest `date_publication` wins,
    rows without one lose to rows with one."""
    try:
        df = pd.read_csv(path, sep=None, engine="python", dtype=str, encoding="utf-8-sig", keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise TrendsError(f"{path} illisible ({exc}) : attendu un CSV UTF-8, séparateur ; ou ,") from exc
    df.columns = [c.strip().lower() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise TrendsError(f"colonnes absentes dans {path.name} : {', '.join(missing)} "
                          f"(attendu : {', '.join(REQUIRED)}, source, date_publication)")
    if "date_publication" not in df.columns:
        df["date_publication"] = ""
    if "source" not in df.columns:
        df["source"] = ""
    df["annee"] = pd.to_numeric(df["annee"].str.strip(), errors="coerce")
    df["valeur"] = pd.to_numeric(df["valeur"].str.replace(r"[\s\u00a0\u202f~]", "", regex=True).str.replace(",", "."),
                                 errors="coerce")
    bad = df[df["annee"].isna() | df["valeur"].isna()]
    if len(bad):
        raise TrendsError(f"{len(bad)} ligne(s) sans année ou valeur numérique (première : ligne {bad.index[0] + 2}) : "
                          "corrigez-les ou retirez-les")
    unknown = sorted(set(df["indicateur"]) - set(INDICATORS))
    if unknown:
        raise TrendsError(f"indicateur(s) inconnu(s) : {', '.join(unknown)} (connus : {', '.join(INDICATORS)})")
    df["annee"] = df["annee"].astype(int)
    df["territoire"] = df["territoire"].str.strip().str.lower()
    df["_published"] = pd.to_datetime(df["date_publication"].str.strip(), errors="coerce", dayfirst=False)
    df = df.sort_values("_published", na_position="first", kind="stable")
    latest = df.drop_duplicates(["annee", "territoire", "indicateur"], keep="last")
    return latest.drop(columns="_published").sort_values(["territoire", "indicateur", "annee"]).reset_index(drop=True)


def series(df: pd.DataFrame) -> pd.DataFrame:
    """Each value with the change since the previous published year (`evolution`, per year between them)."""
    out = []
    for (_, _), g in df.groupby(["territoire", "indicateur"], sort=False):
        g = g.sort_values("annee").copy()
        g["annee_precedente"] = g["annee"].shift()
        g["evolution"] = g["valeur"] / g["valeur"].shift() - 1
        out.append(g)
    return pd.concat(out, ignore_index=True)[["territoire", "indicateur", "annee", "valeur", "annee_precedente",
                                              "evolution", "source", "date_publication"]]


def span_change(df: pd.DataFrame, start: int, end: int) -> pd.DataFrame:
    """Change from `start` to `end` for every series that has both years."""
    a = df[df["annee"] == start].set_index(["territoire", "indicateur"])["valeur"]
    b = df[df["annee"] == end].set_index(["territoire", "indicateur"])["valeur"]
    both = pd.concat({"debut": a, "fin": b}, axis=1).dropna()
    both["evolution"] = both["fin"] / both["debut"] - 1
    return both.reset_index().assign(periode=f"{start}-{end}")


def funnel_ratios(df: pd.DataFrame) -> pd.DataFrame:
    """Per territory and year: each stage over the one before it (e.g. cfp_accordees / cfp_demandes)."""
    wide = df.pivot_table(index=["territoire", "annee"], columns="indicateur", values="valeur")
    rows = []
    for (territory, year), r in wide.iterrows():
        for num, den in FUNNEL:
            if num in r and den in r and pd.notna(r[num]) and pd.notna(r[den]) and r[den]:
                rows.append({"territoire": territory, "annee": year, "ratio": f"{num} / {den}", "valeur": r[num] / r[den]})
    return pd.DataFrame(rows, columns=["territoire", "annee", "ratio", "valeur"])


def parse_span(text: str) -> tuple[int, int]:
    try:
        a, b = (int(x) for x in text.split(":"))
    except ValueError:
        raise TrendsError(f"période illisible « {text} » : écrivez-la ANNEE:ANNEE, par exemple 2007:2017") from None
    if a >= b:
        raise TrendsError(f"période « {text} » : la première année doit précéder la seconde")
    return a, b
