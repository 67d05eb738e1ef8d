"""The model's inputs for (household, as-of date) pairs: the timeline features of
`history.py` plus what the partners' files said about the household by that date
(housing benefit, FSL, repayment plan, fragility, household, follow-up contacts)."""
from __future__ import annotations

import pandas as pd

from pipelines.ladder.stages import LADDER

_FROM = ("from source_records r join staging_{s} s on s.ingest_id = r.ingest_id "
         "and s.line_number = r.line_number where r.source = '{s}' and r.household_id is not null")

# Facts the partners reported, each with the date it became known. The latest fact wins; of two
# reported the same day (two landlords' lists of one date for a household), the one loaded last
# (`k`: the date, then the file and line), so that a case scores the same on every run.
FACTS_SQL = f"""
with snap as (select distinct household_id, as_of from _snap),
cdp as (select r.household_id, s.date_signification as d, s.beneficiaire_apl as apl, s.bailleur_type,
               (s.date_signification, r.ingest_id, r.line_number) as k
        {_FROM.format(s='cdp')}),
bail as (select r.household_id, s.date_extraction as d, s.plan_apurement, s.plan_respecte,
                s.fragilite_signalee, s.nb_occupants, (s.date_extraction, r.ingest_id, r.line_number) as k
         {_FROM.format(s='bailleur')}),
fsl as (select r.household_id, s.date_depot, s.date_decision, s.decision, s.ressources_mensuelles,
               s.nb_adultes, s.nb_enfants_moins_14, s.nb_enfants_14_plus,
               (s.date_depot, r.ingest_id, r.line_number) as k {_FROM.format(s='fsl')}),
suivi as (select 'M' || substr(s.case_id, 2) as household_id, s.date_contact as d, s.statut
          {_FROM.format(s='suivi').replace('r.household_id is not null', 's.date_contact is not null')}),
from_cdp as (
    select n.household_id, n.as_of, arg_max(c.apl, c.k) filter (where c.apl is not null) as apl,
           arg_max(c.bailleur_type, c.k) as cdp_landlord
    from snap n join cdp c on c.household_id = n.household_id and c.d <= n.as_of group by all),
from_bail as (
    select n.household_id, n.as_of, arg_max(b.plan_apurement, b.k) as plan_signed,
           arg_max(b.plan_respecte, b.k) as plan_kept, bool_or(b.fragilite_signalee) as fragile,
           arg_max(b.nb_occupants, b.k) as occupants
    from snap n join bail b on b.household_id = n.household_id and b.d <= n.as_of group by all),
from_fsl as (
    select n.household_id, n.as_of, count(*) as fsl_filed,
           count(*) filter (where f.decision = 'refus' and f.date_decision <= n.as_of) as fsl_refused,
           arg_max(f.date_decision is null or f.date_decision > n.as_of, f.k) as fsl_pending,
           arg_max(f.ressources_mensuelles, f.k) as income,
           arg_max(f.nb_adultes, f.k) as adults,
           arg_max(f.nb_enfants_moins_14, f.k) as under_14,
           arg_max(f.nb_enfants_14_plus, f.k) as over_14
    from snap n join fsl f on f.household_id = n.household_id and f.date_depot <= n.as_of group by all),
from_suivi as (
    select n.household_id, n.as_of, count(*) as contacts,
           count(*) filter (where t.statut = 'non_joignable') as unreachable
    from snap n join suivi t on t.household_id = n.household_id and t.d <= n.as_of group by all)
select n.household_id, n.as_of, c.apl, c.cdp_landlord, b.plan_signed, b.plan_kept, b.fragile, b.occupants,
       b.household_id is not null as social_snapshot, f.fsl_filed, f.fsl_refused, f.fsl_pending, f.income,
       f.adults, f.under_14, f.over_14, t.contacts, t.unreachable
from snap n
left join from_cdp c using (household_id, as_of)
left join from_bail b using (household_id, as_of)
left join from_fsl f using (household_id, as_of)
left join from_suivi t using (household_id, as_of)
"""

