"""What the health check reads from PostgreSQL: every query of it, and nothing else.

    with store.health_reader() as reader:      # an autocommit connection
        now = reader.now()
        missing = set(SYSTEM_TABLES) - reader.existing_tables(SYSTEM_TABLES)

Each method runs in its own read-only transaction under ``SET LOCAL statement_timeout``, so
the check never writes, never hangs, and keeps no session state between calls (it works
through a transaction pooler such as Supabase's). Identifiers are quoted with
:mod:`psycopg.sql`; values are always parameters. The reader returns rows and frames as the
database has them: normalizing and accounting are the health check's (``health/facts.py``).
The statements are the REST store's too (``stores/sql/health.py``): each aggregate is written once.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

import pandas as pd
import psycopg
from psycopg import sql

from ..sql import health as h
from .rows import column_names

STATEMENT_TIMEOUT_SECONDS = 60


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

    def _dicts(self, query, params: dict | None = None) -> list[dict]:
        with self._read() as conn:
            cur = conn.execute(query, params or None)
            names = column_names(cur)
            return [dict(zip(names, r)) for r in cur.fetchall()]

    def failed_syncs(self, hours: int) -> tuple[int, list[dict]]:
        """``ERROR`` rows of the log in the last ``hours``: how many, and the newest ones
        (table, sync_timestamp, run_id, error)."""
        return h.failed_syncs(self._dicts(h.FAILED_SYNCS, {"hours": int(hours), "listed": h.FAILED_SYNCS_LISTED}))

    def rejects_per_table(self, hours: int) -> dict[str, int]:
        """Reject rows recorded in the last ``hours``, per target table."""
        return h.rejects_per_table(self._dicts(h.REJECTS_PER_TABLE, {"hours": int(hours)}))

    def last_run(self) -> dict | None:
        """The newest run of the log: run_id, sync_timestamp, and its log rows in order
        (``tables``: table, operation, notebook, error); None when no run is logged."""
        return h.last_run(self._dicts(h.LAST_RUN))

    def last_archived(self) -> dict | None:
        """The newest run with an archived notebook: run_id, sync_timestamp, tables (table, notebook)."""
        return h.last_archived(self._dicts(h.LAST_ARCHIVED))

    def states(self) -> dict[str, dict]:
        """``traficov2_sync_state`` by target table: watermark, last_success_at, last_run_id."""
        return h.states(self._dicts(h.STATES))

    def leases(self) -> list[dict]:
        """The tables a REST run holds (``traficov2_sync_state``'s lease columns, see
        ``stores/rest/lease.py``): target, run_id, holder, taken_at, renewed_at, expires_at. Read
        as JSON, so a schema older than the lease columns has none."""
        return [h.lease_row(r["state"]) for r in self._dicts(h.LEASES)]

    def sync_log(self, days: int) -> list[tuple]:
        """``SYNC`` and ``ERROR`` rows of the last ``days``: (table, sync_timestamp, operation,
        details), by table and time."""
        return h.sync_log(self._dicts(h.SYNC_LOG, {"days": int(days)}))

    def rejects_by_rule(self, days: int) -> list[tuple]:
        """Rejects of the last ``days`` per table and rule (a row counts once per rule it broke):
        (table, rule, rows, distinct_keys, runs, last_seen), most rows first."""
        return h.rejects_by_rule(self._dicts(h.REJECTS_BY_RULE, {"days": int(days)}))

    # ---- one table ------------------------------------------------------------------------

    def source_key_groups(self, table: str, columns: list[str], *, changed_column: str | None = None,
                          since: datetime | None = None) -> pd.DataFrame:
        """One line per distinct raw key of a source table: the ``columns`` as text, ``pending``
        (some row of the group changed after ``since`` by ``changed_column``) and ``n`` (rows).

        Every name in ``columns`` must be a column of ``table``: the database collapses the
        duplicates, the caller normalizes."""
        keys = sql.SQL(h.KEY_SEPARATOR).join(h.key_as_text(sql.Identifier(c)) for c in columns)
        pending: sql.Composable
        if changed_column and since is not None:
            pending, params = h.pending(sql.Identifier(changed_column)), {"since": since}
        else:
            pending, params = sql.SQL(h.NOT_PENDING), {}
        return h.key_groups(self._dicts(h.source_key_groups(sql.Identifier(table), keys, pending), params), columns)

    def target_counts(self, table: str) -> tuple[int, int]:
        """(rows, active rows) of a target table."""
        row = self._dicts(h.target_counts(sql.Identifier(table)))[0]
        return int(row["total"]), int(row["active"])

    def active_keys(self, table: str, column: str) -> set:
        """The distinct non-null values of ``column`` over a target's active rows."""
        return {r["key"] for r in self._dicts(h.active_keys(sql.Identifier(table), sql.Identifier(column)))}

    def rejected_keys(self, table: str) -> set[str]:
        """The distinct keys of every reject row still retained for a target table."""
        return {r["sync_key"] for r in self._dicts(h.REJECTED_KEYS, {"table_name": table})}

    def table_state(self, table: str, keys: list[str], columns: dict[str, str], listed: int = h.STATE_LISTED) -> dict:
        """A target table's current validation state (:func:`~trafico_lib.stores.sql.health.table_state`):
        rows, warned_rows, rejected_rows, as_of, and per rule (``in_target``, ``rejected``) how
        many rows and the first ``listed`` of them (``keys`` listed, the value of ``columns[rule]``)."""
        row = self._dicts(h.table_state(sql.Identifier(table)), {
            "table_name": table, "keys": list(keys), "columns": json.dumps(columns), "listed": int(listed)})[0]
        return h.state_answer(row["state"], datetime.fromisoformat)
