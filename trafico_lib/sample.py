"""Load the sample CSVs of ``data/`` into the operational (source) tables (docs/architecture.md §3).

The live source tables hold text, so every business column is ``text`` here too. Two of the
four get a change-timestamp column (:data:`SOURCE_UPDATED_COLUMN`) and two do not, so both
delta strategies (watermark and row hash) have something to run against.

    create_source_tables(conn)           # CREATE TABLE IF NOT EXISTS for the four sources
    load_samples(conn, cfg)              # read each table's CSV, replace its rows, COPY in
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from .tables import TABLES, TableSpec
from .values import is_missing

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from .config import Config

# Source tables that carry a change timestamp; the other two have none.
SOURCE_UPDATED_COLUMN = {"arribos": "updated_at", "remisiones": "fecha_modificacion"}


def source_ddl(spec: TableSpec) -> sql.Composed:
    """``CREATE TABLE IF NOT EXISTS`` for a source table: id, text columns, maybe a timestamp."""
    parts = [sql.SQL("id bigserial PRIMARY KEY")]
    parts += [sql.SQL("{} text").format(sql.Identifier(c)) for c in spec.column_names]
    updated = SOURCE_UPDATED_COLUMN.get(spec.name)
    if updated:
        parts.append(sql.SQL("{} timestamptz NOT NULL DEFAULT now()").format(sql.Identifier(updated)))
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
        sql.Identifier(spec.source), sql.SQL(", ").join(parts))


def create_source_tables(conn: psycopg.Connection) -> None:
    """Create the four operational tables if they are missing (harmless when they exist)."""
    with conn.transaction():
        for spec in TABLES.values():
            conn.execute(source_ddl(spec))


def _text_rows(frame: pd.DataFrame, columns: list[str]) -> Iterable[list[str | None]]:
    """The frame's cells as text, missing values as None (NULL), in ``columns`` order."""
    for values in frame[columns].itertuples(index=False, name=None):
        yield [_as_text(v) for v in values]


def _as_text(value: Any) -> str | None:
    return None if is_missing(value) else str(value)


def _copy_rows(conn: psycopg.Connection, spec: TableSpec, rows: Iterable[list[str | None]]) -> int:
    """COPY the rows into the source table's business columns; returns how many."""
    stmt = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(spec.source),
        sql.SQL(", ").join(sql.Identifier(c) for c in spec.column_names))
    n = 0
    with conn.cursor() as cur, cur.copy(stmt) as copy:
        for row in rows:
            copy.write_row(row)
            n += 1
    return n


def load_samples(conn: psycopg.Connection, cfg: Config, *, replace: bool = True,
                 tables: Iterable[str] | None = None) -> dict[str, int]:
    """Load each table's CSV (``cfg.csv_path``) into its source table, in one transaction.

    ``replace`` empties each table first (``TRUNCATE ... RESTART IDENTITY``), so loading
    twice leaves the same rows; ``replace=False`` appends. ``tables`` limits the load to
    some short names (default: all four). Returns ``{table name: rows loaded}``.
    """
    from .sources.csv import read_table_csv

    specs = [TABLES[t] for t in tables] if tables is not None else list(TABLES.values())
    # read all before writing; a source table gets every column but the desk's (a column the
    # file lacks would be loaded empty, and a database source's empty column is an emptied one)
    frames = {spec.name: read_table_csv(cfg, spec, required=[c for c in spec.column_names
                                                             if c not in spec.preserve_fields])
              for spec in specs}
    counts: dict[str, int] = {}
    with conn.transaction():
        for spec in specs:
            conn.execute(source_ddl(spec))
            if replace:
                conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY").format(sql.Identifier(spec.source)))
            counts[spec.name] = _copy_rows(conn, spec, _text_rows(frames[spec.name], spec.column_names))
    return counts
