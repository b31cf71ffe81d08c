"""The health check's aggregates, written once: every statement the health readers run.

The direct path's reader (``PostgresHealthReader``) runs these statements on its connection;
the REST store's reader calls functions whose bodies are these very statements
(``schema/rest_health.py``, step 014), each wrapped into one JSON value so Supabase's
1,000-row cap never cuts an answer. Values are named parameters (``%(hours)s``); a statement
over a table named at run time is built from :mod:`psycopg.sql` pieces by a function here, to
which the direct path gives identifiers and the REST renderer ``format()`` placeholders. Each
statement names its output columns: the REST store reads them by these names.

Nothing here runs anything: the readers normalize what the database gives them into the same
shapes (:func:`failed_syncs`, :func:`last_run`, :func:`lease_row`, ...).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from psycopg import sql

FUNCTION_PREFIX = "traficov2_health_"  # the REST store's function of an aggregate: the prefix and its name
LEASE_COLUMNS = ("lease_run_id", "lease_holder", "lease_taken_at", "lease_renewed_at", "lease_expires_at")
FAILED_SYNCS_LISTED = 20

def function_name(what: str) -> str:
    """The REST function that runs the statement of ``what`` (``failed_syncs``, ...)."""
    return FUNCTION_PREFIX + what


# ---- the system tables: fixed statements, named parameters -------------------------------------

# ERROR rows of the last %(hours)s, the newest %(listed)s; ``total``: how many in all (a window
# count, taken before the LIMIT)
FAILED_SYNCS = (
    "SELECT count(*) OVER () AS total, table_name, sync_timestamp, details->>'run_id' AS run_id, "
    "details->>'error' AS error FROM traficov2_sync_log "
    "WHERE operation = 'ERROR' AND sync_timestamp > now() - make_interval(hours => %(hours)s) "
    "ORDER BY sync_timestamp DESC, id DESC LIMIT %(listed)s")

REJECTS_PER_TABLE = (
    "SELECT table_name, count(*) AS n FROM traficov2_sync_rejects "
    "WHERE created_at > now() - make_interval(hours => %(hours)s) GROUP BY table_name ORDER BY table_name")

# the newest run of the log and every log row of it, in order (none: no run is logged)
LAST_RUN = (
    "WITH newest AS (SELECT details->>'run_id' AS run_id, sync_timestamp FROM traficov2_sync_log "
    "WHERE details ? 'run_id' ORDER BY sync_timestamp DESC, id DESC LIMIT 1) "
    "SELECT n.run_id, n.sync_timestamp, l.table_name, l.operation, l.details->>'notebook' AS notebook, "
    "l.details->>'error' AS error, l.details->>'unchanged_since' AS unchanged_since "
    "FROM newest n JOIN traficov2_sync_log l ON l.details->>'run_id' = n.run_id ORDER BY l.id")

# The newest run that archived a notebook (a run that changed, rejected or failed something; one
# that changed nothing is its log row: pipeline.changed_something), and its log rows that name one.
def _archived(t: str) -> str:
    return (f"{t}operation = 'SYNC' AND {t}details->>'notebook' IS NOT NULL "
            f"AND left({t}details->>'notebook', 13) <> 'interactive: '")


LAST_ARCHIVED = (
    f"WITH newest AS (SELECT details->>'run_id' AS run_id FROM traficov2_sync_log WHERE {_archived('')} "
    "ORDER BY sync_timestamp DESC, id DESC LIMIT 1) "
    "SELECT n.run_id, l.sync_timestamp, l.table_name, l.details->>'notebook' AS notebook FROM newest n "
    f"JOIN traficov2_sync_log l ON l.details->>'run_id' = n.run_id AND {_archived('l.')} "
    "ORDER BY l.id")

# checked_at (step 017: a running watch found the source unchanged since the last success) read as
# JSON, so a schema older than that step has none
STATES = ("SELECT table_name, watermark, last_success_at, last_run_id, "
          "(to_jsonb(s)->>'checked_at')::timestamptz AS checked_at FROM traficov2_sync_state s ORDER BY table_name")

# read as JSON, so a schema older than the lease columns has none
LEASES = ("SELECT to_jsonb(s) AS state FROM traficov2_sync_state s "
          "WHERE to_jsonb(s)->>'lease_run_id' IS NOT NULL ORDER BY table_name")

SYNC_LOG = (
    "SELECT table_name, sync_timestamp, operation, details FROM traficov2_sync_log "
    "WHERE sync_timestamp > now() - make_interval(days => %(days)s) AND operation IN ('SYNC', 'ERROR') "
    "ORDER BY table_name, sync_timestamp, id")

# a row counts once per rule it broke (``reasons``: a JSON array of rules, or one rule)
REJECTS_BY_RULE = (
    "SELECT r.table_name, reason.value AS rule, count(*) AS n, count(DISTINCT r.sync_key) AS distinct_keys, "
    "count(DISTINCT r.run_id) AS runs, max(r.created_at) AS last_seen FROM traficov2_sync_rejects r "
    "CROSS JOIN LATERAL jsonb_array_elements_text(CASE jsonb_typeof(r.reasons) WHEN 'array' "
    "THEN r.reasons ELSE jsonb_build_array(r.reasons #>> '{}') END) AS reason(value) "
    "WHERE r.created_at > now() - make_interval(days => %(days)s) GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2")

REJECTED_KEYS = ("SELECT DISTINCT sync_key FROM traficov2_sync_rejects "
                 "WHERE table_name = %(table_name)s AND sync_key IS NOT NULL")

# ---- one table: statements over a table named at run time -----------------------------------

# a raw key column as the health check compares it, and how they are listed
KEY_AS_TEXT = "{}::text"
KEY_SEPARATOR = ", "
# a source row changed after %(since)s by its change-time column; without one, nothing is pending
PENDING = "coalesce({} > %(since)s, false)"
NOT_PENDING = "false"


def key_as_text(column: sql.Composable) -> sql.Composed:
    return sql.SQL(KEY_AS_TEXT).format(column)


def pending(changed_column: sql.Composable) -> sql.Composed:
    return sql.SQL(PENDING).format(changed_column)


def source_key_groups(table: sql.Composable, keys: sql.Composable, pending: sql.Composable) -> sql.Composed:
    """One line per distinct raw key of a source table: ``key`` (the key columns as text, an
    array: ``keys`` is their list, each :func:`key_as_text`), ``pending`` (some row of the group
    is :data:`PENDING`, else ``false``) and ``n`` (rows). An empty table has no line."""
    return sql.SQL("SELECT ARRAY[{keys}]::text[] AS key, bool_or({pending}) AS pending, count(*) AS n "
                   "FROM {table} GROUP BY 1").format(keys=keys, pending=pending, table=table)


def target_counts(table: sql.Composable) -> sql.Composed:
    """(rows, active rows) of a target table."""
    return sql.SQL("SELECT count(*) AS total, count(*) FILTER (WHERE activo) AS active FROM {}").format(table)


def active_keys(table: sql.Composable, column: sql.Composable) -> sql.Composed:
    """The distinct non-null values of ``column`` over a target's active rows."""
    return sql.SQL("SELECT DISTINCT {column} AS key FROM {table} WHERE activo AND {column} IS NOT NULL").format(
        column=column, table=table)


