"""Pruning the history tables on PostgreSQL (what ``retention.prune`` asks of the store).

Log and change rows before the cutoff go; reject rows too, except each key's newest reject
while that key has no active target row (an *open* reject: see ``trafico_lib.retention``).
"""
from __future__ import annotations

from datetime import datetime

from ...tables import TABLES
from ..sql.retention import OLD, delete_rejects, kept_rejects, old_rejects, old_rows


def _targets(conn) -> set[str]:
    rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
                        "AND table_name = ANY(%s)", ([s.target for s in TABLES.values()],)).fetchall()
    return {r[0] for r in rows}


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
