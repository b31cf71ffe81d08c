"""A source's probe on the direct path (``engine.probe.SourceProbe``): the shared statement
(``stores/sql/probe.py``) on one read-only connection."""
from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from ...engine.extract import detect_updated_column
from ...engine.probe import SourceProbe
from ...tables import TableSpec
from ..sql.probe import NO_CHANGE_COLUMN, READ_PROBE, RECORD_PROBE, STORED_PROBE, probe_params, source_probe as probe_statement
from .rows import one_row
from .source import source_columns


def source_probe(conn: psycopg.Connection, spec: TableSpec, updated_column: str | None) -> SourceProbe | None:
    """The probe of ``spec``'s source table; None when there is no such table (its run says why).
    ``updated_column``: the configured change-time column, else the usual names'."""
    cols = source_columns(conn, spec.source)
    if not cols:
        return None
    upd = detect_updated_column(cols, updated_column)
    changed = sql.Identifier(upd) if upd else NO_CHANGE_COLUMN
    return SourceProbe.from_values(*one_row(conn.execute(probe_statement(sql.Identifier(spec.source), changed))))


def record_probe(conn: psycopg.Connection, spec: TableSpec, run_id: str, probe: SourceProbe | None,
                 context: str | None, full: bool) -> None:
    conn.execute(RECORD_PROBE, probe_params(spec, run_id, probe, context, full))


def stored_probe(conn: psycopg.Connection, spec: TableSpec) -> dict[str, Any]:
    """What the table's state keeps of its last probe (``stores/sql/probe.READ_PROBE``)."""
    return dict(zip(STORED_PROBE, one_row(conn.execute(READ_PROBE, {"table_name": spec.target}))))
