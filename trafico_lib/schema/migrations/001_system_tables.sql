-- 001: system tables of the sync (docs/architecture.md §3). The log keeps the old tool's columns.

CREATE TABLE IF NOT EXISTS traficov2_sync_log (
    id bigserial PRIMARY KEY,
    table_name text NOT NULL,
    operation text NOT NULL CHECK (operation IN ('SYNC', 'BACK_PROPAGATE', 'ERROR')),
    source_table text,
    source_id text,
    target_id text,
    sync_timestamp timestamptz NOT NULL DEFAULT now(),
    details jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX IF NOT EXISTS traficov2_sync_log_ts_idx ON traficov2_sync_log (sync_timestamp);
CREATE INDEX IF NOT EXISTS traficov2_sync_log_table_idx ON traficov2_sync_log (table_name, sync_timestamp);

CREATE TABLE IF NOT EXISTS traficov2_sync_state (
    table_name text PRIMARY KEY,
    watermark timestamptz,
    last_success_at timestamptz,
    last_run_id text
);

CREATE TABLE IF NOT EXISTS traficov2_sync_rejects (
    id bigserial PRIMARY KEY,
    run_id text NOT NULL,
    table_name text NOT NULL,
    sync_key text,
    reasons jsonb NOT NULL DEFAULT '[]'::jsonb,
    raw_row jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS traficov2_sync_rejects_run_idx ON traficov2_sync_rejects (table_name, created_at);

CREATE TABLE IF NOT EXISTS traficov2_sync_changes (
    id bigserial PRIMARY KEY,
    run_id text NOT NULL,
    table_name text NOT NULL,
    sync_key text NOT NULL,
    field text NOT NULL,
    old jsonb,
    new jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS traficov2_sync_changes_run_idx ON traficov2_sync_changes (table_name, run_id);
