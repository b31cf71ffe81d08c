"""Extract: a table's source delta, whichever store or file it comes from (docs/architecture.md §4 step 1, §5).

With a change-timestamp column, incremental mode reads the rows changed since the stored
watermark minus the lookback window; without one (and in full mode) it reads everything
and the row hashes decide what changed. The result carries the text values plus meta
columns ``_source_id``, ``_source_updated_at`` and ``_row`` (position in the read).

A large source is read in chunks (``database.chunk_rows``, one server-side cursor, one
snapshot): ``Extract.frame`` is the first chunk, :meth:`Extract.chunks` goes on from there,
so memory holds one chunk at a time whatever the table's size. A store's reader of those later
chunks is a :class:`SourceChunks`.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import pandas as pd

from .. import clock
from ..errors import SyncFailed
from ..tables import TableSpec

TIMESTAMP_CANDIDATES = ("updated_at", "fecha_modificacion")

# How far past the database's clock a source change time may be before it is taken for a wrong
# one (a clock a little ahead is no error). The stored watermark never passes the clock at all
# (stores/sql/record.py): the run warns of the rows past it, and health fails a watermark past it.
FUTURE_SKEW = timedelta(minutes=5)


class SourceChunks(Protocol):
    """The chunks of a store's source read after the first (``Extract.rest``), each read when
    asked for, with what the read has seen so far. The direct path's reader
    (``PostgresStore.read_source``) and the REST store's (``stores/rest/source.py``) implement it."""

    rows: int                    # source rows read so far, the first chunk's and those set aside unread included
    unchanged: int               # source rows set aside unread: their text and context are as last written
    watermark: datetime | None   # the largest source change time read so far (set-aside rows too); None: none

    def __iter__(self) -> Iterator[pd.DataFrame]: ...

    def __next__(self) -> pd.DataFrame: ...

    def close(self) -> None:
        """Stop reading (the read's connection or cursor released); the iteration ends."""


@dataclass
class Extract:
    frame: pd.DataFrame            # the first chunk: every row read when the source fits one chunk
    origin: str                    # "database" or the CSV path
    strategy: str                  # "timestamp" or "hash"
    since: datetime | None         # lower bound used (timestamp strategy, incremental)
    watermark: datetime | None     # largest source timestamp seen so far (None: no timestamp column)
    updated_column: str | None
    rest: SourceChunks | None = None  # later chunks, read on demand (None: a file, read whole)
    more: bool = False             # whether chunks follow the first
    absent: tuple[str, ...] = ()   # business columns the source lacks (a CSV export): left alone in the target

    @property
    def read(self) -> int:
        """Source rows read so far (every one once the chunks are consumed), unchanged ones included."""
        return len(self.frame) if self.rest is None else self.rest.rows

    @property
    def unchanged(self) -> int:
        """Source rows the store set aside unread: their text and context are as last written."""
        return 0 if self.rest is None else self.rest.unchanged

    def chunks(self, *, first: bool = True) -> Iterator[pd.DataFrame]:
        """The chunks in source order (``first=False``: only those after ``frame``), each read
        when asked for; the watermark grows as they arrive."""
        if first:
            yield self.frame
        if self.rest is None:
            return
        for chunk in self.rest:
            wm = self.rest.watermark if self.updated_column else None
            if wm is None:
                wm = watermark_of(chunk, self.updated_column)
            if wm is not None and (self.watermark is None or wm > self.watermark):
                self.watermark = wm
            yield chunk

    def close(self) -> None:
        if self.rest is not None:
            self.rest.close()

    def describe(self) -> str:
        where = f"since {clock.second_text(self.since)}" if self.since else "all rows"
        chunked = " (the first chunk; more follow)" if self.more else ""
        same = f"; {self.unchanged} unchanged since last written, set aside unread" if self.unchanged else ""
        return f"{len(self.frame)} rows from {self.origin} ({self.strategy} delta, {where}){chunked}{same}"


class SourceMissing(SyncFailed):
    """The source table (or a configured column of it) is not there."""


def frame_from_rows(rows, spec: TableSpec, *, first_row: int = 1, extra: Sequence[str] = ()) -> pd.DataFrame:
    """The extract frame: the source's text values, ``_source_id``, ``_source_updated_at``,
    (``extra`` meta columns the store adds), ``_row`` (the position in the whole read: a later
    chunk starts at ``first_row``)."""
    frame = pd.DataFrame(rows, columns=[*spec.column_names, "_source_id", "_source_updated_at", *extra], dtype=object)
    frame["_row"] = range(first_row, first_row + len(frame))
    return frame


def watermark_of(frame: pd.DataFrame, updated_column: str | None) -> datetime | None:
    """The largest source change timestamp read (never the client clock); None without one."""
    if not updated_column or not len(frame):
        return None
    return pd.to_datetime(frame["_source_updated_at"], utc=True).max().to_pydatetime()


def since_of(mode: str, state: dict, lookback: timedelta, updated_column: str | None) -> datetime | None:
    """The lower bound of an incremental read by timestamp: the watermark minus the lookback."""
    if updated_column and mode == "incremental" and state.get("watermark"):
        return state["watermark"] - lookback
    return None


def check_source_columns(spec: TableSpec, columns: list[str]) -> None:
    if not columns:
        raise SourceMissing(f"source table {spec.source!r} does not exist")
    if not any(c in columns for c in spec.column_names):
        raise SourceMissing(f"source table {spec.source!r} has none of the expected columns")
    key = [c for c in (*spec.key, *spec.key_optional) if c not in columns]
    if key:  # without its key no row could be matched: refused, as a CSV export without it is
        raise SourceMissing(f"source table {spec.source!r} has no {', '.join(repr(c) for c in key)} column "
                            f"(part of the table's key)")


def absent_columns(spec: TableSpec, columns: list[str]) -> tuple[str, ...]:
    """The business columns a source table lacks: left alone in the target, as a CSV export's
    missing columns are (a column the source does not have is not an emptied column)."""
    return tuple(c for c in spec.column_names if c not in columns)


def detect_updated_column(columns: list[str], configured: str | None) -> str | None:
    if configured:
        if configured not in columns:
            raise SourceMissing(f"configured updated_column {configured!r} is not a column of the source table")
        return configured
    return next((c for c in TIMESTAMP_CANDIDATES if c in columns), None)


def extract_csv(cfg, spec: TableSpec) -> Extract:
    from ..sources.csv import ABSENT, read_table_csv
    frame = read_table_csv(cfg, spec)
    return Extract(frame, str(cfg.csv_path(spec.csv_file_key)), "hash", None, None, None,
                   absent=tuple(frame.attrs.get(ABSENT, ())))
