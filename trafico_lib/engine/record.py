"""The run's record in the system tables: log row, rejects, state (DESIGN §4 step 7)."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Iterable

import psycopg

from ..tables import TableSpec


def write_log(conn: psycopg.Connection, spec: TableSpec, operation: str, details: dict) -> None:
    conn.execute(
        "INSERT INTO traficov2_sync_log (table_name, operation, source_table, details) VALUES (%s, %s, %s, %s)",
        (spec.target, operation, spec.source, json.dumps(details, ensure_ascii=False, default=str)))


def write_rejects(conn: psycopg.Connection, spec: TableSpec, run_id: str,
                  rejects: Iterable[tuple[str | None, str, str]]) -> int:
    """rejects: (sync_key, reasons JSON, raw row JSON) tuples."""
    rows = list(rejects)
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO traficov2_sync_rejects (run_id, table_name, sync_key, reasons, raw_row) "
                "VALUES (%s, %s, %s, %s, %s)", [(run_id, spec.target, *r) for r in rows])
    return len(rows)


def read_state(conn: psycopg.Connection, spec: TableSpec) -> dict:
    row = conn.execute(
        "SELECT watermark, last_success_at, last_run_id FROM traficov2_sync_state WHERE table_name = %s",
        (spec.target,)).fetchone()
    return dict(zip(("watermark", "last_success_at", "last_run_id"), row)) if row else {}


def write_state(conn: psycopg.Connection, spec: TableSpec, run_id: str, watermark: datetime | None) -> None:
    conn.execute(
        "INSERT INTO traficov2_sync_state (table_name, watermark, last_success_at, last_run_id) "
        "VALUES (%s, %s, now(), %s) ON CONFLICT (table_name) DO UPDATE SET "
        "watermark = coalesce(greatest(EXCLUDED.watermark, traficov2_sync_state.watermark), "
        "traficov2_sync_state.watermark), last_success_at = now(), last_run_id = EXCLUDED.last_run_id",
        (spec.target, watermark, run_id))
