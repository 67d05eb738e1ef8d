"""Routing each open case to the team that can act (rules/routing.yaml), with its levers
and its priority. The risk is the model's (`pipelines/risk`, filled before routing); a case
with no model score gets the stage baseline: how far up the ladder, and how many months
of rent are owed."""
from __future__ import annotations

from datetime import date
from functools import lru_cache

import numpy as np
import pandas as pd
import yaml

from pipelines.ladder.stages import RANK
from pipelines.warehouse import plain_rows
from vigie.config import RULES_DIR


@lru_cache(maxsize=None)
def routing_rules() -> dict:
    return yaml.safe_load((RULES_DIR / "routing.yaml").read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def charter() -> dict:
    """The charter catalogue (rules/charter.yaml): 5 orientations, 24 actions."""
    return yaml.safe_load((RULES_DIR / "charter.yaml").read_text(encoding="utf-8"))


def charter_actions(stage: str, bailleur_type: str | None, destinations_: list[str], levers_: list[str]) -> list[str]:
    """Ids of the charter actions whose conditions this case meets."""
    return list(_charter_actions(stage, bailleur_type, frozenset(destinations_), frozenset(levers_)))


@lru_cache(maxsize=1 << 14)  # a few hundred combinations of stage, landlord, teams and levers in a city
def _charter_actions(stage: str, bailleur_type: str | None, destinations_: frozenset, levers_: frozenset) -> tuple:
    found = []
    for action in charter()["actions"]:
        when = action.get("applies_when")
        if not when:
            continue
        if "stage" in when and stage not in when["stage"]:
            continue
        if "bailleur_type" in when and bailleur_type not in when["bailleur_type"]:
            continue
        if "destination" in when and not destinations_ & set(when["destination"]):
            continue
        if "lever" in when and not levers_ & set(when["lever"]):
            continue
        found.append(action["id"])
    return tuple(found)


def capacity(destination: str) -> int:
    caps = routing_rules()["capacity"]
    return caps.get(destination, caps["ssp_default"] if destination.startswith("ssp-") else 0)


def ssp(arrondissement) -> str | None:
    return None if arrondissement is None or pd.isna(arrondissement) else f"ssp-{int(arrondissement):02d}"


def destinations(stage: str, bailleur_type: str | None, arrondissement, fragile: bool) -> tuple[str | None, list[str]]:
    """(owner, co-destinations) by the first rule that applies."""
    if arrondissement is not None and pd.isna(arrondissement):
        arrondissement = None  # (one key for every missing value)
    owner, co = _destinations(stage, bailleur_type, arrondissement, fragile)
    return owner, list(co)


@lru_cache(maxsize=1 << 12)  # a few hundred combinations in a city, asked once per case
def _destinations(stage: str, bailleur_type: str | None, arrondissement, fragile: bool) -> tuple[str | None, tuple]:
    rules = routing_rules()
    for rule in rules["rules"]:
        when = rule["when"]
        if "stage" in when and stage not in when["stage"]:
            continue
        if "bailleur_type" in when and bailleur_type not in when["bailleur_type"]:
            continue
        owner = ssp(arrondissement) if rule["owner"] == "ssp" else rule["owner"]
        co = list(rule.get("co", []))
        break
    if fragile and arrondissement in rules["eliahs_arrondissements"]:
        co.append("eliahs")
    return owner, tuple(c for c in co if c != owner)


def consumption_units(adults, under_14, over_14) -> float | None:
    if adults is None or pd.isna(adults):
        return None
    uc = routing_rules()["fsl"]["consumption_units"]
    return uc["first_adult"] + uc["other_14_plus"] * (max(int(adults) - 1, 0) + int(over_14 or 0)) + \
        uc["child_under_14"] * int(under_14 or 0)


@lru_cache(maxsize=64)
def _fsl_rules(as_of: date) -> dict:
    return next(v for v in routing_rules()["fsl"]["versions"] if as_of >= date.fromisoformat(v["from"]))


def levers(stage: str, debt, income, units, as_of: date) -> list[str]:
    """Recommended levers, in the words workers use."""
    fsl = _fsl_rules(as_of)
    out = []
    if debt is not None and not pd.isna(debt) and float(debt) <= fsl["debt_ceiling"]:
        if income is None or pd.isna(income) or not units:
            out.append("FSL maintien (ressources à vérifier)")
        elif float(income) / units <= fsl["income_per_uc_ceiling"]:
            out.append("FSL maintien")
    elif debt is not None and not pd.isna(debt):
        out.append("dossier de surendettement (dette au-delà du plafond FSL)")
    if stage in ("impaye", "impaye_constitue", "cdp"):
        out.append("plan d'apurement")
    if stage == "assignation":
        out.append("délais de paiement à l'audience (si le loyer courant a repris)")
    if stage in ("jugement", "cql", "cfp_demandee", "cfp_accordee", "cfp_refusee"):
        out.append("relogement / DALO")
    return out


def baseline_risk(stage: str, debt, rent) -> tuple[float, str]:
    months = float(debt) / float(rent) if debt is not None and rent and not pd.isna(debt) and not pd.isna(rent) else None
    score = 0.6 * RANK.get(stage, 0) / max(RANK.values()) + 0.4 * min((months or 0) / 12, 1.0)
    reasons = [f"stade {stage}"]
    if months is not None:
        reasons.append(f"dette de {months:.1f} mois de loyer".replace(".", ","))
    return round(score, 3), " ; ".join(reasons)


def _follow_up(con, as_of: date) -> dict[str, tuple[int, bool]]:
    """Per case: how many times the team found nobody, and whether a case sent within capacity
    has had no follow-up for the configured number of days."""
    days = routing_rules()["escalation"]["no_follow_up_days"]
    rows = con.execute(f"""
        with returned as (
            select s.case_id, count(*) filter (where s.statut = 'non_joignable') as unreachable,
                   max(s.date_contact) as last_contact
            from source_records r join staging_suivi s on s.ingest_id = r.ingest_id and s.line_number = r.line_number
            where r.source = 'suivi' group by 1),
        listed as (select case_id, min(listed_on) as first_listed from case_list_log where within_capacity group by 1)
        select coalesce(l.case_id, t.case_id), coalesce(t.unreachable, 0),
               l.first_listed is not null and l.first_listed <= ? - interval {int(days)} day
               and (t.last_contact is null or t.last_contact < l.first_listed)
        from listed l full join returned t on t.case_id = l.case_id""", [as_of]).fetchall()
    return {cid: (int(n), bool(silent)) for cid, n, silent in rows}


def draw_evaluation_order(routed: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Evaluation mode: shuffle the ranks of non-urgent within-capacity cases inside tiers of
    consecutive ranks, per destination. Returns the draw (one row per case moved or not)."""
    tier_size = int(routing_rules()["evaluation"]["tier_size"])
    draws = []
    for destination, group in routed[routed["within_capacity"] & ~routed["urgent"]].groupby("destination"):
        rng = np.random.default_rng([seed, int.from_bytes(destination.encode(), "little") % (2 ** 32)])
        for tier, members in group.groupby((group["priority_rank"] - 1) // tier_size):
            ranks = members["priority_rank"].to_numpy()
            draws.append(pd.DataFrame({"destination": destination, "case_id": members["case_id"].to_numpy(),
                                       "tier": int(tier) + 1, "rank_before": ranks, "rank_after": rng.permutation(ranks)}))
    return pd.concat(draws, ignore_index=True) if draws else pd.DataFrame(
        columns=["destination", "case_id", "tier", "rank_before", "rank_after"])


def route_cases(con, as_of: date, evaluation_seed: int | None = None) -> int:
    """Fill destination, co_destinations, risk, levers and priority of every row of `cases`
    (with `evaluation_seed`, the evaluation mode's randomised order, recorded)."""
    df = con.sql("""
        select c.case_id, c.stage, c.risk_score, c.risk_reasons, c.next_deadline, c.deadline_passed, c.debt, c.monthly_rent,
               h.arrondissement, h.bailleur_type, f.fragile, f2.income, f2.adults, f2.under_14, f2.over_14
        from cases c join households h using (household_id)
        left join (select r.household_id, bool_or(s.fragilite_signalee) as fragile
                   from source_records r join staging_bailleur s on s.ingest_id = r.ingest_id and s.line_number = r.line_number
                   where r.source = 'bailleur' group by 1) f using (household_id)
        left join (select r.household_id, arg_max(s.ressources_mensuelles, s.date_depot) as income,
                          arg_max(s.nb_adultes, s.date_depot) as adults, arg_max(s.nb_enfants_moins_14, s.date_depot) as under_14,
                          arg_max(s.nb_enfants_14_plus, s.date_depot) as over_14
                   from source_records r join staging_fsl s on s.ingest_id = r.ingest_id and s.line_number = r.line_number
                   where r.source = 'fsl' group by 1) f2 using (household_id)
    """).to_arrow_table().to_pandas()
    if df.empty:
        return 0
    urgent_days = routing_rules()["urgent_within_days"]
    follow = _follow_up(con, as_of)
    rows = []
    for r in plain_rows(df):
        owner, co = destinations(r.stage, r.bailleur_type, r.arrondissement, bool(r.fragile) if r.fragile == r.fragile else False)
        unreachable, silent = follow.get(r.case_id, (0, False))
        if r.risk_score == r.risk_score and r.risk_score is not None:
            score, why = float(r.risk_score), r.risk_reasons
        else:
            score, why = baseline_risk(r.stage, r.debt, r.monthly_rent)
        units = consumption_units(r.adults, r.under_14, r.over_14)
        nd = r.next_deadline if r.next_deadline == r.next_deadline else None
        urgent = nd is not None and not r.deadline_passed and (pd.Timestamp(nd).date() - as_of).days <= urgent_days
        if urgent:
            why += f" ; échéance le {pd.Timestamp(nd):%d/%m/%Y}"
        escalation = routing_rules()["escalation"]
        if unreachable >= escalation["unreachable_times"]:
            urgent, why = True, why + f" ; injoignable {unreachable} fois : à voir en priorité"
        if silent:
            why += f" ; sans suivi depuis {escalation['no_follow_up_days']} jours"
        if (unreachable >= escalation["unreachable_times"] or silent) and owner != ssp(r.arrondissement) \
                and ssp(r.arrondissement) and ssp(r.arrondissement) not in co:
            co = co + [ssp(r.arrondissement)]  # offered to the social service by default
        case_levers = levers(r.stage, r.debt, r.income, units, as_of)
        rows.append({"case_id": r.case_id, "destination": owner, "co_destinations": co, "risk_score": score,
                     "risk_reasons": why, "levers": case_levers, "urgent": urgent, "deadline": nd,
                     "charter_actions": charter_actions(r.stage, r.bailleur_type, [owner, *co], case_levers)})
    routed = pd.DataFrame(rows)
    routed["order_deadline"] = pd.to_datetime(routed["deadline"]).fillna(pd.Timestamp.max)
    routed = routed.sort_values(["urgent", "risk_score", "order_deadline", "case_id"], ascending=[False, False, True, True])
    routed["priority_rank"] = routed.groupby("destination").cumcount() + 1
    routed["within_capacity"] = [rank <= capacity(d) for rank, d in zip(routed["priority_rank"], routed["destination"])]
    if evaluation_seed is not None:
        draw = draw_evaluation_order(routed, evaluation_seed)
        routed = routed.merge(draw[["case_id", "rank_after"]], on="case_id", how="left")
        routed["priority_rank"] = routed["rank_after"].fillna(routed["priority_rank"]).astype(int)
        routed = routed.drop(columns=["rank_after"])
        con.register("_draw", draw)
        con.execute("insert into evaluation_draws select current_timestamp, ?, ?, destination, case_id, tier, "
                    "rank_before, rank_after from _draw", [as_of, evaluation_seed])
        con.unregister("_draw")
    con.register("_routed", routed.drop(columns=["deadline", "order_deadline"]))
    con.execute("""update cases set destination = r.destination, co_destinations = r.co_destinations,
                       risk_score = r.risk_score, risk_reasons = r.risk_reasons, levers = r.levers,
                       priority_rank = r.priority_rank, within_capacity = r.within_capacity, urgent = r.urgent,
                       charter_actions = r.charter_actions
                   from _routed r where cases.case_id = r.case_id""")
    con.unregister("_routed")
    return len(routed)
