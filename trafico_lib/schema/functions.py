"""SQL functions the REST store calls (docs/architecture.md §6), rendered on every apply.

The REST API cannot send trafico's statements, only call functions. Where the direct path runs
a statement on its connection, the REST store calls a function whose body is that very
statement, rendered here from the constant the direct path runs (named placeholders become
the function's parameters): the rule is written once. What only the REST store needs (the
lease that keeps two runs of a table apart where no advisory lock can be held across
requests) is written here.
"""
from __future__ import annotations

import re

from ..stores.sql.record import DUPLICATE_FIELD, RECORD_DUPLICATE, RECORD_REJECT, RECORD_STATE, SEEN_COLUMNS

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def sql_function(name: str, params: list[tuple[str, str]], returns: str, body: str) -> str:
    """``CREATE OR REPLACE FUNCTION name(p_<param> <type>, …)``, a SQL function whose body is
    ``body`` with each ``%(param)s`` turned into ``p_<param>``."""
    declared = {p for p, _ in params}
    used = set(_PLACEHOLDER.findall(body))
    if used - declared:
        raise ValueError(f"{name}: undeclared parameters {sorted(used - declared)}")
    body = _PLACEHOLDER.sub(lambda m: f"p_{m.group(1)}", body)
    args = ", ".join(f"p_{p} {t}" for p, t in params)
    return f"CREATE OR REPLACE FUNCTION {name}({args}) RETURNS {returns} LANGUAGE sql AS $fn$\n{body};\n$fn$;"


LEASE = """-- the database's clock, for what reads through the API (the health check measures ages by it)
CREATE OR REPLACE FUNCTION traficov2_now() RETURNS timestamptz LANGUAGE sql STABLE AS $fn$ SELECT now() $fn$;

ALTER TABLE traficov2_sync_state ADD COLUMN IF NOT EXISTS lease_holder text;
ALTER TABLE traficov2_sync_state ADD COLUMN IF NOT EXISTS lease_run_id text;
ALTER TABLE traficov2_sync_state ADD COLUMN IF NOT EXISTS lease_expires_at timestamptz;
ALTER TABLE traficov2_sync_state ADD COLUMN IF NOT EXISTS lease_taken_at timestamptz;
ALTER TABLE traficov2_sync_state ADD COLUMN IF NOT EXISTS lease_renewed_at timestamptz;

-- The REST store's lease on a table: taken when free, expired, or already this run's (then
-- renewed: the holder renews it while it works, so a lease past its expiry is a dead run's);
-- the answer says who holds it. Two calls at once: the row lock orders them, and the second
-- sees the first's lease.
CREATE OR REPLACE FUNCTION traficov2_take_lease(p_table_name text, p_run_id text, p_holder text, p_seconds integer)
RETURNS TABLE (taken boolean, holder text, run_id text, expires_at timestamptz) LANGUAGE sql AS $fn$
INSERT INTO traficov2_sync_state (table_name) VALUES (p_table_name) ON CONFLICT (table_name) DO NOTHING;
UPDATE traficov2_sync_state s SET lease_holder = p_holder, lease_run_id = p_run_id,
       lease_taken_at = CASE WHEN s.lease_run_id IS NOT DISTINCT FROM p_run_id
                             THEN coalesce(s.lease_taken_at, now()) ELSE now() END,
       lease_renewed_at = now(), lease_expires_at = now() + make_interval(secs => p_seconds)
 WHERE s.table_name = p_table_name
   AND (s.lease_run_id IS NULL OR s.lease_run_id = p_run_id OR s.lease_expires_at < now());
SELECT s.lease_run_id IS NOT DISTINCT FROM p_run_id, s.lease_holder, s.lease_run_id, s.lease_expires_at
  FROM traficov2_sync_state s WHERE s.table_name = p_table_name;
$fn$;

CREATE OR REPLACE FUNCTION traficov2_release_lease(p_table_name text, p_run_id text)
RETURNS boolean LANGUAGE sql AS $fn$
WITH freed AS (
    UPDATE traficov2_sync_state SET lease_holder = NULL, lease_run_id = NULL, lease_expires_at = NULL,
           lease_taken_at = NULL, lease_renewed_at = NULL
     WHERE table_name = p_table_name AND lease_run_id = p_run_id RETURNING 1)
SELECT EXISTS (SELECT 1 FROM freed);
$fn$;"""


