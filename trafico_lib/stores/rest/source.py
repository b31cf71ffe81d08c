"""Reading a source (operational) table through Supabase's REST API, into the frames the direct
path reads (``stores/pg/source.py``), value for value:

* every value as PostgreSQL's own text of it (PostgREST casts ``column::text``; a column the
  source lacks is missing), in id order, keyset pages of at most 1,000 rows
  (:mod:`.pages`) gathered into chunks of ``chunk_rows``;
* ``_source_id`` (the id's text), ``_source_updated_at`` (the change time, when the source has
  one), ``_row`` (the position in the read, from 1);
* ``_source_hash``: md5 of the row's text record and the run's fingerprint, computed here as
  PostgreSQL computes ``md5(ROW(…)::text || fingerprint)`` (:func:`record_text`), so a target
  kept by either store sets aside the same unchanged rows for the other.

An incremental read by change timestamp asks for the rows changed after the watermark minus
the look-back window, as the direct path does. A row whose hash is its active target row's
is set aside, as on the direct path, though over REST it is read (and hashed here) first.
"""
from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Iterator

import pandas as pd

from ...engine.extract import (Extract, SourceChunks, SourceMissing, absent_columns, check_source_columns,
                               detect_updated_column, frame_from_rows, since_of, watermark_of)
from ...tables import TableSpec
from .client import RestClient
from .pages import pages

_NEEDS_QUOTES = frozenset('"\\(),') | frozenset(" \t\n\v\f\r")


def record_text(values: list[str | None]) -> str:
    """PostgreSQL's text of a row of text values (``record_out``): a missing value is nothing,
    an empty one or one holding a quote, backslash, parenthesis, comma or blank is quoted,
    with quotes and backslashes doubled."""
    out = []
    for v in values:
        if v is None:
            out.append("")
        elif v == "" or any(ch in _NEEDS_QUOTES for ch in v):
            out.append('"' + v.replace("\\", "\\\\").replace('"', '""') + '"')
        else:
            out.append(v)
    return "(" + ",".join(out) + ")"


def source_hash(values: list[str | None], fingerprint: str) -> str:
    return hashlib.md5((record_text(values) + fingerprint).encode("utf-8")).hexdigest()


def read_source(client: RestClient, spec: TableSpec, columns: list[str], *, mode: str, state: dict,
                lookback: timedelta, updated_column: str | None = None, chunk_rows: int | None = None,
                fingerprint: str | None = None, page_size: int = 1000, known: dict | None = None,
                aside: list | None = None) -> Extract:
    """The source delta (``engine.extract.Extract``) of ``spec``'s source table, whose columns
    are ``columns`` (the API's description of the table).

    ``known`` (source id -> (source hash, sync key) of the target's active rows) and ``aside``
    (a list): a row whose hash is its active target row's, as last written, is set aside as
    the direct path sets it aside (``stores/pg/source.py``): not in the frames, its (sync key,
    change time, position) appended to ``aside``, counted in ``Extract.unchanged``."""
    check_source_columns(spec, columns)
    upd = detect_updated_column(columns, updated_column)
    if "id" not in columns:
        raise SourceMissing(f"source table {spec.source!r} has no id column: the REST store reads in id order")
    since = since_of(mode, state, lookback, upd)
    present = [c for c in spec.column_names if c in columns]
    select = ["id", *present] + ([upd] if upd and upd not in present else [])
    where = (lambda q: q.gt(upd, since.isoformat())) if since is not None else None
    rows = _Rows(client, spec, present, select, upd, where, fingerprint, page_size, chunk_rows,
                 known if fingerprint else None, aside)
    first = next(rows, None)
    if first is None:
        first = rows.frame([])
    return Extract(first, f"table {spec.source} (Supabase REST)", "timestamp" if upd else "hash", since,
                   rows.watermark if upd else None, upd, rest=rows, more=not rows.done,
                   absent=absent_columns(spec, columns))


class _Rows(SourceChunks):
    """The read's chunks, one or more keyset pages each (``engine.extract.SourceChunks``);
    ``rows`` and ``watermark`` as the direct path's reader keeps them."""

    def __init__(self, client, spec, present, select, upd, where, fingerprint, page_size, chunk_rows,
                 known=None, aside=None):
        self.spec, self.present, self.upd, self.fingerprint = spec, present, upd, fingerprint
        self.chunk_rows, self.known, self.aside = chunk_rows, known, aside
        self.rows, self.unchanged, self.watermark, self.done = 0, 0, None, False
        self._pages = pages(client, spec.source, select, page_size=page_size, where=where, as_text=present,
                            what=f"reading source table {spec.source}")

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
        names = self.spec.column_names
        out, positions = [], []
        for r in batch:
            self.rows += 1
            values = [r.get(c) if c in self.present else None for c in names]
            h = source_hash(values, self.fingerprint) if self.fingerprint else None
            sid, changed = str(r["id"]), r.get(self.upd) if self.upd else None
            held = self.known.get(sid) if self.known else None
            if held is not None and held[0] == h:  # as last written: aside, unread
                when = pd.Timestamp(changed).tz_convert("UTC").to_pydatetime() if changed else None
                self.aside.append((held[1], when, self.rows))
                self.unchanged += 1
                if when is not None and (self.watermark is None or when > self.watermark):
                    self.watermark = when
                continue
            out.append([*values, sid, changed, h])
            positions.append(self.rows)
        frame = frame_from_rows(out, self.spec, extra=["_source_hash"])
        frame["_row"] = pd.Series(positions, index=frame.index, dtype="int64")
        frame["_source_updated_at"] = pd.Series(pd.to_datetime(frame["_source_updated_at"], utc=True, format="ISO8601"),
                                                index=frame.index).dt.as_unit("us")
        if self.upd and len(frame):
            wm = watermark_of(frame, "_source_updated_at")
            if wm is not None and (self.watermark is None or wm > self.watermark):
                self.watermark = wm
        return frame

    def close(self) -> None:
        self.done = True
