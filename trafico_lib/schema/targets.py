"""The TráficoV2 target tables, rendered from the registry (docs/architecture.md §3).

Each :class:`~trafico_lib.tables.TableSpec` gets one table: ``id``, its typed business
columns (``spec.target_columns``, declared as ``tables.SQL_TYPES`` says, quantities with
``CHECK (<column> >= 0)``), then the sync metadata every target shares (:data:`METADATA`),
and an index on ``activo``. Every statement is idempotent (``IF NOT EXISTS``), and each
business and metadata column is also added with ``ADD COLUMN IF NOT EXISTS``, so a column or
a table new in the registry (or in trafico) reaches an existing database the next time the
schema is applied.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from psycopg import sql

from ..tables import NON_NEGATIVE, SQL_TYPES, Column, TableSpec

# The sync metadata of every target, after the business columns (docs/architecture.md §3).
METADATA: tuple[tuple[str, str], ...] = (
    ("sync_key", "text NOT NULL UNIQUE"),
    ("source_id", "text"),
    ("row_hash", "text"),
    ("source_hash", "text"),  # md5 of the source row's text and the run's context (engine.fingerprint)
    ("source_updated_at", "timestamptz"),
    ("source_preserved", "jsonb NOT NULL DEFAULT '{}'::jsonb"),
    ("fecha_registro", "timestamptz NOT NULL DEFAULT now()"),
    ("fecha_modificacion", "timestamptz NOT NULL DEFAULT now()"),
    ("synced_at", "timestamptz"),
    ("manual_updated_at", "timestamptz"),
    ("validation_warnings", "jsonb NOT NULL DEFAULT '[]'::jsonb"),
    ("activo", "boolean NOT NULL DEFAULT true"),
    # when the desk last typed each preserved field ({field: time}, the manual-edit trigger's);
    # its default ({}) and older rows' times come with the triggers (schema/triggers.py)
    ("manual_edits", "jsonb"),
)

# trafico's own names (traficov2_…) are never SQL keywords: written plain, they keep the
# printed script readable (``CREATE TABLE IF NOT EXISTS traficov2_arribos``).
_OWN_NAME = re.compile(r"traficov2_[a-z0-9_]+")


def name(identifier: str) -> sql.Composable:
    """A table or index name: plain when it is one of trafico's own, else quoted."""
    return sql.SQL(identifier) if _OWN_NAME.fullmatch(identifier) else sql.Identifier(identifier)


def text_array(names: Iterable[str]) -> str:
    """``ARRAY['a', 'b']::text[]``: names as a literal array for the printed script's loops."""
    return "ARRAY[" + ", ".join(sql.Literal(n).as_string(None) for n in names) + "]::text[]"


def column_definition(column: Column) -> sql.Composed:
    """``"Peso" numeric(14,3) CHECK ("Peso" >= 0)``: the column as its type declares it."""
    ident = sql.Identifier(column.name)
    parts = [ident, sql.SQL(SQL_TYPES[column.type])]
    if column.type in NON_NEGATIVE:
        parts.append(sql.SQL("CHECK ({} >= 0)").format(ident))
    return sql.SQL(" ").join(parts)


def table_statements(spec: TableSpec) -> list[sql.Composed]:
    """One target's CREATE TABLE, ALTER TABLE (ADD COLUMN IF NOT EXISTS each business and
    metadata column) and ``activo`` index."""
    table = name(spec.target)
    columns: list[sql.Composable] = [sql.SQL("id bigserial PRIMARY KEY")]
    columns += [column_definition(c) for c in spec.target_columns]
    columns += [sql.SQL(f"{n} {ddl}") for n, ddl in METADATA]  # trusted constants
    out = [sql.SQL("CREATE TABLE IF NOT EXISTS {} (\n    {}\n)").format(
        table, sql.SQL(",\n    ").join(columns))]
    adds: list[sql.Composable] = [sql.SQL("ADD COLUMN IF NOT EXISTS {}").format(column_definition(c))
                                  for c in spec.target_columns]
    adds += [sql.SQL(f"ADD COLUMN IF NOT EXISTS {n} {ddl}") for n, ddl in METADATA if "UNIQUE" not in ddl]
    # a table the old tool made has rows and no key yet: the key comes as a plain column, each
    # row's value with the first sync that adopts it (engine/adopt.py), unique all the same (the
    # index a new table's UNIQUE constraint makes has this name already)
    adds.append(sql.SQL("ADD COLUMN IF NOT EXISTS sync_key text"))
    out.append(sql.SQL("ALTER TABLE {}\n    {}").format(table, sql.SQL(",\n    ").join(adds)))
    out.append(sql.SQL("CREATE UNIQUE INDEX IF NOT EXISTS {} ON {} (sync_key)").format(
        name(f"{spec.target}_sync_key_key"), table))
    out.append(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (activo)").format(
        name(f"{spec.target}_activo_idx"), table))
    return out


def render_targets(specs: Iterable[TableSpec]) -> str:
    """Every target's statements as one plain SQL script, one table after the other."""
    return "\n\n".join(
        "\n".join(f"{stmt.as_string()};" for stmt in table_statements(spec)) for spec in specs) + "\n"
