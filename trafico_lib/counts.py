"""A table's run in numbers, as people read them: what each count counts, how they add up, and
the run's durations, in one wording for the terminal, the notebook and the health history.

The counts (``pipeline.counts_of``, kept in the run's log row) add up two ways:

- **rows**: the source rows ``read`` = rows kept + ``duplicates`` (rows a later row of their
  key replaced: latest wins) + ``rejected`` (refused by a blocking rule or by the database);
- **keys**: the keys the kept rows make (one per row; a slot table's rows make one per slot)
  = ``inserted`` + ``updated`` + ``unchanged`` + ``held`` (slots of a group with a rejected
  row, left as they are). ``deactivated`` keys left the source (full runs).

So the target's active rows after a run are the active rows before + ``inserted`` −
``deactivated`` (a run that neither brings back a deactivated key nor empties a slot).

Two durations, each named for what it measures (``RunResult``, the log row):

- ``run_seconds``: the table's run, from its first step (``pipeline.start``: the sync
  notebook's first cell) to its log row;
- ``write_seconds``: of it, the writes under the table's lock (merge, deactivations, rejects,
  changes), to the log row.

The runner's wall time of a notebook adds the kernel's start and the archive around the run.
Pure, standard library only (the command line starts light).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any


def plural(n: Any, what: str, many: str | None = None, *, number: Callable[[Any], str] = str) -> str:
    """``1 row``, ``2 rows`` (``many``: an irregular plural; ``number``: how the count is written,
    e.g. ``1,234`` on a page): the one rule every view's counted words follow."""
    return f"{number(n)} {what if n == 1 else (many or what + 's')}"


def _int(counts: Mapping[str, Any], key: str) -> int:
    v = counts.get(key)
    return int(v) if isinstance(v, (int, float)) and v == v else 0


def kept_rows(counts: Mapping[str, Any]) -> int:
    """The source rows read that neither a later row replaced nor a rule or the database refused."""
    return _int(counts, "read") - _int(counts, "duplicates") - _int(counts, "rejected")


def keys(counts: Mapping[str, Any]) -> int:
    """The keys the kept rows make: inserted + updated + unchanged + held."""
    return sum(_int(counts, k) for k in ("inserted", "updated", "unchanged", "held"))


def rows_sum(counts: Mapping[str, Any]) -> str:
    """``159 rows read = 156 kept + 2 duplicate rows replaced + 1 rejected``."""
    dups = _int(counts, "duplicates")
    return (f"{plural(_int(counts, 'read'), 'row')} read = {kept_rows(counts)} kept + "
            f"{plural(dups, 'duplicate row')} replaced + {_int(counts, 'rejected')} rejected")


def keys_sum(counts: Mapping[str, Any], *, dry_run: bool = False) -> str:
    """``156 keys = 0 inserted + 1 updated + 155 unchanged`` (+ ``3 held`` when some are); a
    dry run's say what would be written: ``156 to insert + ...``."""
    ins, upd = ("to insert", "to update") if dry_run else ("inserted", "updated")
    held = _int(counts, "held")
    return (f"{plural(keys(counts), 'key')} = {_int(counts, 'inserted')} {ins} + {_int(counts, 'updated')} {upd} + "
            f"{_int(counts, 'unchanged')} unchanged" + (f" + {held} held" if held else ""))


def deactivated(counts: Mapping[str, Any], *, dry_run: bool = False) -> str:
    """``0 deactivated`` (a dry run's: ``0 to deactivate``)."""
    return f"{_int(counts, 'deactivated')} {'to deactivate' if dry_run else 'deactivated'}"


def counts_sum(counts: Mapping[str, Any], *, dry_run: bool = False) -> str:
    """Both sums and the deactivations: ``159 rows read = ...; 156 keys = ...; 0 deactivated``."""
    return f"{rows_sum(counts)}; {keys_sum(counts, dry_run=dry_run)}; {deactivated(counts, dry_run=dry_run)}"


def seconds_text(seconds: float | None) -> str:
    """A duration as every view shows it: under a second to the millisecond (``0.027 s``),
    else to the tenth (``6.1 s``); ``?`` when unknown."""
    if seconds is None or seconds != seconds:
        return "?"
    return f"{seconds:.3f} s" if seconds < 1 else f"{seconds:.1f} s"


def timing(run_seconds: float | None, write_seconds: float | None = None, *,
           wall_seconds: float | None = None) -> str:
    """The run's durations: ``run 6.1 s (write 0.027 s)``; with the runner's wall time of the
    notebook, ``in 9.4 s: run 6.1 s (write 0.027 s) + kernel start and archive 3.3 s`` (the
    parts add up as shown); ``in 3.2 s (kernel start, notebook and archive)`` when the run
    recorded none."""
    if run_seconds is None:
        return f"in {seconds_text(wall_seconds)} (kernel start, notebook and archive)" if wall_seconds is not None \
            else "in ? s"
    run = f"run {seconds_text(run_seconds)}" + (f" (write {seconds_text(write_seconds)})"
                                                if write_seconds is not None else "")
    if wall_seconds is None:
        return run
    shown = round(run_seconds, 1) if run_seconds >= 1 else round(run_seconds, 3)
    wall = round(max(wall_seconds, shown), 1)
    return f"in {wall:.1f} s: {run} + kernel start and archive {max(wall - shown, 0.0):.1f} s"


def status_timing(status: str, run_seconds: float | None, write_seconds: float | None = None, *,
                  wall_seconds: float | None = None) -> str:
    """``ok in 9.4 s: run 6.1 s (...) + ...``, ``ok, run 6.1 s (write 0.027 s)``: the status and
    :func:`timing`."""
    took = timing(run_seconds, write_seconds, wall_seconds=wall_seconds)
    return f"{status} {took}" if took.startswith("in ") else f"{status}, {took}"


def unchanged_text(since_run_id: str | None, source_rows: int | None) -> str:
    """A run skipped because nothing changed (``pipeline.probe``): ``unchanged since
    20261206T121257-89e0ad (159 source rows); log row only, no notebook``."""
    rows = f" ({plural(source_rows, 'source row')})" if source_rows is not None else ""
    return f"unchanged since {since_run_id or 'its last run'}{rows}; log row only, no notebook"
