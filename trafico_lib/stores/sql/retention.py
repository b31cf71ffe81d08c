"""Pruning the history tables, as SQL both stores run: the direct path (``stores/pg/retention.py``)
on its connection, the REST store as ``traficov2_prune()`` (``schema/rest_merge.py``).

Log and change rows before the cutoff go; reject rows too, except each key's newest reject
while that key has no active target row (an *open* reject: see ``trafico_lib.retention``).
"""
from __future__ import annotations

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
