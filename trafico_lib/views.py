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
import html
import numbers
import re
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

import pandas as pd

from . import clock
from .counts import deactivated, keys_sum, rows_sum, status_timing
from .counts import plural as counts_plural
from .engine.plan import PLAN_ROWS
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


class Listing:
    """A list of rows as a cell's result: a line above it (``head``), the shown frame, and a line
    below (``note``: how many rows it left out and where they are). In HTML the table sits in a
    box that scrolls both ways (a long list or a wide one never clips the page), its header
    staying in view; as plain text, the frame's text between the two lines."""

    def __init__(self, frame: pd.DataFrame, *, head: str | None = None, note: str | None = None,
                 index: bool = True):
        self.frame, self.head, self.note, self.index = frame, head, note, index

    def __len__(self) -> int:
        return len(self.frame)

    def _repr_html_(self) -> str:
        table = self.frame.to_html(index=self.index, escape=True)
        table = re.sub(r">\s+<", "><", table)  # no indentation: a thousand rows stay small
        box = (f'<div class="trafico-listing" style="max-height: 40em; overflow: auto; max-width: 100%; width: fit-content">'
               f"{table}</div>")
        lines = [f"<p>{html.escape(t)}</p>" for t in (self.head,) if t]
        tail = [f"<p>{html.escape(t)}</p>" for t in (self.note,) if t]
        return ("<style>.trafico-listing thead th { position: sticky; top: 0; "
                "background: var(--jp-layout-color0, #fff); } .trafico-listing td, .trafico-listing th "
                "{ white-space: nowrap; }</style>") + "".join([*lines, box, *tail])

    def __str__(self) -> str:
        return "\n".join(t for t in (self.head, self.frame.to_string(index=self.index), self.note) if t)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(str(self))


def listing(frame: pd.DataFrame, *, shown: int, total: int | None = None, what: str = "row",
            whats: str | None = None, where: str, head: str | None = None, index: str | None = None,
            first: Iterable[str] = (), hide: Iterable[str] = (), show_index: bool = True,
            by: str | None = None) -> Listing | Note:
    """The first ``shown`` rows of ``frame`` as a :class:`Listing`; when some are left out
    (``total``, default ``len(frame)``, is larger), a last line says how many and ``where`` all
    of them are. ``by``: the column whose groups share one format for the other columns
    (:func:`formatted`). An empty frame: ``none``."""
    total = len(frame) if total is None else total
    if frame.empty or not total:
        return Note(NONE)
    part = frame.head(shown)
    if by is not None:
        part = formatted(part, [c for c in part.columns if c != by], by=by)
    if not show_index:  # the columns as they are, the lead ones first: no index repeats one of them
        lead = [c for c in first if c in part.columns]
        part = part[[*lead, *[c for c in part.columns if c not in lead]]].reset_index(drop=True)
    out = shown_frame(part, index=index, first=first, hide=hide)
    if not show_index and not isinstance(out.index, pd.RangeIndex):
        out = out.reset_index()
    left = total - len(out)
    note = f"… {counted(left, 'more ' + what, whats and 'more ' + whats)}; {where}" if left > 0 else None
    return Listing(out, head=head, note=note, index=show_index)


def use_notebook_display() -> None:
    """Pandas options for the notebooks: wide frames, whole paths and texts in a cell."""
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.width", 200)
    pd.set_option("display.max_colwidth", 120)


def counted(n: int, word: str, plural: str | None = None) -> str:
    """``n`` and ``word`` in the right number: ``1 row``, ``2 rows``, ``1,500 rows`` (``plural`` when
    the word does not just take an ``s``: ``1 key column``, ``2 key columns``): the counts'
    one rule (:func:`trafico_lib.counts.plural`), written with thousands separators."""
    return counts_plural(n, word, plural, number="{:,}".format)


def _cell(v: Any) -> Any:
    """One value as a frame shows it (pure): missing as :data:`MISSING`, lists joined,
    times to the minute (an aware one in the display zone, with its zone), numbers and texts as they are."""
    if is_missing(v):
        return MISSING
    if isinstance(v, (list, tuple, set)):
        return ", ".join(str(x) for x in v) if v else MISSING
    if isinstance(v, dt.datetime):  # pandas Timestamps too; an aware time in the display zone (clock.py)
        return clock.minute_text(v) if v.tzinfo else v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, dt.time):
        return v.strftime("%H:%M") if not v.second else v.strftime("%H:%M:%S")
    return v


