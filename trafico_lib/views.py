"""What the notebooks show: each step's result turned into a frame or a line for a cell.

Small pure functions, one per thing a cell displays, so a notebook cell reads as a call
(``print(views.cross_check(chk))``) instead of carrying its own ``if``/``else``. Nothing
here computes a sync: the steps are in :mod:`trafico_lib.pipeline`; views only present
what they returned. Branches follow the registry's traits (``spec.slots``), never a
table's name, so a new table shows the same way.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from .tables import TableSpec, get_table


def use_notebook_display() -> None:
    """Pandas options for wide frames, and tqdm's text bar without the ipywidgets warning."""
    import warnings
    warnings.filterwarnings("ignore", message="IProgress not found")
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.width", 200)


# ---- a table's sync ---------------------------------------------------------------------------

def about(table: TableSpec | str) -> str:
    """The table's title and description from the registry, as Markdown (a notebook heading)."""
    spec = table if isinstance(table, TableSpec) else get_table(table)
    title = f"## Sync `{spec.name}`: {spec.title}" if spec.title else f"## Sync `{spec.name}`"
    return f"{title}\n\n{spec.about}".strip()


def run_line(ctx) -> str:
    """One line on what a run is about to do: run id, source → target, mode, store."""
    dry = " (dry-run: nothing is written)" if ctx.dry_run else ""
    return f"run {ctx.run_id}: {ctx.spec.source} -> {ctx.spec.target}, {ctx.mode}{dry}, on {ctx.store.name}"


def normalize_line(changed: pd.DataFrame, norm) -> str:
    """How many cells normalization changed, in how many columns, and how many it could not read."""
    cells = int(changed["rows"].sum()) if len(changed) else 0
    columns = changed["column"].nunique() if len(changed) else 0
    return f"{cells} cells changed in {columns} columns; {len(norm.issues)} cells could not be read"


def frequent_changes(changed: pd.DataFrame, per_column: int = 5) -> pd.DataFrame:
    """The most frequent changes of each column (``changed`` is most frequent first per column)."""
    return changed.groupby("column", sort=False).head(per_column)


def cross_check(chk) -> str:
    """The external validation in one line: not compared, a note, or the keys on either side."""
    if chk is None:
        return "not compared (CSV sources off, source is the CSV itself, or only a delta was read)"
    return chk.note or f"{chk.only_in_source} keys only in the source, {chk.only_in_csv} only in {chk.csv}"


def cross_check_differences(chk, rows: int = 20) -> pd.DataFrame | None:
    """A sample of the keys present on one side only; None when nothing was compared."""
    return None if chk is None else chk.differences.head(rows)


def _warned(val) -> pd.DataFrame:
    """The rows validation kept although they broke a warning rule."""
    return val.valid[val.valid["validation_warnings"].map(bool).astype(bool)]  # bool even when empty


def validation_line(val) -> str:
    """Rows kept, how many of them with warnings, rows rejected."""
    return (f"{len(val.valid)} rows kept, {len(_warned(val))} of them with warnings; "
            f"{len(val.rejected)} rejected")


def broken_rules(val) -> pd.DataFrame:
    """The rules at least one row broke, with their counts."""
    return val.rule_counts[val.rule_counts["failed"] > 0]


def rejected_rows(val, spec: TableSpec, rows: int = 20) -> pd.DataFrame:
    """Rejected rows with their reasons, business columns after."""
    return val.rejected[["reasons", *spec.column_names]].head(rows)


def warned_rows(val, spec: TableSpec, rows: int = 20) -> pd.DataFrame:
    """Kept rows that broke a warning rule, with the rules, business columns after."""
    return _warned(val)[["validation_warnings", *spec.column_names]].head(rows)


def slots_line(spec: TableSpec, enr) -> str:
    """How many slots for how many groups; for a table without slots, one line saying so."""
    if not spec.slots:
        return f"{spec.name} has no container slots: one target row per source row"
    group = spec.slots.group
    groups = enr.frame[group].nunique() if len(enr.frame) else 0
    return f"{len(enr.frame)} slots for {groups} {group.lower()}s"


