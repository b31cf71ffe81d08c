"""A run's writes, the same on every store (docs/architecture.md §4, step 6): the check that no
other run of the table finished meanwhile, and the batch loop.

Each store's sync session says what a batch is (``bounds``), how to write one (``write(lo,
hi)``: the staged rows ``lo`` up to, not including, ``hi``, written or undone as one) and which
of its failures may be the rows' fault. A batch that fails so is split in halves until the rows
the database refuses are found: each becomes a reject with the database's reason, while every
other row of its batch is written. The store decides what a batch and a row number are (the
direct path: the staged rows' numbers, a slice per savepoint; REST: positions in the staged
records, a batch per call); the rule is written once, here.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from ..errors import TableLocked
from .plan import MergeOutcome


def check_state(table: str, expected_last_run_id: str | None, last_run_id: str | None) -> None:
    """Raise :class:`~trafico_lib.errors.TableLocked` when the table's last run, as the store
    reads it now (under the table's lock or lease), is not the one this run started from:
    another run finished while this one was preparing, and its staged rows may be stale."""
    if last_run_id != expected_last_run_id:
        raise TableLocked(f"{table}: another run ({last_run_id}) finished while this one was preparing; "
                          "nothing was written, run again")


@dataclass
class Written:
    """What one write of a batch (or part of one) did."""
    inserted: int = 0
    updated: int = 0
    left: int = 0                       # rows the desk edited meanwhile, left for the next run
    left_since: datetime | None = None  # the earliest source change time among them


def run_in_batches(bounds: Iterable[tuple[int, int, int]], run: Callable[[int, int], None], out: MergeOutcome,
                   total: int, on_batch: Callable[[int, int], None] | None = None) -> MergeOutcome:
    """Write ``total`` staged rows batch by batch: ``run(first, last)`` for each ``(first, last,
    rows)`` of ``bounds``, then ``on_batch(rows done, total)``; the rows neither written nor
    refused were unchanged. (Each store's session decides what a batch is.)"""
    done = 0
    for lo, hi, rows in bounds:
        run(lo, hi)
        done += rows
        out.batches += 1
        if on_batch:
            on_batch(done, total)
    out.unchanged = total - out.inserted - out.updated - len(out.rejects)
    return out


def write_batches(bounds: Iterable[tuple[int, int, int]], total: int, write: Callable[[int, int], Written], *,
                  splits: Callable[[Exception], bool], reason: Callable[[Exception], str],
                  row: Callable[[int], dict], refuses: Callable[[Exception], bool] | None = None,
                  before_batch: Callable[[], None] | None = None,
                  on_batch: Callable[[int, int], None] | None = None) -> MergeOutcome:
    """Write the staged rows: ``write(lo, hi)`` for each ``(lo, hi, rows)`` of ``bounds`` (rows
    ``lo`` up to, not including, ``hi``), ``before_batch()`` before each, ``on_batch(rows done,
    total)`` after each.

    A write that fails with an error ``splits`` says the rows may cause (a refused value, a
    broken constraint, a statement timeout) is tried again in halves; a single row failing so is
    a reject, ``{sync_key, reasons: ["database: <reason(exc)>"], raw_row: row(n)}``, if
    ``refuses`` says so (default: ``splits``), else the error is raised (a timeout one row
    alone still hits is not that row's fault). Any other error is raised at once."""
    out = MergeOutcome()
    refused = refuses or splits

    def halving(lo: int, hi: int) -> None:
        try:
            got = write(lo, hi)
        except Exception as exc:
            if not splits(exc):
                raise
            if hi - lo == 1:
                if not refused(exc):
                    raise
                values = row(lo)
                out.rejects.append({"sync_key": values["sync_key"], "reasons": [f"database: {reason(exc)}"],
                                    "raw_row": values})
                return
            mid = (lo + hi) // 2
            halving(lo, mid)
            halving(mid, hi)
            return
        out.inserted += got.inserted
        out.updated += got.updated
        out.leave(got.left, got.left_since)

    def batch(lo: int, hi: int) -> None:
        if before_batch is not None:
            before_batch()
        halving(lo, hi)

    return run_in_batches(bounds, batch, out, total, on_batch)