MAX_PLACES = 6  # decimals a number column shows at most


def _is_number(v: Any) -> bool:
    return isinstance(v, numbers.Number) and not isinstance(v, (bool, complex)) and not is_missing(v)


def _places(v: Any) -> int:
    """The decimals ``v`` needs to be shown exactly (``4916.000`` and ``4916.0``: 0; ``6572.5``: 1)."""
    d = v if isinstance(v, Decimal) else Decimal(repr(float(v)) if not isinstance(v, numbers.Integral) else int(v))
    exponent = d.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def _number(v: Any, places: int) -> str:
    if not places:
        return str(int(v)) if isinstance(v, numbers.Integral) else f"{Decimal(str(v)):.0f}"
    return f"{v:.{places}f}" if isinstance(v, Decimal) else f"{float(v):.{places}f}"


def _is_time(v: Any) -> bool:
    return isinstance(v, dt.time) and not is_missing(v)


def column_format(values: Iterable[Any]) -> Callable[[Any], Any]:
    """How every value of one column is shown (pure): one number format (no decimals when every
    number is whole, else the same count of decimals on each, as many as the most precise one
    needs), one time format (seconds on every time when any has them, else on none); the rest
    as :func:`_cell` shows it."""
    values = list(values)
    nums = [v for v in values if _is_number(v)]
    places = min(max((_places(v) for v in nums), default=0), MAX_PLACES)
    seconds = any(_is_time(v) and (v.second or v.microsecond) for v in values)

    def shown(v: Any) -> Any:
        if _is_number(v):
            return _number(v, places)
        if _is_time(v):
            return v.strftime("%H:%M:%S" if seconds else "%H:%M")
        return _cell(v)
    return shown


def formatted(frame: pd.DataFrame, columns: Iterable[str] | None = None,
              by: str | None = None) -> pd.DataFrame:
    """A copy of ``frame`` whose ``columns`` (default: all) are shown text, one format per column
    (:func:`column_format`); with ``by``, one format per group of that column's values across
    ``columns`` together (a plan's ``old`` and ``new`` of one field)."""
    out = frame.copy()
    cols = [c for c in (frame.columns if columns is None else columns) if c in frame.columns]
    if by is None:
        for c in cols:
            fmt = column_format(out[c].tolist())
            out[c] = pd.Series([fmt(v) for v in out[c].tolist()], index=out.index, dtype=object)
        return out
    for c in cols:
        out[c] = out[c].astype(object)
    for _, part in frame.groupby(by, sort=False):
        fmt = column_format(v for c in cols for v in part[c].tolist())
        for c in cols:
            out.loc[part.index, c] = [fmt(v) for v in part[c].tolist()]
    return out


def shown_frame(frame: pd.DataFrame, *, index: str | None = None, first: Iterable[str] = (),
                hide: Iterable[str] = (), rows: int | None = None) -> pd.DataFrame:
    """A display copy of ``frame`` (pure): ``rows`` first rows, indexed by ``index`` (else by
    the source row ``_row`` as ``row``, else by the first column), the ``first`` columns
    first, the meta columns (``_source_id``, ...) and ``hide`` left out, every value shown as
    text, one number and one time format per column (:func:`column_format`), every missing
    value as :data:`MISSING`. The frame given is not changed."""
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
    out = formatted(out)
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
    unread = len(norm.issues)
    return (f"{counted(cells, 'cell')} changed in {counted(columns, 'column')}; "
            f"{counted(unread, 'cell')} could not be read")


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
    return (f"{counted(len(val.valid), 'row')} kept, {len(_warned(val)):,} of them with warnings; "
            f"{len(val.rejected):,} rejected")


def broken_rules(val) -> pd.DataFrame | Note:
    """The rules at least one row broke, with their counts."""
    return show(val.rule_counts[val.rule_counts["failed"] > 0], index="rule")


