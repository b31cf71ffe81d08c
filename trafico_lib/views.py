"""What the notebooks show: each step's result turned into a frame or a line for a cell.

Small pure functions, one per thing a cell displays, so a notebook cell reads as a call
(``print(views.cross_check(chk))``) instead of carrying its own ``if``/``else``. Nothing
here computes a sync: the steps are in :mod:`trafico_lib.pipeline`; views only present
what they returned. Branches follow the registry's traits (``spec.slots``), never a
table's name, so a new table shows the same way.

Every frame a cell shows goes through :func:`show`: one look for a missing value
(:data:`MISSING`, never ``None``/``NaN``/``<NA>``), ``none`` in one line for an empty frame, a
meaningful index (the source row, or the key) and the columns that matter first. It works on
a display copy: the data the steps return is never changed.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd

from .counts import deactivated, keys_sum, rows_sum, status_timing
from .health import when_text  # times as the health block shows them
from .tables import TableSpec, get_table
from .values import is_missing

MISSING = "—"          # how a missing value looks in every frame a notebook shows
NONE = "none"          # what an empty frame shows instead of its column headers


class Note(str):
    """A line of Markdown as a cell's result: rendered in a notebook and in its HTML, plain
    text as itself (no quotes, never ``<IPython.core.display.Markdown object>``)."""

    def _repr_markdown_(self) -> str:
        return str(self)

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(str(self))

    def __repr__(self) -> str:
        return str(self)


def use_notebook_display() -> None:
    """Pandas options for the notebooks: wide frames, whole paths and texts in a cell."""
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 120)


def _cell(v: Any) -> Any:
    """One value as a frame shows it (pure): missing as :data:`MISSING`, lists joined,
    times to the minute (with their zone), numbers and texts as they are."""
    if is_missing(v):
        return MISSING
    if isinstance(v, (list, tuple, set)):
        return ", ".join(str(x) for x in v) if v else MISSING
    if isinstance(v, dt.datetime):  # pandas Timestamps too
        text = v.strftime("%Y-%m-%d %H:%M")
        return f"{text} {v.strftime('%Z') or v.strftime('%z')}".strip() if v.tzinfo else text
    if isinstance(v, dt.time):
        return v.strftime("%H:%M") if not v.second else v.strftime("%H:%M:%S")
    return v


def shown_frame(frame: pd.DataFrame, *, index: str | None = None, first: Iterable[str] = (),
                hide: Iterable[str] = (), rows: int | None = None) -> pd.DataFrame:
    """A display copy of ``frame`` (pure): ``rows`` first rows, indexed by ``index`` (else by
    the source row ``_row`` as ``row``, else by the first column), the ``first`` columns
    first, the meta columns (``_source_id``, ...) and ``hide`` left out, every missing value
    shown as :data:`MISSING`. The frame given is not changed."""
    out = frame.head(rows) if rows is not None else frame
    out = out.copy()
    if index is None and "_row" in out.columns:
        index = "_row"
    drop = [c for c in out.columns if (str(c).startswith("_") and c != index) or c in set(hide)]
    out = out.drop(columns=drop)
    if index is None and isinstance(out.index, pd.RangeIndex) and len(out.columns) > 1:
        index = out.columns[0]
    if index is not None and index in out.columns:
        out = out.set_index(index).rename_axis("row" if index == "_row" else index)
    lead = [c for c in first if c in out.columns]
    out = out[[*lead, *[c for c in out.columns if c not in lead]]]
    for c in out.columns:
        col = out[c]
        if col.dtype.kind == "f" and col.isna().any() and col.notna().any() and (col.dropna() % 1 == 0).all():
            col = col.astype("Int64")  # counts that met a missing value: integers, not 156.0
        if col.dtype == object or col.isna().any() or str(col.dtype).startswith(("datetime", "Int", "Float")):
            out[c] = col.astype(object).map(_cell)
    if out.index.dtype == object and not isinstance(out.index, pd.MultiIndex):
        out.index = out.index.map(_cell)
    return out


def show(frame: pd.DataFrame | None, *, index: str | None = None, first: Iterable[str] = (),
         hide: Iterable[str] = (), rows: int | None = None, empty: str = NONE) -> pd.DataFrame | Note | None:
    """What a cell shows for a frame: :func:`shown_frame`, or one line (``none``) when empty;
    None (nothing shown) when there is no frame at all."""
    if frame is None:
        return None
    if frame.empty:
        return Note(empty)
    return shown_frame(frame, index=index, first=first, hide=hide, rows=rows)


# ---- a table's sync ---------------------------------------------------------------------------

def about(table: TableSpec | str) -> Note:
    """The table's title and description from the registry, as Markdown (a notebook heading)."""
    spec = table if isinstance(table, TableSpec) else get_table(table)
    title = f"## Sync `{spec.name}`: {spec.title}" if spec.title else f"## Sync `{spec.name}`"
    return Note(f"{title}\n\n{spec.about}".strip())


