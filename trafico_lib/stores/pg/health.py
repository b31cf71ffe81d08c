"""What the health check reads from PostgreSQL: every query of it, and nothing else.

    with store.health_reader() as reader:      # an autocommit connection
        now = reader.now()
        missing = set(SYSTEM_TABLES) - reader.existing_tables(SYSTEM_TABLES)

Each method runs in its own read-only transaction under ``SET LOCAL statement_timeout``, so
the check never writes, never hangs, and keeps no session state between calls (it works
through a transaction pooler such as Supabase's). Identifiers are quoted with
:mod:`psycopg.sql`; values are always parameters. The reader returns rows and frames as the
database has them: normalizing and accounting are the health check's (``health/facts.py``).
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime
from typing import Iterable, Iterator

import pandas as pd
import psycopg
from psycopg import sql

STATEMENT_TIMEOUT_SECONDS = 60
LEASE_COLUMNS = ("lease_run_id", "lease_holder", "lease_taken_at", "lease_renewed_at", "lease_expires_at")
FAILED_SYNCS_LISTED = 20


class PostgresHealthReader:
    """The :class:`~trafico_lib.stores.base.HealthReader` of a PostgreSQL connection."""

    def __init__(self, conn: psycopg.Connection, *, statement_timeout: float = STATEMENT_TIMEOUT_SECONDS):
        self._conn = conn
        self._timeout_ms = max(1, int(statement_timeout * 1000))

    @contextmanager
    def _read(self) -> Iterator[psycopg.Connection]:
        """One read-only transaction with a statement timeout; nothing outlives it."""
        with self._conn.transaction():
            self._conn.execute("SET TRANSACTION READ ONLY")
            timeout = sql.Literal(f"{self._timeout_ms}ms")
            self._conn.execute(sql.SQL("SET LOCAL statement_timeout = {}").format(timeout))
            yield self._conn

    def _rows(self, query, params: tuple = ()) -> list[tuple]:
        with self._read() as conn:
            return conn.execute(query, params).fetchall()

    # ---- the database and its schema ------------------------------------------------------

    def now(self) -> datetime:
        """The database clock (every age the check shows is measured against it)."""
        return self._rows("SELECT now()")[0][0]

    def existing_tables(self, names: Iterable[str]) -> set[str]:
        """Which of ``names`` are tables (or views) of the current schema."""
        rows = self._rows("SELECT table_name FROM information_schema.tables "
                          "WHERE table_schema = current_schema() AND table_name = ANY(%s)", (list(names),))
        return {r[0] for r in rows}

    def columns(self, table: str) -> list[str]:
        """The columns of ``table`` in order; empty when it does not exist."""
        rows = self._rows("SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
                          "AND table_name = %s ORDER BY ordinal_position", (table,))
        return [r[0] for r in rows]

    # ---- the system tables ----------------------------------------------------------------

    def failed_syncs(self, hours: int) -> tuple[int, list[dict]]:
        """``ERROR`` rows of the log in the last ``hours``: how many, and the newest ones
        (table, sync_timestamp, run_id, error)."""
        since = f"{int(hours)} hours"
        with self._read() as conn:
            n = conn.execute("SELECT count(*) FROM traficov2_sync_log "
                             "WHERE operation = 'ERROR' AND sync_timestamp > now() - %s::interval",
                             (since,)).fetchone()[0]
            rows = conn.execute(
                "SELECT table_name, sync_timestamp, details->>'run_id', details->>'error' FROM traficov2_sync_log "
                "WHERE operation = 'ERROR' AND sync_timestamp > now() - %s::interval "
                "ORDER BY sync_timestamp DESC, id DESC LIMIT %s", (since, FAILED_SYNCS_LISTED)).fetchall()
        return int(n), [{"table": t, "sync_timestamp": ts, "run_id": rid, "error": err} for t, ts, rid, err in rows]

    def rejects_per_table(self, hours: int) -> dict[str, int]:
        """Reject rows recorded in the last ``hours``, per target table."""
        rows = self._rows("SELECT table_name, count(*) FROM traficov2_sync_rejects "
                          "WHERE created_at > now() - %s::interval GROUP BY table_name ORDER BY table_name",
                          (f"{int(hours)} hours",))
        return {t: int(n) for t, n in rows}

    def last_run(self) -> dict | None:
        """The newest run of the log: run_id, sync_timestamp, and its log rows in order
        (``tables``: table, operation, notebook, error); None when no run is logged."""
        with self._read() as conn:
            row = conn.execute("SELECT details->>'run_id', sync_timestamp FROM traficov2_sync_log "
                               "WHERE details ? 'run_id' ORDER BY sync_timestamp DESC, id DESC LIMIT 1").fetchone()
            if row is None:
                return None
            run_id, at = row
            rows = conn.execute("SELECT table_name, operation, details->>'notebook', details->>'error' "
                                "FROM traficov2_sync_log WHERE details->>'run_id' = %s ORDER BY id",
                                (run_id,)).fetchall()
        return {"run_id": run_id, "sync_timestamp": at,
                "tables": [{"table": t, "operation": op, "notebook": nb, "error": err} for t, op, nb, err in rows]}

    def states(self) -> dict[str, dict]:
        """``traficov2_sync_state`` by target table: watermark, last_success_at, last_run_id."""
        rows = self._rows("SELECT table_name, watermark, last_success_at, last_run_id FROM traficov2_sync_state")
        return {t: {"watermark": w, "last_success_at": s, "last_run_id": r} for t, w, s, r in rows}

    def leases(self) -> list[dict]:
        """The tables a REST run holds (``traficov2_sync_state``'s lease columns, see
        ``stores/rest/lease.py``): target, run_id, holder, taken_at, renewed_at, expires_at. Read
        as JSON, so a schema older than the lease columns has none."""
        rows = self._rows("SELECT to_jsonb(s) FROM traficov2_sync_state s "
                          "WHERE to_jsonb(s)->>'lease_run_id' IS NOT NULL ORDER BY table_name")
        return [lease_row(r[0]) for r in rows]

    def sync_log(self, days: int) -> list[tuple]:
        """``SYNC`` and ``ERROR`` rows of the last ``days``: (table, sync_timestamp, operation,
        details), by table and time."""
        return self._rows("SELECT table_name, sync_timestamp, operation, details FROM traficov2_sync_log "
                          "WHERE sync_timestamp > now() - %s::interval AND operation IN ('SYNC', 'ERROR') "
                          "ORDER BY table_name, sync_timestamp, id", (f"{int(days)} days",))

    def rejects_by_rule(self, days: int) -> list[tuple]:
        """Rejects of the last ``days`` per table and rule (a row counts once per rule it broke):
        (table, rule, rows, distinct_keys, runs, last_seen), most rows first."""
        return self._rows(
            "SELECT r.table_name, reason.value, count(*), count(DISTINCT r.sync_key), count(DISTINCT r.run_id), "
            "max(r.created_at) FROM traficov2_sync_rejects r "
            "CROSS JOIN LATERAL jsonb_array_elements_text(CASE jsonb_typeof(r.reasons) WHEN 'array' "
            "THEN r.reasons ELSE jsonb_build_array(r.reasons #>> '{}') END) AS reason(value) "
            "WHERE r.created_at > now() - %s::interval GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
            (f"{int(days)} days",))

    # ---- one table ------------------------------------------------------------------------

    def source_key_groups(self, table: str, columns: list[str], *, changed_column: str | None = None,
                          since: datetime | None = None) -> pd.DataFrame:
        """One line per distinct raw key of a source table: the ``columns`` as text, ``pending``
        (some row of the group changed after ``since`` by ``changed_column``) and ``n`` (rows).

        Every name in ``columns`` must be a column of ``table``: the database collapses the
        duplicates, the caller normalizes."""
        keys = [sql.SQL("{}::text").format(sql.Identifier(c)) for c in columns]
        if changed_column and since is not None:
            pending, params = sql.SQL("coalesce({} > %s, false)").format(sql.Identifier(changed_column)), (since,)
        else:
            pending, params = sql.SQL("false"), ()
        group = sql.SQL(" GROUP BY {}").format(sql.SQL(", ").join(sql.SQL(str(i)) for i in range(1, len(keys) + 1))) \
            if keys else sql.SQL("")
        query = sql.SQL("SELECT {keys}bool_or({pending}), count(*) FROM {src}{group}").format(
            keys=sql.SQL("").join(k + sql.SQL(", ") for k in keys), pending=pending,
            src=sql.Identifier(table), group=group)
        rows = self._rows(query, params)
        if not keys and rows and rows[0][1] == 0:
            rows = []  # an aggregate without GROUP BY gives one line even for an empty table
        return pd.DataFrame(rows, columns=[*columns, "pending", "n"], dtype=object)

    def target_counts(self, table: str) -> tuple[int, int]:
        """(rows, active rows) of a target table."""
        total, active = self._rows(sql.SQL("SELECT count(*), count(*) FILTER (WHERE activo) FROM {}").format(
            sql.Identifier(table)))[0]
        return int(total), int(active)

    def active_keys(self, table: str, column: str) -> set:
        """The distinct non-null values of ``column`` over a target's active rows."""
        col = sql.Identifier(column)
        rows = self._rows(sql.SQL("SELECT DISTINCT {} FROM {} WHERE activo AND {} IS NOT NULL").format(
            col, sql.Identifier(table), col))
        return {r[0] for r in rows}

    def rejected_keys(self, table: str) -> set[str]:
        """The distinct keys of every reject row still retained for a target table."""
        rows = self._rows("SELECT DISTINCT sync_key FROM traficov2_sync_rejects "
                          "WHERE table_name = %s AND sync_key IS NOT NULL", (table,))
        return {r[0] for r in rows}


def lease_row(row: dict) -> dict:
    """A ``traficov2_sync_state`` row (as JSON, or as the REST API gives it) as a held lease."""
    def when(v):
        return datetime.fromisoformat(v) if isinstance(v, str) else v
    return {"target": row["table_name"], "run_id": row.get("lease_run_id"), "holder": row.get("lease_holder"),
            "taken_at": when(row.get("lease_taken_at")), "renewed_at": when(row.get("lease_renewed_at")),
            "expires_at": when(row.get("lease_expires_at"))}
