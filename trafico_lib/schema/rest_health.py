"""Steps 014 and 015: the functions the REST store's health reader calls, rendered from the statements
the direct path's reader runs (``stores/sql/health.py``): each aggregate is written once.

Each function answers with one JSON array of the statement's rows (``to_jsonb`` of each, under
the statement's column names), so Supabase's 1,000-row cap, which cuts what a set-returning
function returns, never cuts an answer: an aggregate is one row. They only read: declared
``STABLE``, PostgREST runs them in a read-only transaction. They run as the caller
(``service_role`` over REST, whose grants are step 005's), like every function of the REST store.

A statement over a table named at run time (a source's key groups, a target's counts and keys)
is rendered with ``format()`` placeholders in place of its identifiers and run by ``EXECUTE``.

Step 015 (:func:`render_state_step`): the columns that say when a reject was last seen and which
run last read a table whole (``stores/sql/record.py`` SEEN_COLUMNS), and the table's current
validation state (:func:`render_table_state`), one JSON value however many rows it counts.
"""
from __future__ import annotations

import re

from psycopg import sql

from ..stores.sql import health as h
from ..stores.sql.record import SEEN_COLUMNS
from .functions import sql_function

_FORMAT = re.compile(r"%(?!\d\$[Is])")  # a % that is not one of the placeholders below


def _as_json(statement: str) -> str:
    return f"SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]'::jsonb) FROM ({statement}) x"


def _reading(what: str, params: list[tuple[str, str]], statement: str) -> str:
    """A SQL function whose body is ``statement`` (``%(x)s`` becoming ``p_x``), its rows as JSON."""
    fn = sql_function(h.function_name(what), params, "jsonb", _as_json(statement))
    return fn.replace(" LANGUAGE sql AS ", " LANGUAGE sql STABLE AS ", 1)


def _template(statement: sql.Composable) -> str:
    """A statement built with ``%n$I``/``%n$s`` placeholders, as a quoted ``format()`` template."""
    text = _as_json(statement.as_string(None))
    if _FORMAT.search(text):
        raise ValueError(f"statement holds a % that format() would read: {text}")
    return sql.Literal(text).as_string(None)


def _dynamic(what: str, signature: str, declare: str, statements: list[str]) -> str:
    body = "\n    ".join(statements)
    return (f"CREATE OR REPLACE FUNCTION {h.function_name(what)}({signature})\n"
            f"RETURNS jsonb LANGUAGE plpgsql STABLE AS $fn$\nDECLARE\n    {declare}\nBEGIN\n    {body}\nEND\n$fn$;")


def _literal(text: str) -> str:
    return sql.Literal(text).as_string(None)


def render_source_key_groups() -> str:
    """``(p_table, p_columns, p_changed_column, p_since)``: the key columns listed as the direct
    path lists them, pending by ``p_changed_column`` after ``p_since`` when both are given."""
    key = h.key_as_text(sql.SQL("%I")).as_string(None)
    pending = h.pending(sql.SQL("%I")).as_string(None).replace("%(since)s", "$1")
    statement = h.source_key_groups(sql.SQL("%1$I"), sql.SQL("%2$s"), sql.SQL("%3$s"))
    return _dynamic(
        "source_key_groups", "p_table text, p_columns text[], p_changed_column text, p_since timestamptz",
        f"v_keys text; v_pending text := {_literal(h.NOT_PENDING)}; v_out jsonb;", [
            f"SELECT coalesce(string_agg(format({_literal(key)}, c), {_literal(h.KEY_SEPARATOR)} ORDER BY o), '') "
            "INTO v_keys FROM unnest(p_columns) WITH ORDINALITY AS t(c, o);",
            "IF p_changed_column IS NOT NULL AND p_since IS NOT NULL THEN",
            f"    v_pending := format({_literal(pending)}, p_changed_column);",
            "END IF;",
            f"EXECUTE format({_template(statement)}, p_table, v_keys, v_pending) INTO v_out USING p_since;",
            "RETURN v_out;",
        ])


def render_target_counts() -> str:
    return _dynamic("target_counts", "p_table text", "v_out jsonb;", [
        f"EXECUTE format({_template(h.target_counts(sql.SQL('%1$I')))}, p_table) INTO v_out;",
        "RETURN v_out;"])


def render_active_keys() -> str:
    return _dynamic("active_keys", "p_table text, p_column text", "v_out jsonb;", [
        f"EXECUTE format({_template(h.active_keys(sql.SQL('%1$I'), sql.SQL('%2$I')))}, p_table, p_column) INTO v_out;",
        "RETURN v_out;"])


def render_health_functions() -> str:
    return "\n\n".join([
        "-- what the health check reads over REST: the direct path's statements (stores/sql/health.py)",
        _reading("failed_syncs", [("hours", "integer"), ("listed", "integer")], h.FAILED_SYNCS),
        _reading("rejects_per_table", [("hours", "integer")], h.REJECTS_PER_TABLE),
        _reading("last_run", [], h.LAST_RUN),
        _reading("states", [], h.STATES),
        _reading("leases", [], h.LEASES),
        _reading("sync_log", [("days", "integer")], h.SYNC_LOG),
        _reading("rejects_by_rule", [("days", "integer")], h.REJECTS_BY_RULE),
        _reading("rejected_keys", [("table_name", "text")], h.REJECTED_KEYS),
        render_source_key_groups(),
        render_target_counts(),
        render_active_keys(),
    ])


_STATE_PARAMS = ("table_name", "keys", "columns", "listed")  # the statement's, in USING order


def render_table_state() -> str:
    """``(p_table, p_keys, p_columns, p_listed)``: :func:`~trafico_lib.stores.sql.health.table_state`
    of the target ``p_table``, ``{"state": ...}`` in a one-element array as every health function."""
    statement = h.table_state(sql.SQL("%1$I")).as_string(None)
    for i, name in enumerate(_STATE_PARAMS, 1):
        statement = statement.replace(f"%({name})s", f"${i}")
    template = _template(sql.SQL(statement))
    return _dynamic("table_state", "p_table text, p_keys text[], p_columns jsonb, p_listed integer", "v_out jsonb;", [
        f"EXECUTE format({template}, p_table) INTO v_out USING p_table, p_keys, p_columns, p_listed;",
        "RETURN v_out;"])


def render_state_step() -> str:
    return "\n\n".join([
        "-- when each reject was last seen, which run last read a table whole, and a table's current state",
        SEEN_COLUMNS,
        render_table_state(),
    ])