# ---- the answers, in the readers' shapes (pure) ------------------------------------------------

Row = Mapping[str, Any]
Time = Callable[[Any], Any]  # a timestamp as the reader got it -> datetime (the REST API sends text)


def _same(value):
    return value


def failed_syncs(rows: Iterable[Row], when: Time = _same) -> tuple[int, list[dict]]:
    rows = list(rows)
    return (int(rows[0]["total"]) if rows else 0,
            [{"table": r["table_name"], "sync_timestamp": when(r["sync_timestamp"]), "run_id": r["run_id"],
              "error": r["error"]} for r in rows])


def rejects_per_table(rows: Iterable[Row]) -> dict[str, int]:
    return {r["table_name"]: int(r["n"]) for r in rows}


def last_run(rows: Iterable[Row], when: Time = _same) -> dict | None:
    rows = list(rows)
    if not rows:
        return None
    return {"run_id": rows[0]["run_id"], "sync_timestamp": when(rows[0]["sync_timestamp"]),
            "tables": [{"table": r["table_name"], "operation": r["operation"], "notebook": r["notebook"],
                        "error": r["error"], "unchanged_since": r.get("unchanged_since")} for r in rows]}


def last_archived(rows: Iterable[Row], when: Time = _same) -> dict | None:
    """The newest run with an archived notebook: run_id, sync_timestamp (its newest such row)
    and its tables (table, notebook); None when no run archived one."""
    rows = list(rows)
    if not rows:
        return None
    return {"run_id": rows[0]["run_id"], "sync_timestamp": max(when(r["sync_timestamp"]) for r in rows),
            "tables": [{"table": r["table_name"], "notebook": r["notebook"]} for r in rows]}


