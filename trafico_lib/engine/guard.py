"""What keeps a full run from deactivating a table because its source came back empty or cut short
(docs/architecture.md §5).

A full run marks ``activo = false`` every target row whose key left the source. What must not
pass is a source that is empty or cut short (a failed export, a truncated table); what must
pass is ordinary turnover, even most of a small table in a few days: incremental runs never
deactivate, so the first full run after them may deactivate most of a weekly table's rows, and
a weekly export starts the week over (replayed live data: the week's dispatches went from 99
rows to 1, the export bookings from 36 to 1, the containers waiting from 22 to 3). So the guard
judges the source, not the target:

* an empty source deactivates nothing (refused if the target holds active rows);
* a source that lost more than ``max_deactivation_share`` of its row count at the table's last
  successful run (``traficov2_sync_state.source_rows``, recorded by every successful run that
  read the whole source), and at least :data:`MIN_ROWS_JUDGED` rows, is refused before anything
  is written. Fewer rows than that say nothing: a small table turns over that much in a day.

With no count yet (a first run, or a table last synced before counts were kept) only the
empty source is judged.
"""
from __future__ import annotations

from ..errors import SourceShrank

MIN_ROWS_JUDGED = 50  # a loss smaller than this many rows is a small table's ordinary turnover


def check_source(table: str, *, rows: int, previous: int | None, share: float) -> float | None:
    """Raise :class:`~trafico_lib.errors.SourceShrank` when the source (``rows``) lost more than
    ``share`` of the ``previous`` count, and at least :data:`MIN_ROWS_JUDGED` rows; else the
    ``max_share`` its deactivation must keep: 0 for an empty source (no active row may go: the
    store refuses, nothing written), None otherwise."""
    if rows == 0:
        return 0.0
    if previous is not None and previous - rows >= MIN_ROWS_JUDGED and rows < previous * (1 - share):
        raise SourceShrank(table, rows, previous, share)
    return None


def whole_source_rows(*, rows: int, read_whole: bool) -> int | None:
    """The count a successful run records: the source's rows when it read them all (the
    unchanged rows set aside unread included), else None (the last count stays)."""
    return rows if read_whole else None