def slot_summary(spec: TableSpec, enr) -> pd.DataFrame | None:
    """Per group: demand, active slots, filled, empty, inactive; None for a table without slots."""
    return enr.slots if spec.slots else None


def slot_rows(spec: TableSpec, enr, rows: int = 20) -> pd.DataFrame | None:
    """The slots as they will be written; None for a table without slots."""
    if not spec.slots:
        return None
    s = spec.slots
    cols = ["sync_key", s.group, s.sequence, s.item, s.quantity, "Estado", "activo"]
    return enr.frame[[c for c in cols if c in enr.frame.columns]].head(rows)


def status_line(spec: TableSpec, enr) -> str:
    """Why there is no status (when so), then how many rows (or slots) the exit records marked."""
    noun = "slots" if spec.slots else "rows"
    line = f"{len(enr.status_matches)} of {len(enr.frame)} {noun} marked from the exit records"
    return f"{enr.status_note}\n{line}" if enr.status_note else line


def staging_line(stg) -> str:
    """What staging holds: rows to merge, rows set aside because the target already has them,
    duplicate keys resolved, and the chunks the source came in."""
    chunks = f" from {stg.chunks} chunks of the source" if stg.chunks > 1 else ""
    return (f"{stg.rows} rows staged to merge{chunks}; {stg.skipped_unchanged} identical to the target set "
            f"aside; {len(stg.duplicates)} duplicate keys resolved (latest wins)")


def apply_line(ctx, res) -> str:
    """The run's status, time and counts, after the CSV backup's path when one was written."""
    line = f"{res.status} in {res.duration_seconds} s: {res.counts}"
    return f"CSV backup of {ctx.spec.target}: {res.backup}\n{line}" if res.backup else line


def run_summary(res) -> pd.DataFrame:
    """The run's status and counts as a one-row frame indexed by table."""
    return pd.DataFrame([{"table": res.table, "status": res.status, **res.counts}]).set_index("table")


def failure_line(res) -> str | None:
    """Why a run did not succeed, in one line; None when it did."""
    return None if res.ok else f"{res.table}: {res.status}: {res.error}"


# ---- back-propagation -------------------------------------------------------------------------

def back_propagation_line(run_id: str, store, dry_run: bool) -> str:
    """One line on a back-propagation run: its id, the store, whether it writes."""
    return f"run {run_id} on {store.name}{' (dry-run: nothing is written)' if dry_run else ''}"


def back_propagation_fields(todo: dict[str, list[str]]) -> pd.DataFrame:
    """The tables to treat and their fields, a row per table."""
    return pd.DataFrame({"fields": todo}, dtype=object).rename_axis("table")


def back_propagation_plan_line(todo: dict[str, list[str]], changes: pd.DataFrame) -> str:
    """Field changes planned per table, in one line."""
    per_table = changes["table"].value_counts() if len(changes) else pd.Series(dtype=int)
    return ", ".join(f"{n}: {int(per_table.get(n, 0))} field changes" for n in todo) or "no table to treat"


def back_propagation_results(results: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per table treated: status, rows updated, field changes, error."""
    return pd.DataFrame(results)


def back_propagation_record(run_id: str, dry_run: bool, results: list[dict[str, Any]]) -> dict[str, Any]:
    """What the back-propagation notebook records for the runner: every table's result and a status."""
    return {"run_id": run_id, "dry_run": dry_run, "results": results,
            "status": "ok" if all(r["status"] == "ok" for r in results) else "error"}


def back_propagation_failures(results: list[dict[str, Any]]) -> str | None:
    """The tables that could not be treated and why, in one line; None when every one was."""
    failed = [r for r in results if r["status"] != "ok"]
    return "; ".join(f"{r['table']}: {r['error']}" for r in failed) if failed else None
