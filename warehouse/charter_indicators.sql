-- Charter indicators, long form: one value per period, scope (paris or an arrondissement),
-- landlord type (tous, social, prive, inconnu), indicator and detail.
-- {period} is the period expression over a date column named `d` (month or year);
-- {as_of} the date the indicators are computed at. Facts after it are not read.
-- pipelines/indicators/charter.py ties each indicator to the charter actions it measures.

with

-- ids ------------------------------------------------------------------------
hh as (
    select household_id, arrondissement,
           case when bailleur_type = 'social' then 'social'
                when bailleur_type like 'prive%' then 'prive' else 'inconnu' end as landlord
    from households
),

-- stage entries: the court acts, and the first arrears seen of each household --
entries as (
    select household_id, event as stage, min(event_date) as d
    from case_events
    where event in ('cdp', 'assignation', 'jugement', 'cql', 'cfp_demandee', 'cfp_accordee', 'cfp_refusee', 'expulsion')
      and event_date <= date '{as_of}'
    group by all
    union all
    select household_id, 'impaye', min(event_date) from case_events
    where event = 'arrears' and event_date <= date '{as_of}' group by all
),

-- the funnel: of those entering a stage, who reached the next one, and after how long --
steps as (
    select * from (values ('cdp', 'assignation'), ('assignation', 'jugement'), ('jugement', 'cql'),
                          ('cql', 'cfp_demandee'), ('cfp_demandee', 'cfp_accordee'),
                          ('cfp_accordee', 'expulsion')) t(stage_from, stage_to)
),
funnel as (
    select a.household_id, s.stage_from, s.stage_to, a.d, b.d as reached_on
    from steps s join entries a on a.stage = s.stage_from
    left join entries b on b.household_id = a.household_id and b.stage = s.stage_to and b.d >= a.d
),

-- follow-up contacts returned by the teams (a contact = anything but `non_joignable`) --
contacts as (
    select 'M' || substr(s.case_id, 2) as household_id, s.date_contact
    from source_records r join staging_suivi s on s.ingest_id = r.ingest_id and s.line_number = r.line_number
    where r.source = 'suivi' and s.statut <> 'non_joignable' and s.date_contact <= date '{as_of}'
),
cdp_contact as (
    select e.household_id, e.d,
           exists (select 1 from contacts c where c.household_id = e.household_id
                   and c.date_contact between e.d and e.d + interval 15 day) as within_15,
           exists (select 1 from contacts c where c.household_id = e.household_id and c.date_contact >= e.d) as ever
    from entries e where e.stage = 'cdp'
),
hearing_contact as (
    select e.household_id, e.event_date as d,
           exists (select 1 from contacts c where c.household_id = e.household_id
                   and c.date_contact between e.event_date and cast(e.details ->> 'hearing' as date)) as before_hearing
    from case_events e
    where e.event = 'assignation' and e.details ->> 'hearing' is not null and e.event_date <= date '{as_of}'
),

-- FSL decisions and exits ---------------------------------------------------------
fsl as (
    select r.household_id, s.date_decision as d, s.decision, s.montant_accorde
    from source_records r join staging_fsl s on s.ingest_id = r.ingest_id and s.line_number = r.line_number
    where r.source = 'fsl' and s.date_decision is not null and s.date_decision <= date '{as_of}'
),
exits as (
    select household_id, event, event_date as d from case_events
    where (event like 'sortie_%' or event = 'desistement') and event_date <= date '{as_of}'
),

-- every indicator as (household, d, indicator, detail, value to add up) ---------
facts as (
    select household_id, d, 'volume_par_stade' as indicator, stage as detail, 1.0 as num, 1.0 as den from entries
    union all
    select household_id, d, 'conversion_entre_stades', stage_from || '>' || stage_to,
           (reached_on is not null)::double, 1.0 from funnel
    union all
    select household_id, d, 'duree_par_stade', stage_from, date_diff('day', d, reached_on), null
    from funnel where reached_on is not null
    union all
    select household_id, d, 'part_cdp_contactes_15_jours', 'cdp', within_15::double, 1.0 from cdp_contact
    union all
    select household_id, d, 'part_sans_contact', 'cdp', (not ever)::double, 1.0 from cdp_contact
    union all
    select household_id, d, 'part_assignations_contact_avant_audience', 'assignation', before_hearing::double, 1.0
    from hearing_contact
    union all
    select household_id, d, 'decisions_fsl', decision, 1.0, 1.0 from fsl
    union all
    select household_id, d, 'montants_fsl', 'accorde', coalesce(montant_accorde, 0), 1.0 from fsl where decision = 'accord'
    union all
    select household_id, d, 'sorties_par_type', event, 1.0, 1.0 from exits
    union all
    select household_id, d, 'expulsions_par_mois', 'nombre', 1.0, 1.0 from entries where stage = 'expulsion'
),

final as (
    select {period} as period,
           case when grouping(h.arrondissement) = 1 then 'paris'
                else coalesce(lpad(cast(h.arrondissement as varchar), 2, '0'), 'inconnu') end as scope,
           case when grouping(h.landlord) = 1 then 'tous' else h.landlord end as landlord,
           f.indicator, f.detail,
           case when f.indicator like 'part_%' or f.indicator = 'conversion_entre_stades' then avg(f.num)
                when f.indicator = 'duree_par_stade' then median(f.num)
                -- counts and euros added up as cents: a sum of doubles depends on the threads' order
                else cast(sum(cast(f.num as decimal(18, 2))) as double) end as value,
           count(*) as base
    from facts f join hh h using (household_id)
    where f.d is not null
    group by grouping sets (({period}, f.indicator, f.detail), ({period}, f.indicator, f.detail, h.arrondissement),
                            ({period}, f.indicator, f.detail, h.landlord),
                            ({period}, f.indicator, f.detail, h.arrondissement, h.landlord))
)

select * from final
