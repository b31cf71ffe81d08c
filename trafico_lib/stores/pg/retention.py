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


# the history tables pruned by age: what -> (table, its time column)
OLD = {"log": ("traficov2_sync_log", "sync_timestamp"), "changes": ("traficov2_sync_changes", "created_at")}


def old_rows(table: str, column: str, *, delete: bool) -> sql.Composed:
    """Count (or delete) ``table``'s rows older than ``%(cutoff)s``."""
    verb = "DELETE FROM {t} WHERE {c} < %(cutoff)s" if delete else "SELECT count(*) FROM {t} WHERE {c} < %(cutoff)s"
    return sql.SQL(verb).format(t=sql.Identifier(table), c=sql.Identifier(column))


def kept_rejects(targets: set[str]) -> sql.Composed:
    """How many reject rows older than ``%(cutoff)s`` stay: the open ones."""
    return sql.SQL("SELECT count(*) FROM traficov2_sync_rejects r WHERE r.created_at < %(cutoff)s AND {}").format(
        _open_reject(targets))


def old_rejects() -> sql.Composed:
    return sql.SQL("SELECT count(*) FROM traficov2_sync_rejects WHERE created_at < %(cutoff)s")


def delete_rejects(targets: set[str]) -> sql.Composed:
    return sql.SQL("DELETE FROM traficov2_sync_rejects r WHERE r.created_at < %(cutoff)s AND NOT {}").format(
        _open_reject(targets))


def prune_database(conn, cutoff: datetime, *, dry_run: bool = False) -> dict[str, int]:
    """Delete (or count) log, change and reject rows before ``cutoff``, in one transaction.
    (The REST store runs the same statements as ``traficov2_prune()``: schema/rest_merge.py.)"""
    targets = _targets(conn)
    at = {"cutoff": cutoff}
    out: dict[str, int] = {}
    with conn.transaction():
        for what, (table, column) in OLD.items():
            cur = conn.execute(old_rows(table, column, delete=not dry_run), at)
            out[what] = int(cur.fetchone()[0]) if dry_run else cur.rowcount
        kept = conn.execute(kept_rejects(targets), at).fetchone()[0]
        if dry_run:
            out["rejects"] = int(conn.execute(old_rejects(), at).fetchone()[0] - kept)
        else:
            out["rejects"] = conn.execute(delete_rejects(targets), at).rowcount
        out["open_rejects_kept"] = int(kept)
    return out
