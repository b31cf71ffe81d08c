"""Reading a source (operational) table through Supabase's REST API, into the frames the direct
path reads, value for value:

* every value as PostgreSQL's own text of it (a column the source lacks is missing), in id
  order, keyset pages of at most 1,000 rows gathered into chunks of ``chunk_rows``;
* ``_source_id`` (the id's text), ``_source_updated_at`` (the change time, when the source has
  one), ``_row`` (the position in the read, from 1);
* ``_source_hash``: md5 of the row's text record and the run's fingerprint.

Each page is one call of the table's read function ``traficov2_source_<table>``
(``schema/rest_merge.py``), which runs the direct path's own expressions for the values' text
and the hash inside the database (``stores/sql/source.py``), so a target kept by either store
sets aside the same unchanged rows for the other.

An incremental read by change timestamp asks for the rows changed after the watermark minus
the look-back window, as the direct path does. A row whose hash is its active target row's
is set aside, as on the direct path, though over REST it is read (and hashed) first; but a
whole read is first put to ``traficov2_unchanged_<table>`` (:func:`proved_unchanged`): when
every source row is as last written and every active target row is one of them, the run is a
no-op proved inside the database and no row is read at all.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pandas as pd

from ...engine.extract import (Extract, SourceChunks, SourceMissing, absent_columns, check_source_columns,
                               detect_updated_column, frame_from_rows, since_of, watermark_of)
from ...errors import SyncFailed
from ...schema.rest_merge import source_function_name, unchanged_function_name
from ...tables import TableSpec
from .client import RestClient
from .pages import MAX_PAGE


def read_source(client: RestClient, spec: TableSpec, columns: list[str], *, mode: str, state: dict,
                lookback: timedelta, updated_column: str | None = None, chunk_rows: int | None = None,
                fingerprint: str | None = None, page_size: int = 1000, known: dict | None = None,
                aside: list | None = None) -> Extract:
    """The source delta (``engine.extract.Extract``) of ``spec``'s source table, whose columns
    are ``columns`` (the API's description of the table).

    ``known`` (source id -> (source hash, sync key) of the target's active rows) and ``aside``
    (a list): a row whose hash is its active target row's, as last written, is set aside as
    the direct path sets it aside: not in the frames, its (sync key,
    change time, position, source id) appended to ``aside``, counted in ``Extract.unchanged``."""
    check_source_columns(spec, columns)
    upd = detect_updated_column(columns, updated_column)
    if "id" not in columns:
        raise SourceMissing(f"source table {spec.source!r} has no id column: the REST store reads in id order")
    since = since_of(mode, state, lookback, upd)
    rows = _Rows(client, spec, upd, since, fingerprint, page_size, chunk_rows, known if fingerprint else None, aside)
    first = next(rows, None)
    if first is None:
        first = rows.frame([])
    return Extract(first, f"table {spec.source} (Supabase REST)", "timestamp" if upd else "hash", since,
                   rows.watermark if upd else None, upd, rest=rows, more=not rows.done,
                   absent=absent_columns(spec, columns))


def proved_unchanged(client: RestClient, spec: TableSpec, columns: list[str], *, mode: str, state: dict,
                     lookback: timedelta, updated_column: str | None, fingerprint: str) -> Extract | None:
    """The Extract of a whole read whose every row is as last written, with every active target
    row one of them (nothing to merge, nothing to deactivate): asked of the database
    (``traficov2_unchanged_<table>``, one call), no row shipped; None when the read is not
    whole (a timestamp delta) or is not such a no-op (then it is read as usual)."""
    check_source_columns(spec, columns)
    upd = detect_updated_column(columns, updated_column)
    if "id" not in columns or since_of(mode, state, lookback, upd) is not None:
        return None
    got = client.call_rpc(unchanged_function_name(spec), {"p_fingerprint": fingerprint, "p_updated_column": upd},
                          what=f"reading source table {spec.source}")
    rows = int(got["rows"])
    if not rows or not rows == int(got["unchanged"]) == int(got["matched"]) == int(got["active"]):
        return None
    latest = got.get("latest")
    watermark = pd.Timestamp(latest).tz_convert("UTC").to_pydatetime() if upd and latest else None
    return Extract(_frame(spec, [], []), f"table {spec.source} (Supabase REST)", "timestamp" if upd else "hash", None, watermark, upd,
                   rest=_AllUnchanged(rows, watermark), more=False, absent=absent_columns(spec, columns))


def _frame(spec: TableSpec, rows: list[list], positions: list[int]) -> pd.DataFrame:
    """A chunk's frame: the rows' values, source id, change time (as the API sent it) and hash,
    ``_row`` their positions in the read."""
    frame = frame_from_rows(rows, spec, extra=["_source_hash"])
    frame["_row"] = pd.Series(positions, index=frame.index, dtype="int64")
    frame["_source_updated_at"] = pd.Series(pd.to_datetime(frame["_source_updated_at"], utc=True, format="ISO8601"),
                                            index=frame.index).dt.as_unit("us")
    return frame


class _AllUnchanged(SourceChunks):
    """The chunks of a read proved a no-op: none; ``rows`` source rows, all set aside unread."""

    def __init__(self, rows: int, watermark):
        self.rows = self.unchanged = rows
        self.watermark = watermark

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return self

    def __next__(self) -> pd.DataFrame:
        raise StopIteration

    def close(self) -> None:
        pass


def hashed_pages(client: RestClient, spec: TableSpec, *, fingerprint: str | None, updated_column: str | None,
                 since, page_size: int = MAX_PAGE) -> Iterator[list[dict]]:
    """The source's rows in id order, a keyset page (``page_size`` at most) per call of the
    table's read function: ``source_id``, ``changed_at``, ``source_hash`` (None without a
    fingerprint) and ``source_values`` (the registry columns' text). Stops at an empty page
    only: a shorter one may be the server's row cap, not the end."""
    size, after = max(1, min(page_size, MAX_PAGE)), None
    what = f"reading source table {spec.source}"
    while True:
        params = {"p_fingerprint": fingerprint or None, "p_after": after, "p_limit": size,
                  "p_updated_column": updated_column, "p_since": since.isoformat() if since is not None else None}
        rows = client.call_rpc(source_function_name(spec), params, what=what)
        if not rows:
            return
        yield rows
        after = rows[-1]["source_id"]
        if after is None:  # no "id > NULL" reaches past a row without an id: the same page again, forever
            raise SyncFailed(f"{what}: rows without an id cannot be read a page at a time by id")


class _Rows(SourceChunks):
    """The read's chunks, one or more keyset pages each (``engine.extract.SourceChunks``);
    ``rows`` and ``watermark`` as the direct path's reader keeps them."""

    def __init__(self, client, spec, upd, since, fingerprint, page_size, chunk_rows, known=None, aside=None):
        self.spec, self.upd = spec, upd
        self.chunk_rows, self.known, self.aside = chunk_rows, known, aside
        self.rows, self.unchanged, self.watermark, self.done = 0, 0, None, False
        self._pages = hashed_pages(client, spec, fingerprint=fingerprint, updated_column=upd, since=since,
                                   page_size=page_size)

    def __iter__(self) -> Iterator[pd.DataFrame]:
        return self

    def __next__(self) -> pd.DataFrame:
        while not self.done:  # a chunk whose rows were all set aside is not one
            batch: list[dict] = []
            for page in self._pages:
                batch.extend(page)
                if self.chunk_rows and len(batch) >= self.chunk_rows:
                    break
            else:
                self.done = True
            frame = self.frame(batch)
            if len(frame):
                return frame
        raise StopIteration

    def frame(self, batch: list[dict]) -> pd.DataFrame:
        out, positions, aside = [], [], []
        for r in batch:
            self.rows += 1
            values, h = r["source_values"], r["source_hash"]
            sid, changed = r["source_id"], r["changed_at"]
            held = self.known.get(sid) if self.known else None
            if held is not None and held[0] == h:  # as last written: aside, unread
                aside.append((held[1], changed, self.rows, sid))
                continue
            out.append([*values, sid, changed, h])
            positions.append(self.rows)
        if aside:
            self._set_aside(aside)
        frame = _frame(self.spec, out, positions)
        if self.upd and len(frame):
            wm = watermark_of(frame, "_source_updated_at")
            if wm is not None and (self.watermark is None or wm > self.watermark):
                self.watermark = wm
        return frame

    def _set_aside(self, rows: list[tuple]) -> None:
        """Rows as last written, (sync key, change time as the API sent it, position, source id)
        each: into ``aside`` with their change times converted at once (one per row was most of
        a no-op's time in Python)."""
        stamps = pd.to_datetime(pd.Series([r[1] for r in rows], dtype=object), utc=True, format="ISO8601")
        whens = [None if pd.isna(t) else t for t in stamps.dt.as_unit("us").dt.to_pydatetime()]
        if self.aside is not None:
            self.aside.extend((key, when, position, sid) for (key, _, position, sid), when in zip(rows, whens))
        self.unchanged += len(rows)
        latest = stamps.max()
        if not pd.isna(latest):
            latest = latest.to_pydatetime()
            if self.watermark is None or latest > self.watermark:
                self.watermark = latest

    def close(self) -> None:
        self.done = True
