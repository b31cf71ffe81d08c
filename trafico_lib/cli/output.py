"""What the command lines print: the sync summary, back-propagation, the archive line, JSON.

Every summary line starts with the time and the run id (:func:`.log.stamped`), so a cron log
can be read, grepped and cut by run; paths are shown relative to the working folder and point
at the executed notebook's ``.html`` rendering.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..counts import counts_sum, plural, unchanged_text
from ..engine.plan import PLAN_ROWS
from ..paths import shown_path
from .log import stamped

_COUNTS = ("inserted", "updated", "errors", "unchanged", "rejected", "deactivated")
_SUMMED = ("read", "duplicates", "rejected", "inserted", "updated", "unchanged", "held", "deactivated")
PLANNED_SHOWN = 5  # planned changes a dry run prints per table; the notebook has them all
_EMPTY = {"", "None", "nan", "NaT", "<NA>"}


def print_json(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def _run_id(results: list[dict], run_id: str | None) -> str | None:
    return run_id or next((r.get("run_id") for r in results if r.get("run_id")), None)


def _shown_notebook(r: dict) -> str | None:
    """The table's executed notebook as people open it: the .html, else the .ipynb."""
    return shown_path(r.get("html") or r.get("notebook"))


def format_summary(results: list[dict], *, dry_run: bool = False, store: str | None = None,
                   run_id: str | None = None, no_notebook: bool = False) -> str:
    """The old tool's closing summary, extended: the store it ran on, per table, then totals,
    each followed by how its counts add up (``trafico_lib.counts``: rows read, keys); a dry run
    adds each table's first planned changes. Every line stamped with time and run id."""
    title = "=== Dry-run Plan (nothing written) ===" if dry_run else "=== Sync Summary ==="
    lines = [title] + ([f"Store: {store}"] if store else [])
    tot = dict.fromkeys(_COUNTS, 0)
    summed: dict[str, int] = {}
    skipped = skipped_rows = 0
    for r in results:
        c = r.get("counts") or {}
        row = {"inserted": c.get("inserted", 0) or 0, "updated": c.get("updated", 0) or 0,
               "errors": 0 if r.get("status") in ("ok", "dry-run") else 1,
               "unchanged": c.get("unchanged", 0) or 0, "rejected": c.get("rejected", 0) or 0,
               "deactivated": c.get("deactivated", 0) or 0}
        where = _shown_notebook(r)
        if r.get("unchanged_since") and r.get("status") == "ok":  # skipped (pipeline.probe): its log row
            # the old tool's shape first (scripts read "<table>: Inserted N, Updated N, Errors N")
            lines.append(f"{r['table']}: {_counts_line(row, dry_run).split(' | ')[0]} | "
                         f"{unchanged_text(r['unchanged_since'], r.get('source_rows'))}")
            skipped += 1
            skipped_rows += r.get("source_rows") or 0
            continue
        lines.append(f"{r['table']}: {_counts_line(row, dry_run)}"
                     + (f" | {'notebook' if dry_run else 'archive'} {where}" if where else ""))
        if "read" in c:  # a table that ran: how its counts add up
            lines.append(f"  {counts_sum(c, dry_run=dry_run)}")
            for k in _SUMMED:
                summed[k] = summed.get(k, 0) + (c.get(k) or 0)
        if r.get("error"):
            lines.append(f"  error: {r['error']}")
        if r.get("adoption"):  # the old tool's rows, on the first sync (engine/adopt.py)
            lines.append(f"  {r['adoption']}")
        if r.get("duplicates"):
            lines.append(_duplicates_line(r, dry_run))
        if dry_run and r.get("plan"):
            lines.extend(planned_lines(r, where, no_notebook=no_notebook))
        for k in _COUNTS:
            tot[k] += row[k]
    lines.append(f"Total: {_counts_line(tot, dry_run)}"
                 + (f" | {plural(skipped, 'table')} unchanged (log rows only)" if skipped else ""))
    if summed:
        lines.append(f"  {counts_sum(summed, dry_run=dry_run)}")
    elif skipped:  # every table unchanged: the totals' second line says why they are all 0
        lines.append(f"  nothing read: {plural(skipped, 'table')} unchanged since their last run "
                     f"({plural(skipped_rows, 'source row')} as they were)")
    return stamped("\n".join(lines), _run_id(results, run_id))


def _counts_line(row: dict, dry_run: bool) -> str:
    """The old tool's counts (``Inserted N, Updated N, Errors N``), extended; a dry run's say
    what would be written, since nothing was."""
    if dry_run:
        head = f"Would insert {row['inserted']}, would update {row['updated']}, Errors {row['errors']}"
        deactivated = f"would deactivate {row['deactivated']}"
    else:
        head = f"Inserted {row['inserted']}, Updated {row['updated']}, Errors {row['errors']}"
        deactivated = f"deactivated {row['deactivated']}"
    return f"{head} | unchanged {row['unchanged']}, {_rejected(row['rejected'], dry_run)}, {deactivated}"


def _value(v: Any) -> str:
    return "(empty)" if v is None or str(v) in _EMPTY else f"'{v}'"


