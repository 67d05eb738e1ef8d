-- Vigie warehouse: the ingestion layer. Staging tables (one per source) are
-- generated from data_contracts/ by pipelines/warehouse.py; these are the rest.

create sequence if not exists ingest_id_seq start 1;

-- one row per file ingestion attempt
create table if not exists ingest_log (
    ingest_id          bigint primary key,
    file_path          varchar not null,
    source             varchar not null,
    sha256             varchar,
    rows_read          bigint,
    rows_loaded        bigint,
    rows_quarantined   bigint,
    rows_skipped       bigint,
    status             varchar not null,   -- loaded | already_loaded | rejected
    message            varchar,
    validation_success boolean,            -- Great Expectations suite on the loaded batch
    validation         json,               -- each expectation with its counts
    file_format        varchar,            -- csv:utf-8:; | xlsx ...
    contract_version   varchar,
    ingested_at        timestamp not null
);

-- data lines set aside, with the reason a person reads
create table if not exists quarantine (
    ingest_id    bigint not null,
    source       varchar not null,
    file_path    varchar not null,
    line_number  bigint not null,
    raw          varchar,
    reason_code  varchar not null,
    reason       varchar not null,
    reason_codes varchar[]
);

-- lines neither loaded nor quarantined: blank lines, the final TOTAL line
create table if not exists skipped_lines (
    ingest_id    bigint not null,
    source       varchar not null,
    file_path    varchar not null,
    line_number  bigint not null,
    reason_code  varchar not null
);

-- which household a source record belongs to (filled by linkage)
create table if not exists record_households (
    source       varchar not null,
    source_key   varchar not null,
    household_id varchar not null
);

-- ---------------------------------------------------------------- linkage and ladder (vigie run)

-- scored pairs of records (entities) from Splink, with the fields that agreed and their weights
create table if not exists record_links (
    unique_id_l       varchar,
    unique_id_r       varchar,
    match_probability double,
    match_weight      double,
    reasons           varchar
);

-- a person's decision on an uncertain pair; persists across runs and overrides the model
create table if not exists link_decisions (
    unique_id_l varchar,
    unique_id_r varchar,
    accepted    boolean,
    decided_at  timestamp
);

create table if not exists households (
    household_id   varchar primary key,
    arrondissement integer,
    bailleur_type  varchar,
    first_seen     date,
    last_seen      date
);

create table if not exists case_events (
    household_id varchar,
    event_date   date,
    event        varchar,   -- a stage code or an exit (DOMAIN.md), or `arrears`
    source       varchar,
    source_key   varchar,
    details      json
);

create table if not exists cases (
    case_id            varchar,
    household_id       varchar,
    as_of              date,
    stage              varchar,
    stage_since        date,
    next_deadline      date,
    next_deadline_kind varchar,
    deadline_passed    boolean,
    earliest_eviction  date,
    debt               decimal(14,2),
    monthly_rent       decimal(14,2),
    risk_score         double,
    risk_reasons       varchar,
    destination        varchar,
    co_destinations    varchar[],
    priority_rank      integer,
    within_capacity    boolean,
    charter_actions    varchar[],
    warnings           varchar[]
);

-- routing (rules/routing.yaml)
alter table cases add column if not exists levers varchar[];
alter table cases add column if not exists urgent boolean;

-- which case went out on which list, when (the 14-day follow-up check reads it)
create table if not exists case_list_log (
    case_id         varchar,
    destination     varchar,
    listed_on       date,
    within_capacity boolean,
    exported_at     timestamp
);

-- risk model (issue 4): which model version scored the case
alter table cases add column if not exists model_version varchar;

-- evaluation mode (`vigie run --evaluation`): the randomised order within tiers of rank
create table if not exists evaluation_draws (
    drawn_at    timestamp,
    as_of       date,
    seed        bigint,
    destination varchar,
    case_id     varchar,
    tier        integer,
    rank_before integer,
    rank_after  integer
);

-- shadow mode (`vigie run --shadow-model VERSION`): another model's scores, recorded
-- beside the lists without changing them
create table if not exists shadow_scores (
    scored_at     timestamp,
    as_of         date,
    model_version varchar,
    case_id       varchar,
    destination   varchar,
    risk_score    double,
    risk_reasons  varchar,
    shadow_rank   integer
);

-- charter monitoring (pipelines/indicators): one value per period, scope, landlord type,
-- indicator and detail, repeated for each charter action the indicator measures
create table if not exists charter_indicators (
    period      varchar,   -- 2026-03 (month) or 2026 (year)
    period_kind varchar,   -- mois | annee
    action_id   varchar,
    indicator   varchar,
    detail      varchar,   -- the stage, the step (cdp>assignation), the decision, the exit
    value       double,
    base        bigint,    -- how many households the value is computed on
    scope       varchar,   -- paris | 01..20 | inconnu
    landlord    varchar,   -- tous | social | prive | inconnu
    as_of       date
);

-- every nominative file that left the warehouse: which list, where, when, how many rows
create table if not exists export_log (
    exported_at     timestamp,
    destination     varchar,
    file_path       varchar,
    format          varchar,
    as_of           date,
    rows            integer,
    within_capacity integer
);

-- `vigie purge`: households whose nominative data was removed, and when
create table if not exists purge_log (
    purged_at    timestamp,
    before_date  date,
    household_id varchar,
    records      integer
);
