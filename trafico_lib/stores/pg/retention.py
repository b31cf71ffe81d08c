"""Pruning the history tables on PostgreSQL (what ``retention.prune`` asks of the store).

Log and change rows before the cutoff go; reject rows too, except each key's newest reject
while that key has no active target row (an *open* reject: see ``trafico_lib.retention``).
"""
from __future__ import annotations

from datetime import datetime

from psycopg import sql

from ...tables import TABLES


def _key_is_active(existing_targets: set[str]) -> sql.Composable:
    """SQL true when reject ``r``'s key is an active row of its target (expo: also by Booking)."""
    parts = []
    for spec in TABLES.values():
        if spec.target not in existing_targets:
            continue
        match = sql.SQL("t.sync_key = r.sync_key")
        if spec.slots:  # a validation reject of a slotted table carries the group (the booking)
            match = sql.SQL("(t.sync_key = r.sync_key OR t.{} = r.sync_key)").format(sql.Identifier(spec.slots.group))
        parts.append(sql.SQL("(r.table_name = {name} AND EXISTS (SELECT 1 FROM {tbl} t WHERE {match} AND t.activo))")
                     .format(name=sql.Literal(spec.target), tbl=sql.Identifier(spec.target), match=match))
    return sql.SQL(" OR ").join(parts) if parts else sql.SQL("false")


def _open_reject(existing_targets: set[str]) -> sql.Composed:
    return sql.SQL(
        "(r.sync_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM traficov2_sync_rejects n "
        "WHERE n.table_name = r.table_name AND n.sync_key = r.sync_key "
        "AND (n.created_at, n.id) > (r.created_at, r.id)) AND NOT ({active}))"
    ).format(active=_key_is_active(existing_targets))


def _targets(conn) -> set[str]:
    rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                        "AND table_name = ANY(%s)", ([s.target for s in TABLES.values()],)).fetchall()
    return {r[0] for r in rows}


def prune_database(conn, cutoff: datetime, *, dry_run: bool = False) -> dict[str, int]:
    """Delete (or count) log, change and reject rows before ``cutoff``, in one transaction."""
    targets = _targets(conn)
    open_reject = _open_reject(targets)
    old = {"log": ("traficov2_sync_log", "sync_timestamp"), "changes": ("traficov2_sync_changes", "created_at")}
    out: dict[str, int] = {}
    with conn.transaction():
        for what, (table, column) in old.items():
            verb = sql.SQL("SELECT count(*) FROM {t} WHERE {c} < %s" if dry_run else "DELETE FROM {t} WHERE {c} < %s")
            cur = conn.execute(verb.format(t=sql.Identifier(table), c=sql.Identifier(column)), (cutoff,))
            out[what] = int(cur.fetchone()[0]) if dry_run else cur.rowcount
        kept = conn.execute(sql.SQL("SELECT count(*) FROM traficov2_sync_rejects r WHERE r.created_at < %s AND {}")
                            .format(open_reject), (cutoff,)).fetchone()[0]
        if dry_run:
            total = conn.execute("SELECT count(*) FROM traficov2_sync_rejects WHERE created_at < %s",
                                 (cutoff,)).fetchone()[0]
            out["rejects"] = int(total - kept)
        else:
            cur = conn.execute(sql.SQL("DELETE FROM traficov2_sync_rejects r WHERE r.created_at < %s AND NOT {}")
                               .format(open_reject), (cutoff,))
            out["rejects"] = cur.rowcount
        out["open_rejects_kept"] = int(kept)
    return out