def states(rows: Iterable[Row], when: Time = _same) -> dict[str, dict]:
    return {r["table_name"]: {"watermark": when(r["watermark"]), "last_success_at": when(r["last_success_at"]),
                              "last_run_id": r["last_run_id"], "checked_at": when(r.get("checked_at"))}
            for r in rows}


def sync_log(rows: Iterable[Row], when: Time = _same) -> list[tuple]:
    return [(r["table_name"], when(r["sync_timestamp"]), r["operation"], r["details"]) for r in rows]


def rejects_by_rule(rows: Iterable[Row], when: Time = _same) -> list[tuple]:
    return [(r["table_name"], r["rule"], int(r["n"]), int(r["distinct_keys"]), int(r["runs"]), when(r["last_seen"]))
            for r in rows]


def key_groups(rows: Iterable[Row], columns: list[str]):
    """The lines of :func:`source_key_groups` as a frame: the ``columns`` (the key's parts),
    ``pending``, ``n``; every cell an object, as the database gave it."""
    import pandas as pd
    return pd.DataFrame([[*r["key"], bool(r["pending"]), int(r["n"])] for r in rows],
                        columns=[*columns, "pending", "n"], dtype=object)


def lease_row(row: dict) -> dict:
    """A ``traficov2_sync_state`` row (as JSON) as a held lease."""
    def when(v):
        return datetime.fromisoformat(v) if isinstance(v, str) else v
    return {"target": row["table_name"], "run_id": row.get("lease_run_id"), "holder": row.get("lease_holder"),
            "taken_at": when(row.get("lease_taken_at")), "renewed_at": when(row.get("lease_renewed_at")),
            "expires_at": when(row.get("lease_expires_at"))}


# ---- one table's current state (schema step 015 over REST) ------------------------------------

STATE_LISTED = 20  # failing rows listed per rule

# A rule list as stored (a JSON array; anything else, as one rule or none)
_RULES_OF = ("CASE WHEN {col} IS NULL OR jsonb_typeof({col}) = 'null' THEN jsonb_build_array() "
             "WHEN jsonb_typeof({col}) = 'array' THEN {col} ELSE jsonb_build_array({col}) END")
# a failing row as the state lists it: its line (rejects only), key columns and the rule's column
_FAILING_ROW = ("jsonb_build_object('row', {line}, 'key', (SELECT coalesce(jsonb_object_agg(k, {r} -> k), "
                "jsonb_build_object()) FROM unnest(%(keys)s::text[]) AS k), 'value', {r} -> (%(columns)s::jsonb ->> {rule}))")