STAGE_COLUMNS = [f"stage_{s}" for s in LADDER]
FEATURES = [
    "stage_rank", *STAGE_COLUMNS, "days_in_stage", "days_to_deadline", "deadline_passed", "days_to_treve_end",
    "debt_months", "debt", "debt_trend_3m", "months_since_first_unpaid", "earlier_procedures",
    "judgment_eviction", "private_landlord", "apl", "plan_signed", "plan_kept", "fragile",
    "household_size", "children", "income_per_uc", "fsl_filed", "fsl_refused", "fsl_pending",
    "contacts", "unreachable",
]

# Features a jurist reads together: a reason names the group, not a column.
GROUPS = {
    "stage": ["stage_rank", *STAGE_COLUMNS],
    "time_in_stage": ["days_in_stage"],
    "deadline": ["days_to_deadline", "deadline_passed"],
    "treve": ["days_to_treve_end"],
    "debt": ["debt_months", "debt"],
    "debt_trend": ["debt_trend_3m"],
    "arrears_age": ["months_since_first_unpaid"],
    "history": ["earlier_procedures"],
    "judgment": ["judgment_eviction"],
    "landlord": ["private_landlord"],
    "apl": ["apl"],
    "plan": ["plan_signed", "plan_kept"],
    "fragile": ["fragile"],
    "household": ["household_size", "children", "income_per_uc"],
    "fsl": ["fsl_filed", "fsl_refused", "fsl_pending"],
    "follow_up": ["contacts", "unreachable"],
}


def _num(series: pd.Series) -> pd.Series:
    if pd.api.types.is_numeric_dtype(series.dtype) and not pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(float)  # already numbers (most columns): no walk through Python objects
    return pd.to_numeric(series.astype("object").where(series.notna()), errors="coerce").astype(float)


def partner_facts(con, keys: pd.DataFrame) -> pd.DataFrame:
    """What partners reported about each (household_id, as_of) of `keys` by that date."""
    con.register("_snap", keys[["household_id", "as_of"]])
    try:
        facts = con.sql(FACTS_SQL).to_arrow_table().to_pandas()
    finally:
        con.unregister("_snap")
    facts["as_of"] = pd.to_datetime(facts["as_of"]).dt.date
    return facts


def add_source_facts(con, snap: pd.DataFrame) -> pd.DataFrame:
    """Join what partners reported by each row's as-of date; derive the model's columns."""
    from pipelines.route.routing import consumption_units

    out = snap.merge(partner_facts(con, snap), on=["household_id", "as_of"], how="left")
    out["private_landlord"] = out["cdp_landlord"].map({"prive_physique": 1.0, "prive_morale": 1.0, "social": 0.0})
    out.loc[out["private_landlord"].isna() & out["social_snapshot"].fillna(False).astype(bool), "private_landlord"] = 0.0
    for col in ("apl", "plan_signed", "plan_kept", "fragile", "fsl_pending"):
        out[col] = _num(out[col])
    for col in ("fsl_filed", "fsl_refused", "contacts", "unreachable"):
        out[col] = _num(out[col]).fillna(0.0)
    adults, under, over = _num(out["adults"]), _num(out["under_14"]), _num(out["over_14"])
    out["household_size"] = (adults + under.fillna(0) + over.fillna(0)).fillna(_num(out["occupants"]))
    out["children"] = (under.fillna(0) + over.fillna(0)).where(adults.notna())
    units = [consumption_units(a, u, o) if a == a else None for a, u, o in zip(adults, under, over)]
    out["income_per_uc"] = _num(out["income"]) / pd.Series(units, index=out.index, dtype=float)
    for stage, col in zip(LADDER, STAGE_COLUMNS):
        out[col] = (out["stage"] == stage).astype(float)
    out["deadline_passed"] = (out["days_to_deadline"] < 0).astype(float).where(out["days_to_deadline"].notna())
    for col in FEATURES:
        out[col] = _num(out[col])
    return out