# Rows a list shows in a run that writes (its notebook is the audit record: a preview; every row
# is in the tables the pointer names). A dry run shows every row, up to PLAN_ROWS of each kind.
PREVIEW_ROWS = {"inserts": 10, "updates": 30, "deactivations": 20, "rejected": 20, "warned": 20}


def _rows_listed(ctx, kind: str) -> int:
    return PLAN_ROWS if ctx.dry_run else PREVIEW_ROWS[kind]


def _cap_note(ctx, what: str) -> str:
    """Where a dry run's rows past its cap are: nowhere yet (a dry run writes nothing)."""
    return f"a dry run lists the first {PLAN_ROWS:,} here and records nothing; a run that writes keeps them all in {what}"


def rejected_rows(ctx, val) -> Listing | Note:
    """Rejected rows by source row, with their reasons, the key, then the other business columns:
    every one in a dry run (up to :data:`PLAN_ROWS`), the first ones otherwise; the last line says
    how many more and where they are."""
    where = (_cap_note(ctx, "traficov2_sync_rejects") if ctx.dry_run
             else f"all in traficov2_sync_rejects (run_id '{ctx.run_id}') once applied")
    return listing(val.rejected, shown=_rows_listed(ctx, "rejected"), what="rejected row", where=where,
                   first=["reasons", *ctx.spec.key])


def warned_rows(ctx, val) -> Listing | Note:
    """Kept rows that broke a warning rule, by source row: the rules, the key, the other columns;
    every one in a dry run (up to :data:`PLAN_ROWS`), the first ones otherwise, then how many more."""
    target = f"{ctx.spec.target} (column validation_warnings)"
    where = _cap_note(ctx, target) if ctx.dry_run else f"all in {target} once applied"
    return listing(_warned(val), shown=_rows_listed(ctx, "warned"), what="row", where=where,
                   first=["validation_warnings", *ctx.spec.key])


def slots_line(spec: TableSpec, enr) -> str:
    """How many slots for how many groups; for a table without slots, one line saying so."""
    if not spec.slots:
        return f"{spec.name} has no container slots: one target row per source row"
    group = spec.slots.group
    groups = enr.frame[group].nunique() if len(enr.frame) else 0
    return f"{counted(len(enr.frame), 'slot')} for {counted(groups, group.lower())}"


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
    line = (f"{len(enr.status_matches):,} of {counted(len(enr.frame), 'slot' if spec.slots else 'row')} "
            "marked from the exit records")
    return f"{enr.status_note}\n{line}" if enr.status_note else line


def status_matches(enr, rows: int = 20) -> pd.DataFrame | Note:
    """The rows the exit records marked, by key: Estado before and after, the exit's time."""
    return show(enr.status_matches, index="key", rows=rows)


def staging_line(stg) -> str:
    """What staging holds: rows to merge, rows set aside because the target already has them,
    duplicate keys resolved, and the chunks the source came in."""
    chunks = f" from {stg.chunks:,} chunks of the source" if stg.chunks > 1 else ""
    return (f"{counted(stg.rows, 'row')} staged to merge{chunks}; {stg.skipped_unchanged:,} identical to the "
            f"target set aside; {counted(len(stg.duplicates), 'duplicate row')} replaced by a later row of their "
            "key (latest wins)")


def adoption_line(ad) -> str:
    """What the first sync does with the rows the old tool wrote (they have no key yet)."""
    return f"Adopt: {ad.summary()}"


def adoption_rows(ad, rows: int = 20) -> pd.DataFrame | None:
    """The old tool's rows by id: the key each gets, what happens to it and whether the source
    holds that key; nothing when every row has its key."""
    if not len(ad):
        return None
    return show(ad.rows, index="id", rows=rows)


def plan_line(ctx, pl) -> str:
    """What the plan would write, in one line: rows to insert, to update (and their field
    changes), unchanged, to deactivate; every count exact (a plan lists the first
    :data:`PLAN_ROWS` field changes: past that, "at least")."""
    c = pl.counts
    fields = len(pl.updates)
    changes = (f"at least {counted(fields, 'field change')}" if fields >= PLAN_ROWS
               else counted(fields, "field change"))
    return (f"{pl.table}: {counted(c.get('inserted', 0), 'row')} to insert, "
            f"{counted(c.get('updated', 0), 'row')} to update ({changes}), {c.get('unchanged', 0):,} unchanged, "
            f"{counted(c.get('deactivated', 0), 'row')} to deactivate")