def table_state(target: sql.Composable) -> sql.Composed:
    """A target table's current validation state, one row with one JSON value ``state``.

    Parameters: ``table_name`` (the target's name, as the system tables hold it), ``keys``
    (text[]: the key columns listed for a failing row), ``columns`` (jsonb: rule -> the
    column whose value is listed) and ``listed`` (failing rows per rule). ``state`` holds
    ``as_of`` (the database clock), ``rows`` (active target rows), ``warned_rows`` (active rows
    with a warning), ``rejected_rows`` (current rejects), ``in_target`` and ``rejected`` (each
    {rule: {failed, failing_rows}}), ``read_whole_run_id``/``read_whole_at``.

    A reject is *current* (trafico_lib.health's docstring says why): the newest record of its
    source row (by source id, else key, else raw row), seen (``last_run_id``/``last_seen_at``)
    by the table's latest whole read or a later run, and whose source row has not become an
    active target row since (by key or source id, written after it was last seen)."""
    return sql.SQL(
        "WITH st AS (SELECT s.read_whole_run_id, s.read_whole_at FROM traficov2_sync_state s "
        " WHERE s.table_name = %(table_name)s), "
        "active AS (SELECT t.sync_key, " + _RULES_OF.format(col="t.validation_warnings") + " AS warnings "
        " FROM {target} t WHERE t.activo), "
        "tagged AS (SELECT w.rule, count(*) AS failed FROM active a "
        " CROSS JOIN LATERAL jsonb_array_elements_text(a.warnings) AS w(rule) GROUP BY w.rule), "
        "in_target AS (SELECT g.rule, jsonb_build_object('failed', g.failed, 'failing_rows', coalesce((SELECT jsonb_agg("
        + _FAILING_ROW.format(line="NULL", r="f.r", rule="g.rule") + " ORDER BY f.sync_key) FROM (SELECT t.sync_key, "
        " to_jsonb(t) AS r FROM {target} t WHERE t.activo AND t.validation_warnings ? g.rule "
        " ORDER BY t.sync_key LIMIT %(listed)s) f), jsonb_build_array())) AS x FROM tagged g), "
        "newest AS (SELECT DISTINCT ON (coalesce('id:' || (r.raw_row ->> '_source_id'), 'key:' || r.sync_key, "
        " 'raw:' || (r.raw_row - '_row')::text)) r.id, r.sync_key, r.reasons, r.raw_row, "
        " coalesce(r.last_seen_at, r.created_at) AS seen_at, coalesce(r.last_run_id, r.run_id) AS seen_by "
        " FROM traficov2_sync_rejects r WHERE r.table_name = %(table_name)s "
        " ORDER BY coalesce('id:' || (r.raw_row ->> '_source_id'), 'key:' || r.sync_key, "
        " 'raw:' || (r.raw_row - '_row')::text), coalesce(r.last_seen_at, r.created_at) DESC, r.id DESC), "
        "current AS (SELECT c.* FROM newest c LEFT JOIN st ON true "
        " WHERE (st.read_whole_at IS NULL OR c.seen_by = st.read_whole_run_id OR c.seen_at > st.read_whole_at) "
        " AND NOT EXISTS (SELECT 1 FROM {target} t WHERE t.activo AND t.sync_key = c.sync_key "
        "  AND t.synced_at > c.seen_at) "
        " AND NOT EXISTS (SELECT 1 FROM {target} t WHERE t.activo AND t.source_id::text = c.raw_row ->> '_source_id' "
        "  AND t.synced_at > c.seen_at)), "
        "reasons AS (SELECT w.rule, c.id, c.raw_row, row_number() OVER (PARTITION BY w.rule ORDER BY c.id) AS n "
        " FROM current c CROSS JOIN LATERAL jsonb_array_elements_text(" + _RULES_OF.format(col="c.reasons")
        + ") AS w(rule)), "
        "rejected AS (SELECT g.rule, jsonb_build_object('failed', count(*), 'failing_rows', coalesce(jsonb_agg("
        + _FAILING_ROW.format(line="g.raw_row -> '_row'", r="g.raw_row", rule="g.rule")
        + " ORDER BY g.n) FILTER (WHERE g.n <= %(listed)s), jsonb_build_array())) AS x FROM reasons g GROUP BY g.rule) "
        "SELECT jsonb_build_object('as_of', now(), "
        " 'rows', (SELECT count(*) FROM active), "
        " 'warned_rows', (SELECT count(*) FROM active a WHERE jsonb_array_length(a.warnings) > 0), "
        " 'rejected_rows', (SELECT count(*) FROM current), "
        " 'in_target', coalesce((SELECT jsonb_object_agg(rule, x) FROM in_target), jsonb_build_object()), "
        " 'rejected', coalesce((SELECT jsonb_object_agg(rule, x) FROM rejected), jsonb_build_object()), "
        " 'read_whole_run_id', (SELECT read_whole_run_id FROM st), "
        " 'read_whole_at', (SELECT read_whole_at FROM st)) AS state").format(target=target)


def state_answer(state: Mapping[str, Any], when: Time) -> dict:
    """The ``state`` of :func:`table_state` with its times as datetimes (JSON gives text)."""
    return {**state, "as_of": when(state["as_of"]),
            "read_whole_at": None if state.get("read_whole_at") is None else when(state["read_whole_at"])}