def run_line(ctx) -> str:
    """One line on what a run is about to do: run id, source → target, mode, store."""
    dry = " (dry-run: nothing is written)" if ctx.dry_run else ""
    return f"run {ctx.run_id}: {ctx.spec.source} -> {ctx.spec.target}, {ctx.mode}{dry}, on {ctx.store.name}"


def state_line(ctx) -> str:
    """The table's stored state in one line: its last successful sync (run id), its watermark."""
    st = ctx.state or {}
    if not st.get("last_success_at"):
        return f"{ctx.spec.target} was never synced: this run reads every row"
    line = f"last successful sync of {ctx.spec.target}: {when_text(st['last_success_at'])}"
    if st.get("last_run_id"):
        line += f" (run {st['last_run_id']})"
    wm = st.get("watermark")
    return line + (f"; watermark {when_text(wm)}" if wm else "; no watermark (rows compared by hash)")


def extracted_rows(ctx, ex, rows: int = 10) -> pd.DataFrame | Note:
    """The first rows read, by source row, the key first (text exactly as in the source)."""
    return show(ex.frame, first=ctx.spec.key, rows=rows)


def normalize_line(changed: pd.DataFrame, norm) -> str:
    """How many cells normalization changed, in how many columns, and how many it could not read."""
    cells = int(changed["rows"].sum()) if len(changed) else 0
    columns = changed["column"].nunique() if len(changed) else 0
    return f"{cells} cells changed in {columns} columns; {len(norm.issues)} cells could not be read"


def frequent_changes(changed: pd.DataFrame, per_column: int = 5) -> pd.DataFrame | Note:
    """The most frequent changes of each column (``changed`` is most frequent first per column)."""
    return show(changed.groupby("column", sort=False).head(per_column), index="column")


def normalize_issues(norm, rows: int = 20) -> pd.DataFrame | Note:
    """The cells normalization could not read: source row, column, value, problem."""
    return show(norm.issues, index="row", rows=rows)


def cross_check(chk, cfg=None) -> str:
    """The external validation in one line: not compared, a note, or the keys on either side."""
    if chk is None:
        return "not compared (CSV sources off, source is the CSV itself, or only a delta was read)"
    csv = cfg.shown(chk.csv) if cfg is not None else chk.csv
    return chk.note or f"{chk.only_in_source} keys only in the source, {chk.only_in_csv} only in {csv}"


def cross_check_differences(chk, rows: int = 20) -> pd.DataFrame | Note | None:
    """A sample of the keys present on one side only; None (nothing shown) when nothing was compared."""
    return None if chk is None else show(chk.differences, index="key", rows=rows)


def _warned(val) -> pd.DataFrame:
    """The rows validation kept although they broke a warning rule."""
    return val.valid[val.valid["validation_warnings"].map(bool).astype(bool)]  # bool even when empty


def validation_line(val) -> str:
    """Rows kept, how many of them with warnings, rows rejected."""
    return (f"{len(val.valid)} rows kept, {len(_warned(val))} of them with warnings; "
            f"{len(val.rejected)} rejected")


def broken_rules(val) -> pd.DataFrame | Note:
    """The rules at least one row broke, with their counts."""
    return show(val.rule_counts[val.rule_counts["failed"] > 0], index="rule")


def rejected_rows(val, spec: TableSpec, rows: int = 20) -> pd.DataFrame | Note:
    """Rejected rows by source row, with their reasons, the key, then the other business columns."""
    return show(val.rejected, first=["reasons", *spec.key], rows=rows)


def warned_rows(val, spec: TableSpec, rows: int = 20) -> pd.DataFrame | Note:
    """Kept rows that broke a warning rule, by source row: the rules, the key, the other columns."""
    return show(_warned(val), first=["validation_warnings", *spec.key], rows=rows)


