"""Every dated fact of every source as an event of its household (`case_events`)."""
from __future__ import annotations

ACTS = {"assignation": "assignation", "jugement": "jugement", "cql": "cql", "requisition_cfp": "cfp_demandee",
        "octroi_cfp": "cfp_accordee", "refus_cfp": "cfp_refusee", "expulsion_effective": "expulsion",
        "desistement": "desistement"}

CLOSING = {"clos_dette_soldee": "sortie_dette_soldee", "clos_relogement": "sortie_relogement",
           "clos_expulsion": "expulsion"}

_LATEST = "from source_records r join staging_{s} s on s.ingest_id = r.ingest_id and s.line_number = r.line_number " \
          "where r.source = '{s}' and r.household_id is not null"


def build_case_events(con) -> int:
    """Rebuild `case_events` from the latest source records and their households."""
    acts = " ".join(f"when '{k}' then '{v}'" for k, v in ACTS.items())
    con.execute("delete from case_events")
    con.execute(f"""
        insert into case_events
        select r.household_id, s.date_signification, 'cdp', 'cdp', r.source_key,
               json_object('lease_date', s.date_bail, 'debt', s.montant_dette, 'monthly_rent', s.loyer_mensuel_cc)
        {_LATEST.format(s='cdp')}
        union all
        select r.household_id, s.date_acte, case s.type_acte {acts} end, 'procedure', r.source_key,
               json_object('hearing', s.date_audience, 'outcome', s.issue_jugement, 'debt', s.montant_dette)
        {_LATEST.format(s='procedure')}
        union all
        select r.household_id, s.date_extraction, 'arrears', 'bailleur', r.source_key,
               json_object('debt', s.solde_impaye, 'monthly_rent', s.loyer_mensuel_cc,
                           'first_unpaid', s.date_premier_impaye)
        {_LATEST.format(s='bailleur')}
        union all
        select r.household_id, s.date_decision, 'sortie_fsl', 'fsl', r.source_key,
               json_object('amount', s.montant_accorde)
        {_LATEST.format(s='fsl')} and s.decision = 'accord' and s.type_aide = 'maintien'
    """)
    # what the teams returned: a closed case ends its procedure (case_id C<n> is household M<n>)
    con.execute(f"""
        insert into case_events
        select 'M' || substr(s.case_id, 2), s.date_contact,
               case s.statut {" ".join(f"when '{k}' then '{v}'" for k, v in CLOSING.items())} end,
               'suivi', r.source_key, json_object('statut', s.statut)
        from source_records r join staging_suivi s on s.ingest_id = r.ingest_id and s.line_number = r.line_number
        where r.source = 'suivi' and s.statut in {tuple(CLOSING)}""")
    # a social tenancy absent from its landlord's next snapshot is no longer in arrears, when
    # nothing else (a commandement, a court act) shows an open procedure: a repayment plan kept
    # in its last snapshot ends as `sortie_plan_respecte`, otherwise `sortie_dette_soldee`
    con.execute(f"""
        insert into case_events
        with tenancy as (
            select r.household_id, s.bailleur_code, s.ref_contrat, max(s.date_extraction) as last_seen,
                   arg_max(coalesce(s.plan_apurement and s.plan_respecte, false), s.date_extraction) as plan_kept
            {_LATEST.format(s='bailleur')} group by all),
        snapshots as (select distinct bailleur_code, date_extraction from staging_bailleur)
        select t.household_id, min(n.date_extraction),
               case when t.plan_kept then 'sortie_plan_respecte' else 'sortie_dette_soldee' end, 'bailleur',
               t.bailleur_code || '|' || t.ref_contrat, null
        from tenancy t join snapshots n on n.bailleur_code = t.bailleur_code and n.date_extraction > t.last_seen
        where t.household_id not in (select household_id from case_events where source in ('cdp', 'procedure'))
        group by t.household_id, t.bailleur_code, t.ref_contrat, t.plan_kept""")
    return con.execute("select count(*) from case_events").fetchall()[0][0]
