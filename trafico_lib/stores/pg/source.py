"""Reading a source (operational) table from PostgreSQL: every value as text, in id order,
in chunks through one server-side cursor (one snapshot: every row exactly once)."""
from __future__ import annotations

from contextlib import nullcontext
from datetime import timedelta
from typing import Iterator

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
                lookback: timedelta, updated_column: str | None = None, chunk_rows: int | None = None,
                on_close=None, guard=nullcontext) -> Extract:
    """The source delta: rows changed since the watermark minus ``lookback`` (timestamp
    strategy, incremental), else every row (the row hashes decide what changed).

    The rows come through a server-side cursor, ``chunk_rows`` at a time (all at once when
    None). The returned Extract holds the first chunk; the connection stays open (inside
    its transaction, so the read is one snapshot) until the last chunk has been read or the
    Extract is closed, and ``on_close`` runs then. Each later fetch runs inside ``guard()``
    (the store's error translation).
    """
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
    cur = conn.cursor(name="trafico_source")
    cur.itersize = chunk_rows or 10_000
    cur.execute(query, [since] if since is not None else [])
    size = chunk_rows or None

    def fetch() -> list:
        with guard():
            return cur.fetchmany(size) if size else cur.fetchall()

    chunks = _Chunks(fetch, spec, size, on_close)
    first = chunks.first()
    return Extract(first, f"table {spec.source}", "timestamp" if upd else "hash", since,
                   watermark_of(first, upd), upd, rest=chunks, more=not chunks.done)


class _Chunks:
    """The chunks after the first, one ``fetch`` each; ``on_close`` runs once, when the last
    row has been read or on :meth:`close`, whichever comes first."""

    def __init__(self, fetch, spec: TableSpec, size: int | None, on_close):
        self.fetch, self.spec, self.size, self.on_close = fetch, spec, size, on_close
        self.done, self.rows = False, 0

    def _next_frame(self):
        rows = self.fetch()
        frame = frame_from_rows(rows, self.spec, first_row=self.rows + 1)
        self.rows += len(rows)
        if not self.size or len(rows) < self.size:
            self.close()
        return frame

    def first(self):
        return self._next_frame()

    def __iter__(self) -> Iterator:
        return self

    def __next__(self):
        if self.done:
            raise StopIteration
        frame = self._next_frame()
        if frame.empty:
            raise StopIteration
        return frame

    def close(self) -> None:
        if not self.done:
            self.done = True
            if self.on_close:
                self.on_close()
