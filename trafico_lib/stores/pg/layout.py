"""A target table's layout as the catalog has it (``engine.conform.TargetLayout``): each column's
type, and whether the table is one the old tool made, adopted in place (``schema/adopt.py``)."""
from __future__ import annotations

import psycopg

from ...engine.conform import TargetLayout
from ...schema.adopt import ADOPTED
from ...tables import TableSpec
from .rows import one_value

COLUMN_TYPES = ("SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
                "WHERE a.attrelid = to_regclass(format('%%I', %(table)s::text)) AND a.attnum > 0 AND NOT a.attisdropped "
                "ORDER BY a.attnum")


def target_layout(conn: psycopg.Connection, spec: TableSpec) -> TargetLayout:
    types: dict[str, str] = dict(conn.execute(COLUMN_TYPES, {"table": spec.target}).fetchall())
    adopted = False  # the record of adopted tables may be missing (a schema applied before it existed)
    if one_value(conn.execute("SELECT to_regclass(%s::text) IS NOT NULL", (ADOPTED,))):
        adopted = one_value(conn.execute(f"SELECT EXISTS (SELECT 1 FROM {ADOPTED} WHERE table_name = %s)",
                                         (spec.target,)))
    return TargetLayout(types=types, adopted=bool(adopted))
