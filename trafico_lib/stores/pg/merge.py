"""Plan and apply the merge of staged rows into a target table, inside PostgreSQL.

``plan_merge`` computes what a run would do (inserts, field-level updates, unchanged,
deactivations) and leaves every table as it was. ``apply_merge`` writes it in batches:
COPY into a temp staging table, then one set-based upsert per batch; a batch that fails
on data is split in halves until the offending rows are found, and those are returned as
rejects with the database's reason while the rest commits.
"""
from __future__ import annotations

import math
from datetime import datetime
from typing import Callable, Iterable, Iterator

import pandas as pd
import psycopg

from ...engine.plan import MergeOutcome, Plan
from ...engine.stage import Staged
from ...tables import TableSpec
from . import sql as q

# Errors a batch can raise because of its rows (split and reject), as opposed to transient
# errors (retried by the caller) and bugs (raised).
DATA_ERRORS = (psycopg.errors.DataError, psycopg.errors.IntegrityError)


def _py(v):
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    if v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars
        return v.item()
    return v


def column_values(s: pd.Series) -> list:
    """A column as plain Python values with None for every kind of missing (for COPY)."""
    values = s.astype(object).tolist()
    missing = s.isna().to_numpy()
    if missing.any():
        for i in missing.nonzero()[0]:
            values[i] = None
    return values


def iter_rows(frame: pd.DataFrame, columns: list[str]) -> Iterator[tuple]:
    return zip(*(column_values(frame[c]) for c in columns))


def _copy(conn: psycopg.Connection, statement, rows: Iterable[tuple]) -> None:
    with conn.cursor() as cur, cur.copy(statement) as cp:
        for row in rows:
            cp.write_row(row)


def create_work_tables(conn: psycopg.Connection, spec: TableSpec, preserve: list[str], run_started) -> None:
    """The session's temp stage and merged tables (dropped at commit): DDL once per session."""
    conn.execute(q.create_stage(spec))
    conn.execute(q.create_merged(spec, preserve, run_started))


def load_stage(conn: psycopg.Connection, spec: TableSpec, frame: pd.DataFrame) -> None:
    """COPY a batch into the (empty) stage table."""
    _copy(conn, q.copy_stage(spec), iter_rows(frame, q.stage_columns(spec)))


def _load_keys(conn: psycopg.Connection, keys: list[str]) -> None:
    conn.execute(q.create_keys())
    conn.execute(q.sql.SQL("TRUNCATE {}").format(q.I(q.KEYS)))
    _copy(conn, q.copy_keys(), ((k,) for k in dict.fromkeys(keys)))


def _frame(cur: psycopg.Cursor) -> pd.DataFrame:
    rows = cur.fetchall()
    return pd.DataFrame(rows, columns=[d.name for d in cur.description])


def plan_merge(conn: psycopg.Connection, spec: TableSpec, staged: Staged, *, preserve: list[str],
               run_started: datetime, full: bool, skipped_unchanged: int = 0) -> Plan:
    """Compute the plan in a transaction that is always rolled back: nothing is written."""
    tx = conn.transaction(force_rollback=True)
    with tx:
        create_work_tables(conn, spec, preserve, run_started)
        load_stage(conn, spec, staged.frame)
        conn.execute(q.fill_merged(spec, preserve, run_started))
        inserts = _frame(conn.execute(q.inserts(spec)))
        updates = _frame(conn.execute(q.diffs(spec)))
        n_ins, n_upd, n_same = conn.execute(q.counts(spec)).fetchone()
        if full:
            _load_keys(conn, staged.seen_keys)
            deact = _frame(conn.execute(q.to_deactivate(spec)))
        else:
            deact = pd.DataFrame({"sync_key": []})
    if updates.empty:
        updates = pd.DataFrame(columns=["sync_key", "field", "old", "new"])
    counts = {"inserted": n_ins, "updated": n_upd, "unchanged": n_same + skipped_unchanged,
              "deactivated": len(deact)}
    return Plan(spec.name, inserts, updates, deact, counts["unchanged"], counts)


class _BatchStatements:
    """The statements every batch sends, rendered once per session (not composed per batch)."""

    def __init__(self, conn: psycopg.Connection, spec: TableSpec, preserve: list[str], run_started: datetime):
        self.columns = q.stage_columns(spec)
        self.truncate = q.truncate_work_tables().as_string(conn)
        self.copy = q.copy_stage(spec).as_string(conn)
        self.fill = q.fill_merged(spec, preserve, run_started).as_string(conn)
        self.merge = q.merge(spec).as_string(conn)
        self.refresh = q.refresh_metadata(spec).as_string(conn)


def _merge_batch(conn: psycopg.Connection, st: _BatchStatements, frame: pd.DataFrame, run_id: str) -> tuple[int, int]:
    _copy(conn, st.copy, iter_rows(frame, st.columns))
    conn.execute(st.fill)
    flags = [r[0] for r in conn.execute(st.merge, {"run_id": run_id}).fetchall()]
    conn.execute(st.refresh, {"keys": frame["sync_key"].tolist()})
    inserted = sum(1 for f in flags if f)
    return inserted, len(flags) - inserted


def _error_text(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag else None
    return primary or str(exc).strip().splitlines()[0]


def _raw_row(frame: pd.DataFrame, i: int) -> dict:
    row = frame.iloc[i]
    return {k: (None if (v := _py(row[k])) is None else (v if isinstance(v, (int, float, bool, str)) else str(v)))
            for k in frame.columns}


def apply_merge(conn: psycopg.Connection, spec: TableSpec, frame: pd.DataFrame, *, preserve: list[str],
                run_started: datetime, run_id: str, batch_size: int,
                on_batch: Callable[[int, int], None] | None = None) -> MergeOutcome:
    """Write staged rows in batches, inside the caller's transaction.

    ``on_batch(rows_done, rows_total)`` is called after each batch (progress bars, tests).
    """
    out = MergeOutcome()
    total = len(frame)
    create_work_tables(conn, spec, preserve, run_started)
    st = _BatchStatements(conn, spec, preserve, run_started)

    def run(part: pd.DataFrame) -> None:
        conn.execute(st.truncate)  # outside the savepoint: in place (see sql.truncate_work_tables)
        try:
            with conn.transaction():  # a savepoint: a data error undoes this part only
                ins, upd = _merge_batch(conn, st, part, run_id)
            out.inserted += ins
            out.updated += upd
            out.unchanged += len(part) - ins - upd
        except DATA_ERRORS as exc:
            if len(part) == 1:
                out.rejects.append({"sync_key": part["sync_key"].iloc[0],
                                    "reasons": [f"database: {_error_text(exc)}"],
                                    "raw_row": _raw_row(part, 0)})
                return
            half = len(part) // 2
            run(part.iloc[:half])
            run(part.iloc[half:])

    done = 0
    for start in range(0, total, batch_size):
        part = frame.iloc[start:start + batch_size]
        run(part)
        out.batches += 1
        done += len(part)
        if on_batch:
            on_batch(done, total)
    return out


def deactivate(conn: psycopg.Connection, spec: TableSpec, seen_keys, run_id: str) -> int:
    """``activo = false`` for active target rows whose key is not in ``seen_keys`` (full runs)."""
    _load_keys(conn, list(seen_keys))
    return len(conn.execute(q.deactivate(spec), {"run_id": run_id}).fetchall())
