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
