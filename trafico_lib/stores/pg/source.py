"""Reading a source (operational) table from PostgreSQL: every value as text, in id order,
in chunks through one server-side cursor (one snapshot: every row exactly once). The values'
text and the row hash are the expressions the REST store's read runs too (``stores/sql/source.py``)."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from datetime import timedelta

import pandas as pd
import psycopg
from psycopg import sql

from ...engine.extract import (Extract, SourceChunks, absent_columns, check_source_columns, detect_updated_column,
                               frame_from_rows, since_of, watermark_of)
from ...tables import TableSpec
from ..sql.source import MISSING, as_text, last_written, row_hash, value_names
from .background import Background
from .rows import one_row, one_value


def source_columns(conn: psycopg.Connection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall()
    return [r[0] for r in rows]


def read_source(conn: psycopg.Connection, spec: TableSpec, *, mode: str, state: dict,
                lookback: timedelta, updated_column: str | None = None, chunk_rows: int | None = None,
                fingerprint: str | None = None, unchanged_table: str | None = None,
                on_close=None, guard=nullcontext) -> Extract:
    """The source delta: rows changed since the watermark minus ``lookback`` (timestamp
    strategy, incremental), else every row (the row hashes decide what changed).

    The rows come through a server-side cursor, ``chunk_rows`` at a time (all at once when
    None), in one REPEATABLE READ transaction (one snapshot). The returned Extract holds the
    first chunk; the transaction stays open until the last chunk has been read or the Extract
    is closed, and ``on_close`` runs then. Each later fetch runs inside ``guard()`` (the
    store's error translation). ``conn`` is in autocommit mode and may be used for other
    statements (COPY into temp tables) between fetches.

    With a ``fingerprint`` (the run's context, ``engine.fingerprint``), an ``id`` column and an
    ``unchanged_table`` (temp: sync_key, source_updated_at, _order, source_id), each row's
    ``_source_hash`` is md5 of its text and the fingerprint, and a row whose active target row
    was written from the same source row with the same hash is not read at all: the same
    snapshot copies its target key, change time, position and source id into ``unchanged_table``.
    ``_order`` is the row's position in the read, for read and unread rows alike.
    """
    own = conn.autocommit  # else inside the caller's (repeatable read) transaction, left open
    if own:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" if not unchanged_table
                     else "BEGIN ISOLATION LEVEL REPEATABLE READ")
    try:
        # Matching source rows to target rows by source id and hash has no index to use: a hash
        # join, whatever the statistics say (a target never analyzed yet looks empty, and a
        # nested loop over it costs rows x rows).
        conn.execute("SET LOCAL enable_nestloop = off")
        cols = source_columns(conn, spec.source)
        check_source_columns(spec, cols)
        upd = detect_updated_column(cols, updated_column)
        has_id = "id" in cols
        # nothing can be set aside while the target has no active row (a first load): no hash pass
        skip = bool(fingerprint) and has_id and unchanged_table is not None and one_value(conn.execute(
            sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE activo)").format(sql.Identifier(spec.target))))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    text = [as_text(c) if c in cols else MISSING for c in spec.column_names]
    names = [sql.Identifier(n) for n in value_names(len(text))]
    since = since_of(mode, state, lookback, upd)
    params = [since] if since is not None else []

    # the read's rows, numbered in id order: the text values as _c0.., source id, change time,
    # position (_pos), raw id; each row's hash is md5 of its text values and the fingerprint
    changed_at = sql.Identifier(upd) if upd else sql.SQL("NULL::timestamptz")
    position = sql.SQL("row_number() OVER (ORDER BY id)") if has_id else sql.SQL("row_number() OVER ()")
    # (a bound comes only with a change-time column: since_of)
    where = sql.SQL(" WHERE {} > %s").format(sql.Identifier(upd)) if since is not None and upd else sql.SQL("")
    numbered = sql.SQL(
        "SELECT {vals}, {id} AS _source_id, {upd} AS _source_updated_at, {pos} AS _pos, {raw_id} AS _id "
        "FROM {src}{where}").format(
        vals=sql.SQL(", ").join(sql.SQL("{} AS {}").format(t, n) for t, n in zip(text, names)),
        id=sql.SQL("id::text") if has_id else sql.SQL("NULL::text"), upd=changed_at, pos=position,
        raw_id=sql.SQL("id") if has_id else sql.SQL("NULL::int"), src=sql.Identifier(spec.source), where=where)
    hash_of = row_hash([sql.SQL("n.{}").format(x) for x in names], sql.Literal(fingerprint)) \
        if fingerprint else sql.SQL("NULL::text")
    unchanged, unchanged_wm = 0, None
    try:
        others: sql.Composable = sql.SQL("")
        if skip and unchanged_table is not None:  # (skip comes with a table to set rows aside in)
            # one pass over narrow rows sets the unchanged ones aside (target key, time, position)...
            hashed = sql.SQL(
                "SELECT id::text AS _source_id, {upd} AS _source_updated_at, {h} AS _h, "
                "{pos} AS _pos FROM {src}{where}").format(
                upd=changed_at, h=row_hash(text, sql.Literal(fingerprint)), pos=position,
                src=sql.Identifier(spec.source), where=where)
            unchanged, unchanged_wm, remaining = one_row(conn.execute(sql.SQL(
                "WITH ins AS (INSERT INTO {dest} (sync_key, source_updated_at, _order, source_id) "
                "SELECT t.sync_key, n._source_updated_at, n._pos, n._source_id FROM ({hashed}) n JOIN {target} t "
                "ON {match} RETURNING source_updated_at) SELECT count(*), max(source_updated_at), "
                "(SELECT count(*) FROM {src}{where}) - count(*) FROM ins").format(
                dest=sql.Identifier(unchanged_table), hashed=hashed, target=sql.Identifier(spec.target),
                match=last_written(), src=sql.Identifier(spec.source), where=where), params * 2))
            # ...the read hashes only the others (and returns nothing at once when there are none)
            if not remaining:
                others = sql.SQL(" WHERE false")
            elif unchanged:
                others = sql.SQL(" WHERE NOT EXISTS (SELECT 1 FROM {} u WHERE u._order = n._pos)").format(
                    sql.Identifier(unchanged_table))
        query = sql.SQL("SELECT {vals}, n._source_id, {micros}, {hash} AS _source_hash, n._pos "
                        "FROM ({numbered}) n{others} ORDER BY {order}").format(
            vals=sql.SQL(", ").join(sql.SQL("n.{}").format(x) for x in names), hash=hash_of,
            micros=_MICROS.format(sql.SQL("n._source_updated_at")), numbered=numbered, others=others,
            order=sql.SQL("n._id" if has_id else "n._pos"))  # _pos numbers the rows in id order
        cur = conn.cursor(name="trafico_source")
        cur.itersize = chunk_rows or 10_000
        cur.execute(query, params)
        conn.execute("SET LOCAL enable_nestloop = DEFAULT")  # planned: the rest of a transaction as usual
    except BaseException:
        if own:
            conn.execute("ROLLBACK")
        raise
    size = chunk_rows or None

    def fetch() -> list:
        with guard():
            return cur.fetchmany(size) if size else cur.fetchall()

    def close() -> None:
        try:
            cur.close()
            if own:
                conn.execute("COMMIT")  # keeps what the read copied aside; ends the snapshot
        except psycopg.Error:
            pass
        if on_close:
            on_close()

    chunks = _Chunks(fetch, spec, size, close, unchanged, watermark=unchanged_wm)
    first = chunks.first()
    return Extract(first, f"table {spec.source}", "timestamp" if upd else "hash", since,
                   chunks.watermark if upd else None, upd, rest=chunks, more=not chunks.done,
                   absent=absent_columns(spec, cols))


def count_changed_after(conn: psycopg.Connection, spec: TableSpec, column: str, after) -> int:
    """Source rows whose change time ``column`` is later than ``after``."""
    return one_value(conn.execute(sql.SQL("SELECT count(*) FROM {} WHERE {} > %s").format(
        sql.Identifier(spec.source), sql.Identifier(column)), (after,)))


_EXTRA = ["_source_hash", "_pos"]

# The change time travels as microseconds since the epoch: one vectorized conversion per
# chunk instead of a timezone-aware datetime object per row.
_MICROS = sql.SQL("(extract(epoch FROM {}) * 1000000)::bigint AS _source_updated_at")


def _timestamps(micros: pd.Series) -> pd.Series:
    stamps = pd.to_datetime(pd.array(micros, dtype="Int64"), unit="us", utc=True).as_unit("us")
    return pd.Series(stamps, index=micros.index)


class _Chunks(SourceChunks):
    """The chunks after the first (``engine.extract.SourceChunks``), one ``fetch`` each; ``on_close`` runs once, when the last
    row has been read or on :meth:`close`, whichever comes first. ``rows`` counts every source
    row read (``unchanged``: those set aside unread, counted too), ``watermark`` is the largest
    change time of them all.

    The next chunk is read ahead, on one worker thread, while the caller works on the current
    one: the database reads while Python normalizes and validates. The connection serializes
    the statements of both threads (the caller's COPY into the staging waits for a fetch in
    flight, and the other way round)."""

    def __init__(self, fetch, spec: TableSpec, size: int | None, on_close, unchanged: int = 0, watermark=None):
        self.fetch, self.spec, self.size, self.on_close = fetch, spec, size, on_close
        self.done, self.unchanged, self.rows, self.watermark = False, unchanged, unchanged, watermark
        self._ahead = Background("trafico-read")

    def _next_frame(self):
        rows = self.fetch()
        frame = frame_from_rows(rows, self.spec, extra=_EXTRA)
        frame["_row"] = frame.pop("_pos").astype("int64") if len(frame) else frame.pop("_pos")
        frame["_source_updated_at"] = _timestamps(frame["_source_updated_at"])
        self.rows += len(rows)
        if not self.size or len(rows) < self.size:
            self._end()
        if frame["_source_updated_at"].notna().any():
            wm = watermark_of(frame, "_source_updated_at")
            if self.watermark is None or wm > self.watermark:
                self.watermark = wm
        return frame

    def _take(self):
        """The next chunk (read ahead when it could be), and the one after it asked for."""
        frame = self._ahead.result() if self._ahead.pending else self._next_frame()
        if not self.done:
            self._ahead.start(self._next_frame)
        return frame

    def first(self):
        return self._take()

    def __iter__(self) -> Iterator:
        return self

    def __next__(self):
        if self.done and not self._ahead.pending:
            raise StopIteration
        frame = self._take()
        if frame.empty:
            raise StopIteration
        return frame

    def _end(self) -> None:
        if not self.done:
            self.done = True
            if self.on_close:
                self.on_close()

    def close(self) -> None:
        self._ahead.close()  # the connection must be free before it is closed
        self._end()
