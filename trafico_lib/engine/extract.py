"""Extract: read a table's source delta (DESIGN §4 step 1, §5).

With a change-timestamp column, incremental mode reads the rows changed since the stored
watermark minus the lookback window; without one (and in full mode) it reads everything
and the row hashes decide what changed. The result carries the text values plus meta
columns ``_source_id``, ``_source_updated_at`` and ``_row`` (position in the read).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
import psycopg
from psycopg import sql

from ..tables import TableSpec

TIMESTAMP_CANDIDATES = ("updated_at", "fecha_modificacion")


@dataclass
class Extract:
    frame: pd.DataFrame
    origin: str                    # "database" or the CSV path
    strategy: str                  # "timestamp" or "hash"
    since: datetime | None         # lower bound used (timestamp strategy, incremental)
    watermark: datetime | None     # largest source timestamp seen (None: no timestamp column)
    updated_column: str | None

    def describe(self) -> str:
        where = f"since {self.since:%Y-%m-%d %H:%M:%S%z}" if self.since else "all rows"
        return f"{len(self.frame)} rows from {self.origin} ({self.strategy} delta, {where})"


def source_columns(conn: psycopg.Connection, table: str) -> list[str]:
    rows = conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = %s ORDER BY ordinal_position", (table,)).fetchall()
    return [r[0] for r in rows]


class SourceMissing(Exception):
    pass


def detect_updated_column(columns: list[str], configured: str | None) -> str | None:
    if configured:
        if configured not in columns:
            raise SourceMissing(f"configured updated_column {configured!r} is not a column of the source table")
        return configured
    return next((c for c in TIMESTAMP_CANDIDATES if c in columns), None)


def extract_database(conn: psycopg.Connection, spec: TableSpec, *, mode: str, state: dict,
                     lookback: timedelta, updated_column: str | None = None) -> Extract:
    cols = source_columns(conn, spec.source)
    if not cols:
        raise SourceMissing(f"source table {spec.source!r} does not exist")
    upd = detect_updated_column(cols, updated_column)
    if not any(c in cols for c in spec.column_names):
        raise SourceMissing(f"source table {spec.source!r} has none of the expected columns")
    select = [sql.SQL("{}::text").format(sql.Identifier(c)) if c in cols else sql.SQL("NULL::text")
              for c in spec.column_names]
    id_expr = sql.SQL("{}::text").format(sql.Identifier("id")) if "id" in cols else sql.SQL("NULL::text")
    upd_expr = sql.Identifier(upd) if upd else sql.SQL("NULL::timestamptz")
    since = None
    where = sql.SQL("")
    params: list = []
    if upd and mode == "incremental" and state.get("watermark"):
        since = state["watermark"] - lookback
        where = sql.SQL(" WHERE {} > %s").format(sql.Identifier(upd))
        params.append(since)
    order = sql.SQL(" ORDER BY {}").format(sql.Identifier("id")) if "id" in cols else sql.SQL("")
    query = sql.SQL("SELECT {cols}, {id} AS _source_id, {upd} AS _source_updated_at FROM {src}{where}{order}").format(
        cols=sql.SQL(", ").join(select), id=id_expr, upd=upd_expr, src=sql.Identifier(spec.source),
        where=where, order=order)
    with conn.cursor() as cur:
        cur.execute(query, params)
        rows = cur.fetchall()
    frame = pd.DataFrame(rows, columns=[*spec.column_names, "_source_id", "_source_updated_at"], dtype=object)
    frame["_row"] = range(1, len(frame) + 1)
    watermark = None
    if upd and len(frame):
        watermark = pd.to_datetime(frame["_source_updated_at"], utc=True).max().to_pydatetime()
    return Extract(frame, f"table {spec.source}", "timestamp" if upd else "hash", since, watermark, upd)


def extract_csv(cfg, spec: TableSpec) -> Extract:
    from ..sources.csv import read_table_csv
    frame = read_table_csv(cfg, spec)
    return Extract(frame, str(cfg.csv_path(spec.csv_file_key)), "hash", None, None, None)
