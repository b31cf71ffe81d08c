"""Reading a source (operational) table from PostgreSQL: every value as text, in id order."""
from __future__ import annotations

from datetime import timedelta

import psycopg
from psycopg import sql

from ...engine.extract import (Extract, check_source_columns, detect_updated_column, frame_from_rows, since_of,
                               watermark_of)
from ...tables import TableSpec


def source_columns(conn: psycopg.Connection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall()
    return [r[0] for r in rows]


def read_source(conn: psycopg.Connection, spec: TableSpec, *, mode: str, state: dict,
                lookback: timedelta, updated_column: str | None = None) -> Extract:
    """The source delta: rows changed since the watermark minus ``lookback`` (timestamp
    strategy, incremental), else every row (the row hashes decide what changed)."""
    cols = source_columns(conn, spec.source)
    check_source_columns(spec, cols)
    upd = detect_updated_column(cols, updated_column)
    select = [sql.SQL("{}::text").format(sql.Identifier(c)) if c in cols else sql.SQL("NULL::text")
              for c in spec.column_names]
    id_expr = sql.SQL("{}::text").format(sql.Identifier("id")) if "id" in cols else sql.SQL("NULL::text")
    upd_expr = sql.Identifier(upd) if upd else sql.SQL("NULL::timestamptz")
    since = since_of(mode, state, lookback, upd)
    where = sql.SQL(" WHERE {} > %s").format(sql.Identifier(upd)) if since is not None else sql.SQL("")
    order = sql.SQL(" ORDER BY {}").format(sql.Identifier("id")) if "id" in cols else sql.SQL("")
    query = sql.SQL("SELECT {cols}, {id} AS _source_id, {upd} AS _source_updated_at FROM {src}{where}{order}").format(
        cols=sql.SQL(", ").join(select), id=id_expr, upd=upd_expr, src=sql.Identifier(spec.source),
        where=where, order=order)
    with conn.cursor() as cur:
        cur.execute(query, [since] if since is not None else [])
        frame = frame_from_rows(cur.fetchall(), spec)
    return Extract(frame, f"table {spec.source}", "timestamp" if upd else "hash", since,
                   watermark_of(frame, upd), upd)