def planned_inserts(ctx, pl) -> Listing | Note:
    """The rows to insert: the key columns first, no index (the key is a column), the internal
    columns left out (``sync_key`` when the key columns show it, ``activo``), the warnings last.
    A dry run shows every one (up to :data:`PLAN_ROWS`), a run that writes the first ones;
    the last line says how many more and where."""
    spec, frame = ctx.spec, pl.inserts
    keys = [c for c in (*spec.key, *spec.key_optional) if c in frame.columns]
    hide = ["activo", *(["sync_key"] if set(spec.key) <= set(keys) else [])]
    if "validation_warnings" in frame.columns:
        frame = frame[[*[c for c in frame.columns if c != "validation_warnings"], "validation_warnings"]]
    total = int(pl.counts.get("inserted", len(frame)) or 0)
    if ctx.dry_run:
        where = (f"a plan lists the first {PLAN_ROWS:,} (in key order); a run that writes adds them all to "
                 f"{spec.target}")
    else:
        where = f"all in {spec.target} once applied (a dry run lists up to {PLAN_ROWS:,} here)"
    return listing(frame, shown=_rows_listed(ctx, "inserts"), total=total, what="new row", where=where,
                   head=f"{counted(total, 'new row')} to insert into {spec.target}", first=keys, hide=hide,
                   show_index=False)


def planned_updates(ctx, pl) -> Listing | Note:
    """The field-level changes, by key: field, old, new (one number and time format per field).
    A dry run shows every one (the plan lists up to :data:`PLAN_ROWS`), a run that writes the
    first ones; the first line counts them per field, the last says how many more and where."""
    up = pl.updates
    listed = len(up)
    rows = int(pl.counts.get("updated", 0) or 0)
    per_field = up["field"].value_counts(sort=False) if listed else pd.Series(dtype=int)
    by_field = ", ".join(f"{f} {n:,}" for f, n in sorted(per_field.items()))
    many = f"at least {counted(listed, 'field change')}" if listed >= PLAN_ROWS else counted(listed, "field change")
    head = f"{many} in {counted(rows, 'row')} to update" + (f"; by field: {by_field}" if by_field else "")
    where = (f"all in traficov2_sync_changes (run_id '{ctx.run_id}') once applied "
             f"(a dry run lists up to {PLAN_ROWS:,} here)")
    out = listing(up, shown=_rows_listed(ctx, "updates"), what="field change", where=where, head=head,
                  index="sync_key", by="field")
    if isinstance(out, Listing) and ctx.dry_run and listed >= PLAN_ROWS:
        out.note = (f"the plan lists the first {PLAN_ROWS:,} field changes (in key order) and there may be more; "
                    "a dry run records nothing: a run that writes keeps every one in traficov2_sync_changes")
    return out


def planned_deactivations(ctx, pl) -> Note:
    """The keys gone from the source (full runs only), in one line: every one in a dry run (up to
    :data:`PLAN_ROWS`), the first ones otherwise, then how many more and where."""
    total = int(pl.counts.get("deactivated", len(pl.deactivations)) or 0)
    keys = pl.deactivations["sync_key"].head(_rows_listed(ctx, "deactivations")).tolist() if len(pl.deactivations) else []
    if not total:
        return Note(NONE)
    line = f"{counted(total, 'row')} to deactivate: " + ", ".join(map(str, keys))
    more = total - len(keys)
    if more > 0:
        where = (f"a plan lists the first {PLAN_ROWS:,}; a run that writes records them all in "
                 "traficov2_sync_changes (field 'activo')") if ctx.dry_run else (
            f"all in traficov2_sync_changes (run_id '{ctx.run_id}', field 'activo') once applied")
        line += f" … {counted(more, 'more key', 'more keys')}; {where}"
    return Note(line)


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
    frame = pd.DataFrame({"fields copied to the source": {t: ", ".join(f) for t, f in todo.items()}}, dtype=object)
    return show(frame.rename_axis("table"))