def slots_line(spec: TableSpec, enr) -> str:
    """How many slots for how many groups; for a table without slots, one line saying so."""
    if not spec.slots:
        return f"{spec.name} has no container slots: one target row per source row"
    group = spec.slots.group
    groups = enr.frame[group].nunique() if len(enr.frame) else 0
    return f"{len(enr.frame)} slots for {groups} {group.lower()}s"


def slot_summary(spec: TableSpec, enr) -> pd.DataFrame | Note | None:
    """Per group: demand, active slots, filled, empty, inactive; None for a table without slots."""
    return show(enr.slots, index=spec.slots.group) if spec.slots else None


def slot_rows(spec: TableSpec, enr, rows: int = 20) -> pd.DataFrame | Note | None:
    """The slots as they will be written, by slot key; None for a table without slots."""
    if not spec.slots:
        return None
    s = spec.slots
    cols = ["sync_key", s.group, s.sequence, s.item, s.quantity, "Estado", "activo"]
    return show(enr.frame[[c for c in cols if c in enr.frame.columns]], index="sync_key", rows=rows)


def status_line(spec: TableSpec, enr) -> str:
    """Why there is no status (when so), then how many rows (or slots) the exit records marked."""
    noun = "slots" if spec.slots else "rows"
    line = f"{len(enr.status_matches)} of {len(enr.frame)} {noun} marked from the exit records"
    return f"{enr.status_note}\n{line}" if enr.status_note else line


def status_matches(enr, rows: int = 20) -> pd.DataFrame | Note:
    """The rows the exit records marked, by key: Estado before and after, the exit's time."""
    return show(enr.status_matches, index="key", rows=rows)


def staging_line(stg) -> str:
    """What staging holds: rows to merge, rows set aside because the target already has them,
    duplicate keys resolved, and the chunks the source came in."""
    chunks = f" from {stg.chunks} chunks of the source" if stg.chunks > 1 else ""
    dups = len(stg.duplicates)
    return (f"{stg.rows} rows staged to merge{chunks}; {stg.skipped_unchanged} identical to the target set "
            f"aside; {dups} duplicate row{'' if dups == 1 else 's'} replaced by a later row of their key (latest wins)")


def adoption_line(ad) -> str:
    """What the first sync does with the rows the old tool wrote (they have no key yet)."""
    return f"Adopt: {ad.summary()}"


def adoption_rows(ad, rows: int = 20) -> pd.DataFrame | None:
    """The old tool's rows by id: the key each gets, what happens to it and whether the source
    holds that key; nothing when every row has its key."""
    if not len(ad):
        return None
    return show(ad.rows, index="id", rows=rows)


def planned_inserts(ctx, pl, rows: int = 10) -> pd.DataFrame | Note:
    """The rows to insert, by key."""
    return show(pl.inserts, index="sync_key", first=ctx.spec.key, rows=rows)


def planned_updates(pl, rows: int = 30) -> pd.DataFrame | Note:
    """The field-level changes, by key: field, old, new."""
    return show(pl.updates, index="sync_key", rows=rows)


def planned_deactivations(pl, rows: int = 20) -> pd.DataFrame | Note:
    """The keys gone from the source (full runs only), one line."""
    keys = pl.deactivations["sync_key"].head(rows).tolist() if len(pl.deactivations) else []
    if not keys:
        return Note(NONE)
    more = len(pl.deactivations) - len(keys)
    return Note(", ".join(map(str, keys)) + (f" and {more} more" if more > 0 else ""))


def batch_lines(ctx, out: Callable[[str], None] = print) -> Callable[[int, int], None]:
    """An ``on_batch`` for :func:`trafico_lib.pipeline.apply` that says one plain line per batch
    (``rows 1–5000 of 12000 written``): a notebook's progress, with no stderr bar."""
    done_before = [0]

    def line(done: int, total: int) -> None:
        if done > done_before[0]:
            out(f"apply {ctx.spec.name}: rows {done_before[0] + 1}–{done} of {total} written")
        done_before[0] = done
    return line


#: The columns of :func:`run_summary`, named for what they count (``trafico_lib.counts``).
COUNT_NAMES = {"read": "rows read", "duplicates": "duplicate rows replaced", "rejected": "rows rejected",
               "inserted": "inserted", "updated": "updated", "unchanged": "unchanged", "held": "held",
               "deactivated": "deactivated"}  # in the order they add up: read = the next two + the keys


