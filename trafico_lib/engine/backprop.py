"""Back-propagation (DESIGN §5): copy the traffic desk's fields (default ``Chofer``) from each
target row to its source row, matched on the normalized business key, only where different.

The source row's change-timestamp column (when it has one) is bumped like any other edit.
The next sync then finds the source agreeing with the target and writes nothing
(the merge treats "source now equals target" as no change): no ping-pong.
Rows of the expo table are matched through ``source_id`` instead, and only where one active
slot comes from that source row (a pending booking row stands for several slots).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd
import psycopg
from psycopg import sql

from ..tables import TableSpec
from . import lock, record
from .extract import detect_updated_column, source_columns
from .stage import build_sync_key


@dataclass
class BackpropResult:
    table: str
    run_id: str
    dry_run: bool
    changes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(
        columns=["source_row", "sync_key", "field", "old", "new"]))
    status: str = "ok"
    error: str | None = None
    duration_seconds: float = 0.0

    @property
    def updated(self) -> int:
        return int(self.changes["source_row"].nunique()) if len(self.changes) else 0

    def to_dict(self) -> dict:
        return {"table": self.table, "run_id": self.run_id, "dry_run": self.dry_run, "status": self.status,
                "error": self.error, "rows_updated": self.updated, "field_changes": len(self.changes),
                "duration_seconds": self.duration_seconds}


def _clean(v):
    from ..normalize import clean_value
    return clean_value(v)


def plan_back_propagation(conn: psycopg.Connection, spec: TableSpec, fields: list[str],
                          key: list[str] | None = None, *, for_update: bool = False) -> pd.DataFrame:
    """The source edits back-propagation would make: source_row (ctid), sync_key, field, old, new."""
    from ..normalize import normalize_frame
    cols = source_columns(conn, spec.source)
    fields = [f for f in fields if f in cols]
    empty = pd.DataFrame(columns=["source_row", "sync_key", "field", "old", "new"])
    if not fields:
        return empty
    key_cols = [c for c in (key or [*spec.key, *spec.key_optional]) if c in cols]
    wanted = list(dict.fromkeys([*key_cols, *fields]))
    has_id = "id" in cols
    q = sql.SQL("SELECT ctid::text AS source_row, {id} AS source_id, {cols} FROM {src}{lock}").format(
        id=sql.SQL("id::text") if has_id else sql.SQL("NULL::text"),
        cols=sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in wanted),
        src=sql.Identifier(spec.source), lock=sql.SQL(" FOR UPDATE") if for_update else sql.SQL(""))
    with conn.cursor() as cur:
        cur.execute(q)
        src = pd.DataFrame(cur.fetchall(), columns=["source_row", "source_id", *wanted], dtype=object)
    tq = sql.SQL("SELECT sync_key, source_id, {cols} FROM {tgt} WHERE activo").format(
        cols=sql.SQL(", ").join(sql.Identifier(f) for f in fields), tgt=sql.Identifier(spec.target))
    with conn.cursor() as cur:
        cur.execute(tq)
        tgt = pd.DataFrame(cur.fetchall(), columns=["sync_key", "source_id", *fields], dtype=object)
    if src.empty or tgt.empty:
        return empty
    if spec.extra_target_columns:  # expo slots: through source_id, one slot per source row only
        tgt = tgt[tgt["source_id"].notna()]
        tgt = tgt[~tgt["source_id"].duplicated(keep=False)]
        merged = src.merge(tgt, on="source_id", suffixes=("_src", ""))
    else:
        norm = normalize_frame(src[key_cols], spec, pd.Timestamp.now().date()).frame
        src["sync_key"] = build_sync_key(norm, spec, key).values
        merged = src.merge(tgt.drop(columns="source_id"), on="sync_key", suffixes=("_src", ""))
    rows = []
    for f in fields:
        new = merged[f]
        old = merged[f"{f}_src"].map(_clean)
        differs = new.notna() & (old.isna() | (old.astype(object) != new.astype(object)))
        for _, r in merged[differs].iterrows():
            rows.append((r["source_row"], r["sync_key"], f, r[f"{f}_src"], r[f]))
    return pd.DataFrame(rows, columns=["source_row", "sync_key", "field", "old", "new"]) if rows else empty


def back_propagate(conn: psycopg.Connection, spec: TableSpec, fields: list[str], *, run_id: str,
                   key: list[str] | None = None, dry_run: bool = False, lock_timeout: float = 5.0,
                   updated_column: str | None = None) -> BackpropResult:
    """Apply back-propagation for one table in one transaction (under the table's sync lock)."""
    t0 = time.monotonic()
    res = BackpropResult(spec.name, run_id, dry_run)
    if dry_run:
        res.changes = plan_back_propagation(conn, spec, fields, key)
        res.duration_seconds = round(time.monotonic() - t0, 3)
        return res
    with conn.transaction():
        lock.acquire(conn, spec.target, timeout=lock_timeout)
        changes = plan_back_propagation(conn, spec, fields, key, for_update=True)
        upd = detect_updated_column(source_columns(conn, spec.source), updated_column)
        bump = sql.SQL(", {} = now()").format(sql.Identifier(upd)) if upd else sql.SQL("")
        with conn.cursor() as cur:
            # one UPDATE per source row (its ctid changes with the first update)
            for row_id, part in changes.groupby("source_row", sort=False):
                sets = sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(f)) for f in part["field"])
                cur.execute(sql.SQL("UPDATE {src} SET {sets}{bump} WHERE ctid = %s::tid").format(
                    src=sql.Identifier(spec.source), sets=sets, bump=bump), [*part["new"], row_id])
        res.changes = changes
        res.duration_seconds = round(time.monotonic() - t0, 3)
        record.write_log(conn, spec, "BACK_PROPAGATE", {
            "run_id": run_id, "fields": fields, "counts": {"updated": res.updated, "field_changes": len(changes)},
            "duration_seconds": res.duration_seconds})
    return res