BACKPROP_HEADINGS = {"field": "field", "old": "in the source now", "new": "the desk's value"}


def back_propagation_changes(changes: pd.DataFrame, *, dry_run: bool) -> Listing | Note | Listings:
    """The source edits back-propagation plans, one list per table: the source row's key columns
    (as the source holds them: never the row's address in the database), the field, the value in
    the source now and the desk's value. Every edit up to :data:`PLAN_ROWS` per table; past that
    the last line says how many more and where."""
    if changes.empty:
        return Note(NONE)
    parts = []
    for table, part in changes.groupby("table", sort=False):
        heading = str(part["key_columns"].iloc[0]) if "key_columns" in part else "key"
        frame = part[["source_key", "field", "old", "new"]].rename(
            columns={"source_key": heading, **BACKPROP_HEADINGS}).reset_index(drop=True)
        rows = part["source_key"].nunique()
        verb = "would take" if dry_run else "takes"
        head = (f"{table}: {counted(len(part), 'field change')} in {counted(rows, 'source row')}; "
                f"the source {verb} the desk's value")
        source = get_table(str(table)).source
        where = (f"not listed (at most {PLAN_ROWS:,} per table here): a dry run writes nothing; a run that writes "
                 f"copies every one into {source}" if dry_run else
                 f"not listed (at most {PLAN_ROWS:,} per table here); every one is written into {source}")
        parts.append(listing(frame, shown=PLAN_ROWS, what="field change", head=head, show_index=False,
                             by="field", where=where))
    return parts[0] if len(parts) == 1 else Listings(parts)


class Listings:
    """Several :class:`Listing` (or lines) as one cell's result, one after the other."""

    def __init__(self, parts: list[Listing | Note]):
        self.parts = parts

    def _repr_html_(self) -> str:
        return "".join(p._repr_html_() if isinstance(p, Listing) else f"<p>{html.escape(str(p))}</p>"
                       for p in self.parts)

    def __str__(self) -> str:
        return "\n\n".join(str(p) for p in self.parts)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p, cycle) -> None:
        p.text(str(self))


def back_propagation_plan_line(todo: dict[str, list[str]], changes: pd.DataFrame) -> str:
    """Field changes planned per table, in one line."""
    per_table = changes["table"].value_counts() if len(changes) else pd.Series(dtype=int)
    return ", ".join(f"{n}: {counted(int(per_table.get(n, 0)), 'field change')}" for n in todo) or "no table to treat"


def back_propagation_results(results: list[dict[str, Any]], *, dry_run: bool) -> pd.DataFrame | Note:
    """One row per table treated, by table, in words: status, the source rows updated (a dry run:
    that it would update), the field changes, the error."""
    if not results:
        return Note(NONE)
    rows_word = "source rows it would update" if dry_run else "source rows updated"
    fields_word = "field changes it would make" if dry_run else "field changes made"
    frame = pd.DataFrame([{"table": r["table"], "status": r.get("status"), rows_word: r.get("rows_updated", 0),
                           fields_word: r.get("field_changes", 0), "error": r.get("error")} for r in results])
    return show(frame, index="table")


def back_propagation_result_line(results: list[dict[str, Any]], *, dry_run: bool = False) -> str:
    """What the summary cell says beside the result it records for the runner, in one line."""
    ok = sum(r["status"] == "ok" for r in results)
    done = "planned (dry run: nothing written)" if dry_run else "treated"
    return f"{ok:,} of {counted(len(results), 'table')} {done}; the result is recorded for the runner"


def back_propagation_record(run_id: str, dry_run: bool, results: list[dict[str, Any]]) -> dict[str, Any]:
    """What the back-propagation notebook records for the runner: every table's result and a status."""
    return {"run_id": run_id, "dry_run": dry_run, "results": results,
            "status": "ok" if all(r["status"] == "ok" for r in results) else "error"}


def back_propagation_failures(results: list[dict[str, Any]]) -> str | None:
    """The tables that could not be treated and why, in one line; None when every one was."""
    failed = [r for r in results if r["status"] != "ok"]
    return "; ".join(f"{r['table']}: {r['error']}" for r in failed) if failed else None
