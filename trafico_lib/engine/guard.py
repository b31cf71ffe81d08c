"""What keeps a full run from deactivating a table because its source came back empty or cut short
(docs/architecture.md §5).

A full run marks ``activo = false`` every target row whose key left the source. What must not
pass is a source that is empty or cut short (a failed export, a truncated table); what must
pass is ordinary turnover, even most of a small table in a few days: incremental runs never
deactivate, so the first full run after them may deactivate most of a weekly table's rows.
So the guard judges the source, not the target: the source's row count against its count at
the table's last successful run (``traficov2_sync_state.source_rows``, recorded by every
successful run that read the whole source). A source that lost more than
``max_deactivation_share`` of those rows is refused, before anything is written.

With no count yet (a first run, or a table last synced before counts were kept), only an
empty source is suspect: then no active row may be deactivated (``max_share`` 0, checked by
the store when it deactivates; refused as before, nothing written).
"""
from __future__ import annotations

from ..errors import SourceShrank


def check_source(table: str, *, rows: int, previous: int | None, share: float) -> float | None:
    """Raise :class:`~trafico_lib.errors.SourceShrank` when the source (``rows``) lost more than
    ``share`` of the ``previous`` count; else the ``max_share`` the deactivation must keep
    (None: any, 0: none, for an empty source with nothing to compare it with)."""
    if previous is None:
        return 0.0 if rows == 0 else None
    if previous > 0 and rows < previous * (1 - share):
        raise SourceShrank(table, rows, previous, share)
    return None


def whole_source_rows(*, rows: int, read_whole: bool) -> int | None:
    """The count a successful run records: the source's rows when it read them all (the
    unchanged rows set aside unread included), else None (the last count stays)."""
    return rows if read_whole else None