# the source's row count at the last successful run (also migration 009: here because the
# function below names it, and this step runs before the migration files)
SOURCE_ROWS = """ALTER TABLE traficov2_sync_state ADD COLUMN IF NOT EXISTS source_rows bigint;
-- the state's function of earlier versions: no source count or reset, returning nothing
DROP FUNCTION IF EXISTS traficov2_record_state(text, text, timestamptz);
DROP FUNCTION IF EXISTS traficov2_record_state(text, text, timestamptz, bigint);
DROP FUNCTION IF EXISTS traficov2_record_state(text, text, timestamptz, boolean);"""


def render_functions() -> str:
    state = sql_function("traficov2_record_state",
                         [("table_name", "text"), ("run_id", "text"), ("watermark", "timestamptz"),
                          ("source_rows", "bigint"), ("reset", "boolean")],
                         "timestamptz", RECORD_STATE)
    reject = sql_function("traficov2_record_reject",
                          [("run", "text"), ("tbl", "text"), ("key", "text"), ("reasons", "jsonb"), ("raw", "jsonb"),
                           ("hours", "integer")],
                          "integer", RECORD_REJECT)
    return f"""-- the run's success and its rejected rows (the direct path's statements, stores/sql/record.py)
{SOURCE_ROWS}
{SEEN_COLUMNS}

{state}

{reject}

{LEASE}"""


# Many rejected rows in one call (the REST store sends them in chunks): each goes through
# traficov2_record_reject, one after another, so a row repeated within the chunk is recorded
# once, as on the direct path.
RECORD_REJECTS = """CREATE OR REPLACE FUNCTION traficov2_record_rejects(p_run text, p_tbl text, p_rows jsonb, p_hours integer)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
  r jsonb;
  n integer := 0;
BEGIN
  FOR r IN SELECT value FROM jsonb_array_elements(p_rows) LOOP
    n := n + traficov2_record_reject(p_run, p_tbl, r->>'key', r->'reasons', r->'raw', p_hours);
  END LOOP;
  RETURN n;
END
$fn$;"""


# Duplicate source rows likewise: one by the direct path's statement, many in one call.
RECORD_DUPLICATES = """CREATE OR REPLACE FUNCTION traficov2_record_duplicates(p_run text, p_tbl text, p_rows jsonb,
                                                            p_hours integer)
RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
  r jsonb;
  n integer := 0;
BEGIN
  FOR r IN SELECT value FROM jsonb_array_elements(p_rows) LOOP
    n := n + traficov2_record_duplicate(p_run, p_tbl, r->>'key', r->>'source_id', p_hours);
  END LOOP;
  RETURN n;
END
$fn$;"""

# what the once-a-day check of a duplicate looks up, for the few change rows that are duplicates
DUPLICATES_INDEX = ("CREATE INDEX IF NOT EXISTS traficov2_sync_changes_duplicate_idx "
                    f"ON traficov2_sync_changes (table_name, sync_key) WHERE field = '{DUPLICATE_FIELD}';")


def render_batch_functions() -> str:
    duplicate = sql_function("traficov2_record_duplicate",
                             [("run", "text"), ("tbl", "text"), ("key", "text"), ("sid", "text"), ("hours", "integer")],
                             "integer", RECORD_DUPLICATE)
    return f"""-- rejected rows and duplicate source rows in chunks, one call each (the REST store)
{RECORD_REJECTS}

{DUPLICATES_INDEX}

{duplicate}

{RECORD_DUPLICATES}"""


# The run's log row over REST, recorded once however often it is asked: the gateway may answer
# 503 to an insert PostgreSQL committed, so the REST store asks again (only the insert, never
# the run, whose batches committed on their own) and a second row of the same run, table and
# operation is not written. Concurrent askers are ordered by a lock on the run's key.
RECORD_LOG = """CREATE INDEX IF NOT EXISTS traficov2_sync_log_run_idx ON traficov2_sync_log (table_name, (details->>'run_id'));

CREATE OR REPLACE FUNCTION traficov2_record_log(p_table_name text, p_operation text, p_source_table text,
                                                p_details jsonb)
RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
  IF p_details->>'run_id' IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(hashtext('trafico:log'), hashtext(p_table_name || ':' || (p_details->>'run_id')));
    IF EXISTS (SELECT 1 FROM traficov2_sync_log l WHERE l.table_name = p_table_name
                  AND l.details->>'run_id' = p_details->>'run_id' AND l.operation = p_operation) THEN
      RETURN false;
    END IF;
  END IF;
  INSERT INTO traficov2_sync_log (table_name, operation, source_table, details)
  VALUES (p_table_name, p_operation, p_source_table, coalesce(p_details, '{}'::jsonb));
  RETURN true;
END
$fn$;"""


def render_log_function() -> str:
    return f"""-- the run's log row over REST, recorded once however often the gateway makes the store ask
{RECORD_LOG}"""