def planned_lines(r: dict, where: str | None, *, no_notebook: bool = False, shown: int = PLANNED_SHOWN) -> list[str]:
    """A dry run's first planned changes of a table, one per line as ``key: field old → new``
    (a new row: ``key: new row``; a deactivation: ``key: activo true → false``), then how many
    more and where all of them are: the dry run's notebook lists up to :data:`PLAN_ROWS` of each
    kind; past that the line says how many it does not list."""
    plan, c = r["plan"], r.get("counts") or {}
    changes = [f"{d['sync_key']}: {d['field']} {_value(d.get('old'))} → {_value(d.get('new'))}"
               for d in plan.get("sample_changes") or []]
    changes += [f"{k}: new row" for k in plan.get("sample_inserts") or []]
    changes += [f"{k}: activo true → false" for k in plan.get("sample_deactivations") or []]
    fields = plan.get("field_changes", len(plan.get("sample_changes") or []))
    ins, deact = c.get("inserted") or 0, c.get("deactivated") or 0
    total = fields + ins + deact
    if not total:
        return ["  planned: no change"]
    first = f"; the first {min(shown, len(changes))}:" if changes else ""
    many = f"at least {plural(fields, 'field change')}" if fields >= PLAN_ROWS else plural(fields, "field change")
    out = [f"  planned: {many} ({plural(c.get('updated') or 0, 'row')}), "
           f"{plural(ins, 'new row')}, {deact} to deactivate{first}"]
    out += [f"    {line}" for line in changes[:shown]]
    listed = min(shown, len(changes))
    more = total - listed
    in_notebook = sum(min(n, PLAN_ROWS) for n in (fields, ins, deact))  # what the notebook lists
    unlisted = total - in_notebook
    if no_notebook:
        where_all = "the dry-run notebook lists them all (run it without --no-notebook)"
        if unlisted > 0:
            where_all = (f"the dry-run notebook lists up to {PLAN_ROWS:,} of each kind (run it without "
                         "--no-notebook)")
    elif not where:
        where_all = "archiving is off: the dry-run notebook was not kept"
    elif unlisted > 0:
        where_all = (f"{in_notebook - listed:,} of them in {where} (up to {PLAN_ROWS:,} of each kind); "
                     f"{'at least ' if fields >= PLAN_ROWS else ''}{unlisted:,} not listed anywhere before a run "
                     "that writes (then in traficov2_sync_changes and the target)")
    else:
        where_all = f"all in {where}"
    if more > 0:
        out.append(f"    … {more:,} more; {where_all}" if listed else f"    {where_all}")
    else:
        out.append(f"    ({where_all.replace('all in ', 'also in ')})")
    return out


def _rejected(n: int, dry_run: bool) -> str:
    """Rows refused (not counted as Errors, which are failed tables): where to read them. A
    reject already recorded today is not recorded again, but marked seen by this run: every
    reject of the run is a row of traficov2_sync_rejects whose ``last_run_id`` is the run's id
    (``run_id`` is the run that first recorded it)."""
    if not n:
        return "rejected 0"
    where = "not recorded: dry run" if dry_run else "see traficov2_sync_rejects, last_run_id = this run"
    return f"rejected {n} ({where})"


def _duplicates_line(r: dict, dry_run: bool) -> str:
    """Which source rows lost to a later row of their key: the first few, and where all are
    (change rows whose ``last_run_id`` is this run's: a repeat is marked seen, not recorded again)."""
    dups, n = r["duplicates"], (r.get("counts") or {}).get("duplicates") or len(r["duplicates"])
    shown = ", ".join(f"{d['sync_key']} (source id {d['source_id']})" for d in dups[:5])
    more = f" and {n - 5} more" if n > 5 else ""
    where = "" if dry_run else "; all in traficov2_sync_changes (field 'duplicate', last_run_id = this run)"
    return f"  duplicate keys, latest row kept: {plural(n, 'row')} replaced: {shown}{more}{where}"


def format_back_propagation(results: list[dict], *, dry_run: bool, run_id: str | None = None,
                            where: str | None = None, no_notebook: bool = False,
                            shown: int = PLANNED_SHOWN) -> str:
    """Back-propagation's lines: per table, the source rows it updated (a dry run: would update)
    and its field changes, then the first edits as ``key: field old → new`` (``key``: the source
    row's key as the source holds it), then how many more and where all of them are (``where``:
    the run's notebook)."""
    lines = ["=== Back-propagation" + (" (dry-run, nothing written)" if dry_run else "") + " ==="]
    for r in results:
        n, fields = r.get("rows_updated", 0) or 0, r.get("field_changes", 0) or 0
        rows = plural(n, "source row")
        done = f"would update {rows}" if dry_run else f"{rows} updated"
        done += f" ({plural(fields, 'field change')})" if fields else ""
        lines.append(f"{r['table']}: {done}" + (f"  error: {r['error']}" if r.get("error") else ""))
        edits = r.get("changes") or []
        lines += [f"    {d['key']}: {d['field']} {_value(d.get('old'))} → {_value(d.get('new'))}"
                  for d in edits[:shown]]
        listed = min(shown, len(edits))
        if fields > listed:
            if no_notebook:
                where_all = "the back-propagation notebook lists them all (run it without --no-notebook)"
            else:
                where_all = ((f"all in {where}" if fields <= PLAN_ROWS else f"the first {PLAN_ROWS:,} in {where}")
                             if where else "archiving is off: the notebook was not kept")
            lines.append(f"    … {fields - listed:,} more; {where_all}" if listed else f"    {where_all}")
    return stamped("\n".join(lines), _run_id(results, run_id))


def format_archive(outputs: Iterable[str | Path], *, dry_run: bool = False, run_id: str | None = None) -> str | None:
    """Where the run's executed notebooks are, pointing at their .html renderings."""
    paths = [Path(p) for p in outputs if p]
    if not paths:
        return None
    where = sorted({shown_path(p.parent) for p in paths})
    pages = [p.with_suffix(".html") for p in paths]
    open_ = shown_path(pages[0]) if len(pages) == 1 else f"{where[0]}/{run_id or '<run id>'}_*.html"
    what = "Dry-run notebooks (apart from the audit archive)" if dry_run else "Archive"
    return stamped(f"{what}: {', '.join(where)} ({plural(len(paths), 'executed notebook')}; open {open_})", run_id)
