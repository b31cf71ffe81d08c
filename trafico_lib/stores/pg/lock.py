"""One run per table at a time: a transaction-level advisory lock (docs/architecture.md §4 step 6).

The second run of a table waits up to ``timeout`` seconds, then gives up with
:class:`TableLocked`, having written nothing.
"""
from __future__ import annotations

import time

import psycopg

from ...errors import TableLocked
from .rows import one_value


def lock_key(table: str) -> str:
    return f"trafico:{table}"


def acquire(conn: psycopg.Connection, table: str, *, timeout: float, poll: float = 0.2) -> None:
    """Take the table's advisory lock for the current transaction, waiting up to ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        got = one_value(conn.execute("SELECT pg_try_advisory_xact_lock(hashtext(%s))", (lock_key(table),)))
        if got:
            return
        if time.monotonic() >= deadline:
            raise TableLocked(f"{table}: another sync of this table is running; "
                              f"gave up after waiting {timeout:g} s (nothing was written)")
        time.sleep(poll)
