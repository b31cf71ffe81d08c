"""Back-propagation on PostgreSQL: read both sides, write the desk's values into the source
rows (addressed by ``ctid``) in one transaction under the table's sync lock."""
from __future__ import annotations

import time

import pandas as pd
import psycopg
from psycopg import sql

from ...engine.backprop import BackpropResult, field_columns, key_columns_for, source_edits
from ...engine.extract import detect_updated_column
from ...tables import TableSpec
from . import lock, record
from .source import source_columns


def plan_back_propagation(conn: psycopg.Connection, spec: TableSpec, fields: list[str],
                          key: list[str] | None = None, *, for_update: bool = False) -> pd.DataFrame:
    """The source edits back-propagation would make: source_row (ctid), sync_key, field, old, new."""
    cols = source_columns(conn, spec.source)
    pairs = field_columns(spec, fields, cols, source_columns(conn, spec.target))
    fields = [s for _, s in pairs]  # each read from the target under its source column's name
    if not fields:
        return source_edits(spec, fields, pd.DataFrame(), pd.DataFrame())
    wanted = list(dict.fromkeys([*key_columns_for(spec, key, cols), *fields]))
    q = sql.SQL("SELECT ctid::text AS source_row, {id} AS source_id, {cols} FROM {src}{lock}").format(
        id=sql.SQL("id::text") if "id" in cols else sql.SQL("NULL::text"),
        cols=sql.SQL(", ").join(sql.SQL("{}::text").format(sql.Identifier(c)) for c in wanted),
        src=sql.Identifier(spec.source), lock=sql.SQL(" FOR UPDATE") if for_update else sql.SQL(""))
    with conn.cursor() as cur:
        cur.execute(q)
        src = pd.DataFrame(cur.fetchall(), columns=["source_row", "source_id", *wanted], dtype=object)
    # source_id as text whatever its type (an adopted table's is an integer), as the source's id; only
    # rows the sync wrote (a row the old tool wrote has no sync_key, and its source_id may be a row position)
    tq = sql.SQL("SELECT sync_key, source_id::text, {cols} FROM {tgt} WHERE activo AND sync_key IS NOT NULL").format(
        cols=sql.SQL(", ").join(sql.SQL("{} AS {}").format(sql.Identifier(t), sql.Identifier(s)) for t, s in pairs),
        tgt=sql.Identifier(spec.target))
    with conn.cursor() as cur:
        cur.execute(tq)
        tgt = pd.DataFrame(cur.fetchall(), columns=["sync_key", "source_id", *fields], dtype=object)
    return source_edits(spec, fields, src, tgt, key)


def back_propagate(conn: psycopg.Connection, spec: TableSpec, fields: list[str], *, run_id: str,
                   key: list[str] | None = None, dry_run: bool = False, lock_timeout: float = 5.0,
                   updated_column: str | None = None, notebook: str | None = None) -> BackpropResult:
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
            "duration_seconds": res.duration_seconds, **({"notebook": notebook} if notebook else {})})
    return res