def apply_line(ctx, res) -> str:
    """The run's status and durations, then how its counts add up, a line each
    (``trafico_lib.counts``: the very words and figures of the terminal and the log row),
    after the CSV backup's path when one was written::

        ok, run 6.1 s (write 0.027 s)
        159 rows read = 156 kept + 2 duplicate rows replaced + 1 rejected
        156 keys = 0 inserted + 1 updated + 155 unchanged; 0 deactivated
    """
    took = status_timing(res.status, res.run_seconds, res.write_seconds)
    line = took
    if "read" in res.counts:
        c, dry = res.counts, res.dry_run
        line += f"\n{rows_sum(c)}\n{keys_sum(c, dry_run=dry)}; {deactivated(c, dry_run=dry)}"
    return f"CSV backup of {ctx.spec.target}: {ctx.cfg.shown(res.backup)}\n{line}" if res.backup else line


def run_summary(res) -> pd.DataFrame:
    """The run's status and counts as a one-row frame indexed by table, each count's column
    named for what it counts (:data:`COUNT_NAMES`)."""
    order = [k for k in COUNT_NAMES if k in res.counts] + [k for k in res.counts if k not in COUNT_NAMES]
    counts = {COUNT_NAMES.get(k, k): res.counts[k] for k in order}
    return show(pd.DataFrame([{"table": res.table, "status": res.status, **counts}]), index="table")


def result_line(res) -> str:
    """What the summary cell says beside the result it records for the runner, in one line."""
    return f"{res.table}: {res.status} (run {res.run_id}); the result is recorded for the runner"


def failure_line(res) -> str | None:
    """Why a run did not succeed, in one line; None when it did."""
    return None if res.ok else f"{res.table}: {res.status}: {res.error}"


# ---- back-propagation -------------------------------------------------------------------------

def back_propagation_line(run_id: str, store, dry_run: bool) -> str:
    """One line on a back-propagation run: its id, the store, whether it writes."""
    return f"run {run_id} on {store.name}{' (dry-run: nothing is written)' if dry_run else ''}"


def back_propagation_fields(todo: dict[str, list[str]]) -> pd.DataFrame | Note:
    """The tables to treat and their fields, a row per table."""
    return show(pd.DataFrame({"fields": todo}, dtype=object).rename_axis("table"))


def back_propagation_changes(changes: pd.DataFrame, rows: int = 30) -> pd.DataFrame | Note:
    """The source edits back-propagation plans, by table: the key first."""
    return show(changes, index="table", first=["sync_key"], rows=rows)


def back_propagation_plan_line(todo: dict[str, list[str]], changes: pd.DataFrame) -> str:
    """Field changes planned per table, in one line."""
    per_table = changes["table"].value_counts() if len(changes) else pd.Series(dtype=int)
    return ", ".join(f"{n}: {int(per_table.get(n, 0))} field changes" for n in todo) or "no table to treat"


def back_propagation_results(results: list[dict[str, Any]]) -> pd.DataFrame | Note:
    """One row per table treated, by table: status, rows updated, field changes, error."""
    return show(pd.DataFrame(results), index="table", first=["status", "rows_updated", "field_changes", "error"],
                hide=["run_id"]) if results else Note(NONE)


def back_propagation_result_line(results: list[dict[str, Any]]) -> str:
    """What the summary cell says beside the result it records for the runner, in one line."""
    ok = sum(r["status"] == "ok" for r in results)
    return f"{ok} of {len(results)} tables treated; the result is recorded for the runner"


def back_propagation_record(run_id: str, dry_run: bool, results: list[dict[str, Any]]) -> dict[str, Any]:
    """What the back-propagation notebook records for the runner: every table's result and a status."""
    return {"run_id": run_id, "dry_run": dry_run, "results": results,
            "status": "ok" if all(r["status"] == "ok" for r in results) else "error"}


def back_propagation_failures(results: list[dict[str, Any]]) -> str | None:
    """The tables that could not be treated and why, in one line; None when every one was."""
    failed = [r for r in results if r["status"] != "ok"]
    return "; ".join(f"{r['table']}: {r['error']}" for r in failed) if failed else None
