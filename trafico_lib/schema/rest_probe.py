"""Step 016: a source's probe and the skip rule's record over REST, rendered from the statements
the direct path runs (``stores/sql/probe.py``): each is written once.

* ``traficov2_probe_<table>(p_updated_column)``: the probe of the table's source (row count,
  newest change time, the rows' hash aggregate), computed in the database: one row answers, no
  source row is sent. The change-time column is checked against the table and quoted (``%I``).
* ``traficov2_record_probe(...)`` and ``traficov2_read_probe(p_table_name)``: what a table's
  state keeps of the probe its last successful writing run took, and reads back.
* ``traficov2_record_skip(...)``: a skipped run's whole record in one call (:data:`RECORD_SKIP`).
"""
from __future__ import annotations

from psycopg import sql

from ..stores.sql import health as h
from ..stores.sql.probe import PROBE_COLUMNS, READ_PROBE, RECORD_PROBE, source_probe
from ..tables import TableSpec
from .functions import sql_function


def probe_function_name(spec: TableSpec) -> str:
    return f"traficov2_probe_{spec.name}"


def _literal(text: str) -> str:
    return sql.Literal(text).as_string(None)


def render_probe_function(spec: TableSpec) -> str:
    source = _literal(sql.Identifier(spec.source).as_string(None))
    template = source_probe(sql.Identifier(spec.source), sql.SQL("%1$s")).as_string(None)
    name = sql.Identifier(probe_function_name(spec)).as_string(None)
    return f"""CREATE OR REPLACE FUNCTION {name}(p_updated_column text)
RETURNS TABLE (probe_rows bigint, probe_changed_max timestamptz, probe_digest text)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_table regclass := to_regclass({source});
    v_changed text := 'NULL::timestamptz';
BEGIN
    IF v_table IS NULL THEN
        RAISE EXCEPTION 'relation % does not exist', {source} USING ERRCODE = '42P01';
    END IF;
    IF p_updated_column IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = v_table AND a.attname = p_updated_column
                       AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'source table % has no column %', {source}, p_updated_column USING ERRCODE = '42703';
        END IF;
        v_changed := format('%I', p_updated_column);
    END IF;
    RETURN QUERY EXECUTE format({_literal(template)}, v_changed);
END
$fn$;"""


# A skipped run's record in one call, what a writing run does over five (take the lease, check
# the state, the log row, the state, release): the same functions, called in one transaction.
# ``held``: another run's live lease (its holder answered), nothing written; ``moved``: another
# run finished since this one read the state (its ``last_run_id`` answered), nothing written;
# ``recorded``: the SYNC log row (recorded once per run, as traficov2_record_log does) and the
# state (its last success, no watermark moved) written, the lease released; asked again after
# the gateway failed a call that committed, it finds its own run recorded and answers so.
RECORD_SKIP = """CREATE OR REPLACE FUNCTION traficov2_record_skip(p_table_name text, p_run_id text, p_holder text,
    p_seconds integer, p_expected_last_run_id text, p_source_table text, p_details jsonb)
RETURNS TABLE (outcome text, holder text, run_id text, expires_at timestamptz, last_run_id text)
LANGUAGE plpgsql AS $fn$
DECLARE
    v_lease record;
    v_last text;
BEGIN
    SELECT * INTO v_lease FROM traficov2_take_lease(p_table_name, p_run_id, p_holder, p_seconds);
    IF NOT v_lease.taken THEN
        RETURN QUERY SELECT 'held'::text, v_lease.holder, v_lease.run_id, v_lease.expires_at, NULL::text;
        RETURN;
    END IF;
    SELECT s.last_run_id INTO v_last FROM traficov2_sync_state s WHERE s.table_name = p_table_name;
    IF v_last IS NOT DISTINCT FROM p_run_id THEN  -- asked again after a call that committed: done
        PERFORM traficov2_release_lease(p_table_name, p_run_id);
        RETURN QUERY SELECT 'recorded'::text, NULL::text, NULL::text, NULL::timestamptz, p_run_id;
        RETURN;
    END IF;
    IF v_last IS DISTINCT FROM p_expected_last_run_id THEN
        PERFORM traficov2_release_lease(p_table_name, p_run_id);
        RETURN QUERY SELECT 'moved'::text, NULL::text, NULL::text, NULL::timestamptz, v_last;
        RETURN;
    END IF;
    PERFORM traficov2_record_log(p_table_name, 'SYNC', p_source_table, p_details);
    PERFORM traficov2_record_state(p_table_name, p_run_id, NULL::timestamptz, NULL::bigint, false);
    PERFORM traficov2_release_lease(p_table_name, p_run_id);
    RETURN QUERY SELECT 'recorded'::text, NULL::text, NULL::text, NULL::timestamptz, p_run_id;
END
$fn$;"""


def render_probe_step(specs) -> str:
    record = sql_function("traficov2_record_probe",
                          [("table_name", "text"), ("run_id", "text"), ("rows", "bigint"), ("changed_max", "timestamptz"),
                           ("digest", "text"), ("context", "text"), ("was_full", "boolean")], "void", RECORD_PROBE)
    read = sql_function("traficov2_read_probe", [("table_name", "text")],
                        "TABLE (probe_rows bigint, probe_changed_max timestamptz, probe_digest text, probe_context text,"
                        " probe_full boolean, probe_run_id text, last_failed boolean, recheck_due boolean)", READ_PROBE)
    read = read.replace(" LANGUAGE sql AS ", " LANGUAGE sql STABLE AS ", 1)
    archived = sql_function(h.function_name("last_archived"), [], "jsonb",
                            f"SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]'::jsonb) FROM ({h.LAST_ARCHIVED}) x")
    archived = archived.replace(" LANGUAGE sql AS ", " LANGUAGE sql STABLE AS ", 1)
    return "\n\n".join([
        "-- the health check's newest run with an archived notebook (stores/sql/health.py)", archived,
        "DROP FUNCTION IF EXISTS traficov2_read_probe(text);  -- its answer's columns may differ from an earlier one's",
        "-- a source's probe and what a table's state keeps of it (stores/sql/probe.py): a run with nothing to do is skipped",
        PROBE_COLUMNS, record, read,
        "-- a skipped run's record in one call: lease, state check, log row, state, release (step 006, 011)",
        RECORD_SKIP, *(render_probe_function(s) for s in specs)])
