"""The run's record in the system tables: log row, rejects, state (docs/architecture.md §4 step 7)."""
from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

import psycopg

from ...tables import TableSpec
from ..sql.record import RECORD_DUPLICATE, RECORD_REJECT, RECORD_STATE, REJECT_REPEAT_HOURS
from .rows import one_value


def write_log(conn: psycopg.Connection, spec: TableSpec, operation: str, details: dict) -> None:
    conn.execute(
        "INSERT INTO traficov2_sync_log (table_name, operation, source_table, details) VALUES (%s, %s, %s, %s)",
        (spec.target, operation, spec.source, json.dumps(details, ensure_ascii=False, default=str)))


def write_rejects(conn: psycopg.Connection, spec: TableSpec, run_id: str,
                  rejects: Iterable[tuple[str | None, str, str]]) -> int:
    """Record rejected rows: (sync_key, reasons JSON, raw row JSON) tuples.

    A source row that stays broken is read again by every run that covers it (every run, for
    a source without a change timestamp). The same row (its position in the read aside) with
    the same reasons is recorded
    again only once it is older than ``REJECT_REPEAT_HOURS``, so the table shows each
    problem once a day instead of every five minutes; meanwhile each run that reads it again
    marks that record seen (``last_run_id``, ``last_seen_at``). Returns the rows recorded now.
    """
    rows = list(rejects)
    recorded = 0
    if rows:
        with conn.cursor() as cur:
            for r in rows:
                cur.execute(RECORD_REJECT, {"run": run_id, "tbl": spec.target, "key": r[0], "reasons": r[1],
                                            "raw": r[2], "hours": REJECT_REPEAT_HOURS})
                recorded += one_value(cur)
    return recorded


def write_duplicates(conn: psycopg.Connection, spec: TableSpec, run_id: str,
                     rows: list[tuple[str, str | None]]) -> int:
    """Record (sync_key, source id) of each replaced source row, once a day (a repeat marks
    the record seen by this run); returns how many were recorded now."""
    recorded = 0
    with conn.cursor() as cur:
        for key, source_id in rows:
            cur.execute(RECORD_DUPLICATE, {"run": run_id, "tbl": spec.target, "key": key, "sid": source_id,
                                           "hours": REJECT_REPEAT_HOURS})
            recorded += one_value(cur)
    return recorded


STATE_FIELDS = ("watermark", "last_success_at", "last_run_id", "source_rows")


def read_state(conn: psycopg.Connection, spec: TableSpec) -> dict:
    row = conn.execute(
        "SELECT watermark, last_success_at, last_run_id, source_rows FROM traficov2_sync_state WHERE table_name = %s",
        (spec.target,)).fetchone()
    return dict(zip(STATE_FIELDS, row)) if row else {}


def write_state(conn: psycopg.Connection, spec: TableSpec, run_id: str, watermark: datetime | None,
                source_rows: int | None = None, *, reset: bool = False) -> datetime | None:
    """Record the run's success; the watermark stored (see :data:`RECORD_STATE`)."""
    return one_value(conn.execute(RECORD_STATE, {"table_name": spec.target, "watermark": watermark, "run_id": run_id,
                                                 "source_rows": source_rows, "reset": reset}))
