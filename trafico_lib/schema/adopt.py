"""Tables the old tool made, adopted in place (issue 22; docs/architecture.md §3).

A depot that ran the old tool has TráficoV2 tables made by its ``create_tables_traficov2.sql``
(``SERIAL id``, text business columns, ``source_id INTEGER``, no ``sync_key``) and its
``traficov2_sync_log``, with the desk's data in them and the desk's app reading them. trafico
takes them over as they are: the schema adds its columns (never drops or retypes one, never
deletes a row) and leaves the tables' access as it was.

:data:`ADOPTED` is the record of which tables those are, written before anything else of the
schema runs (:func:`render_adoption`): a target that exists without a ``sync_key`` column, and a
system table that exists before trafico's schema was ever applied, are the old tool's. The
record is what keeps row-level security off them (``schema/api.py``) and tells a run that its
table is in the old layout. Every statement is idempotent: a table is recorded once.
"""
from __future__ import annotations

from collections.abc import Iterable

from ..tables import TableSpec
from .targets import text_array

ADOPTED = "traficov2_adopted"
# the old tool's own system table (its DDL made it; trafico keeps its columns)
OLD_SYSTEM_TABLES = ("traficov2_sync_log",)


def render_adoption(specs: Iterable[TableSpec]) -> str:
    """The record of adopted tables, and the tables the old tool made recorded in it (run
    before trafico's tracking table exists on a first apply)."""
    targets = [s.target for s in specs]
    return f"""CREATE TABLE IF NOT EXISTS {ADOPTED} (
    table_name text PRIMARY KEY,
    adopted_at timestamptz NOT NULL DEFAULT now(),
    note text
);
INSERT INTO {ADOPTED} (table_name, note)
SELECT t, 'made by the old tool: columns added, none dropped or retyped; access unchanged'
FROM unnest({text_array(targets)}) AS t
WHERE to_regclass(format('public.%I', t)) IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM information_schema.columns c
                  WHERE c.table_schema = 'public' AND c.table_name = t AND c.column_name = 'sync_key')
ON CONFLICT (table_name) DO NOTHING;
INSERT INTO {ADOPTED} (table_name, note)
SELECT t, 'made by the old tool: its columns kept; access unchanged'
FROM unnest({text_array(OLD_SYSTEM_TABLES)}) AS t
WHERE to_regclass(format('public.%I', t)) IS NOT NULL
  AND to_regclass('public.traficov2_schema_migrations') IS NULL
ON CONFLICT (table_name) DO NOTHING;"""
