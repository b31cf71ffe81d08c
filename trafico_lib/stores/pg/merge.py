"""Stage, plan and apply a run's rows inside PostgreSQL (one connection, its temp tables).

The pipeline hands the staging its rows chunk by chunk; they are COPYed into a temp table,
so memory holds one chunk whatever the table's size. :meth:`PgStaging.finish` resolves
duplicate keys across chunks (latest wins) and sets aside the rows the target already holds,
in SQL. :meth:`PgStaging.plan` computes what the run would do and writes nothing; the write
session merges the staged rows in slices of at least :data:`STATEMENT_ROWS`, one set-based
upsert per slice; a slice that fails on data is split in halves until the offending rows
are found (``engine/batches.py``), and those are returned as rejects with the database's
reason while the rest commits. Plan and apply read the same staged rows: nothing is staged twice.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from typing import Any

import pandas as pd
import psycopg

from ...engine.adopt import Adopt
from ...engine.batches import Written, check_state, write_batches
from ...engine.plan import PLAN_ROWS, MergeOutcome, Plan
from ...engine.probe import SourceProbe
from ...engine.stage import Staged, StagedTotals
from ...errors import MassDeactivation
from ...tables import TableSpec
from ...values import plain
from ..sql import merge as q
from ..sql.copytext import copy_payload
from . import lock, record
from .background import Background
from .rows import column_names, one_row, one_value

# Errors a slice can raise because of its rows (split and reject), as opposed to transient
# errors (retried by the caller) and bugs (raised).
DATA_ERRORS = (psycopg.errors.DataError, psycopg.errors.IntegrityError)

# Rows per merge statement on a direct connection, whatever the table's batch_size: a statement
# costs a round trip and a plan, and a direct connection has no request size to respect
# (batch_size is the REST store's rows per request).
STATEMENT_ROWS = 5000

ALL_ROWS = {"lo": 0, "hi": 2 ** 62}  # every staged row's _n


def _copy(conn: psycopg.Connection, statement, payload: bytes) -> None:
    with conn.cursor() as cur, cur.copy(statement) as cp:
        cp.write(payload)


def _frame(cur: psycopg.Cursor) -> pd.DataFrame:
    rows = cur.fetchall()
    return pd.DataFrame(rows, columns=column_names(cur))


def _error_text(exc: Exception) -> str:
    diag = getattr(exc, "diag", None)
    primary = getattr(diag, "message_primary", None) if diag else None
    return primary or str(exc).strip().splitlines()[0]




class PgStaging:
    """A run's staged rows in temp tables of one connection, shared by plan and apply; the
    source is read on the same connection (``PostgresStore.read_source(staging=...)``), so
    unchanged source rows go aside without leaving the database.

    A chunk's COPY runs on a worker thread while the caller goes on with the next chunk (one
    COPY in flight at most); everything else waits for it first, and its error is raised there.
    """

    def __init__(self, conn: psycopg.Connection, spec: TableSpec, *, preserve: list[str], source_time: datetime,
                 run_id: str, guard=nullcontext):
        self.conn, self.spec, self.preserve = conn, spec, preserve
        self.source_time, self.run_id, self.guard = source_time, run_id, guard
        self.totals: StagedTotals | None = None
        self._staged = 0
        with guard():
            # the run's temp tables and sorts in memory rather than in files (allowed to any
            # role: temp_buffers before the session's first temp table). Through a transaction
            # pooler (one transaction, see PostgresStore.staging) only for this transaction:
            # the server connection is shared, and may have used temp tables already
            if conn.autocommit:
                conn.execute("SET temp_buffers = '128MB'")
                conn.execute("SET work_mem = '64MB'")
            else:
                conn.execute("SET LOCAL work_mem = '64MB'")
                try:
                    with conn.transaction():
                        conn.execute("SET LOCAL temp_buffers = '128MB'")
                except psycopg.errors.InvalidParameterValue:
                    pass
            conn.execute(q.drop_work_tables())
            for ddl in (q.create_numbers(), q.create_ready(spec), q.create_keys(), q.create_unchanged()):
                conn.execute(ddl)
        self._copy_stage = q.copy_stage(spec).as_string(conn)
        self._copy_keys = q.copy_keys().as_string(conn)
        self._columns = q.stage_columns(spec)
        self._sending = Background("trafico-copy")

    @property
    def alive(self) -> bool:
        return not self.conn.closed and not self.conn.broken

    def add(self, staged: Staged, extra_keys: Iterable[str] = ()) -> None:
        """One chunk's staged rows, and every key the chunk held (``extra_keys``: the keys of
        rows validation rejected, still present in the source)."""
        frame = staged.frame
        if "_order" not in frame.columns:
            frame = frame.assign(_order=range(self._staged + 1, self._staged + 1 + len(frame)))
        self._staged += len(frame)
        rows = copy_payload(frame, self._columns)
        keys = copy_payload(pd.DataFrame({"sync_key": [*staged.seen_keys, *(k for k in extra_keys if k)]}),
                            ["sync_key"])
        self.wait()
        self._sending.start(self._send, rows, keys)

    def _send(self, rows: bytes, keys: bytes) -> None:
        with self.guard():
            if rows:
                _copy(self.conn, self._copy_stage, rows)
            if keys:
                _copy(self.conn, self._copy_keys, keys)

    def wait(self) -> None:
        """Until the last chunk's COPY is done (raises its error)."""
        self._sending.result()

    def unchanged_keys(self) -> set[str]:
        """The keys of the source rows set aside unread (for the CSV cross-check only: it
        compares every key of the source with a whole CSV export)."""
        self.wait()
        with self.guard(), self.conn.cursor() as cur:
            cur.execute(q.sql.SQL("SELECT sync_key FROM {}").format(q.I(q.UNCHANGED)))
            return {r[0] for r in cur}

    def finish(self) -> StagedTotals:
        """Latest wins across chunks (an unread row too: one a staged row of its key replaced is
        a duplicate, not an unchanged row); rows the target holds identically set aside. The
        staged rows stay where COPY put them: only the few that lose or need nothing are deleted."""
        self.wait()
        c = self.conn
        with self.guard():
            c.execute(q.analyze_staged())
            c.execute(q.duplicate_keys())
            dups = _frame(c.execute(q.drop_superseded())) if one_value(c.execute(
                q.sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(q.I(q.DUPLICATES)))) else None
            lost = _frame(c.execute(q.drop_lost()))
            replaced = _frame(c.execute(q.drop_replaced_unread()))  # unread, but a staged row of their key won
            with c.transaction():
                # a hash join whatever the target's statistics say (never analyzed, it looks empty)
                c.execute("SET LOCAL enable_nestloop = off")
                identical = c.execute(q.drop_identical(self.spec)).rowcount
                c.execute("SET LOCAL enable_nestloop = DEFAULT")  # (a savepoint keeps SET LOCAL)
            c.execute(q.index_ready())
            c.execute(q.unchanged_keys())
            c.execute(q.sql.SQL("ANALYZE {}").format(q.I(q.KEYS)))
        parts = [d for d in (dups, lost) if d is not None and len(d)]
        rows = self._staged - sum(len(d) for d in parts) - identical
        parts += [replaced] if len(replaced) else []
        dups = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["sync_key", "source_id"])
        self.totals = StagedTotals(rows=rows, skipped_unchanged=identical, duplicates=dups,
                                   unread_replaced=len(replaced))
        return self.totals

    def finished(self) -> StagedTotals:
        """What :meth:`finish` found; planning or merging before it is a bug of the caller."""
        if self.totals is None:
            raise RuntimeError("the staging was not finished (staging.finish()) before its plan or merge")
        return self.totals

    def source_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` the source holds this run (every chunk's keys, the unread rows' too)."""
        keys = list(keys)
        if not keys:
            return set()
        with self.guard(), self.conn.cursor() as cur:
            cur.execute(q.sql.SQL("SELECT DISTINCT sync_key FROM {} WHERE sync_key = ANY(%s)").format(q.I(q.KEYS)),
                        (keys,))
            return {r[0] for r in cur}

    def plan(self, *, full: bool, adopt: Adopt | None = None) -> Plan:
        """What the write would do; computed in a transaction that is always rolled back, after
        the adoption of the old tool's rows (``adopt``: engine.adopt pairs and the edit time),
        rolled back with it (``Plan.adopted`` says what it did)."""
        c, spec, t = self.conn, self.spec, self.finished()
        limit = {"limit": PLAN_ROWS}
        adopted = None
        with self.guard(), c.transaction(force_rollback=True):
            if adopt is not None and adopt.pairs:
                adopted = adopt_rows(c, spec, self.preserve, adopt, run_id=self.run_id)
            c.execute(q.create_merged(spec, self.preserve, self.source_time))
            c.execute(q.fill_merged(spec, self.preserve, self.source_time), ALL_ROWS)
            inserts = _frame(c.execute(q.inserts(spec), limit))
            updates = _frame(c.execute(q.planned_diffs(spec), limit))
            n_ins, n_upd, n_same, _ = one_row(c.execute(q.counts(spec)))
            if full:
                deact = _frame(c.execute(q.to_deactivate(spec), limit))
                n_deact = one_value(c.execute(q.deactivation_count(spec)))
            else:
                deact, n_deact = pd.DataFrame({"sync_key": []}), 0
        if updates.empty:
            updates = pd.DataFrame(columns=["sync_key", "field", "old", "new"])
        counts = {"inserted": n_ins, "updated": n_upd, "unchanged": n_same + t.skipped_unchanged,
                  "deactivated": n_deact}
        return Plan(spec.name, inserts, updates, deact, counts["unchanged"], counts, adopted=adopted)

    @contextmanager
    def sync_session(self, *, lock_timeout: float) -> Iterator[PgSyncSession]:
        """The run's writes in one transaction under the table's advisory lock, marked
        (``trafico.sync``) so the manual-edit trigger leaves them alone."""
        c = self.conn
        with self.guard():
            with c.transaction():
                c.execute("SET LOCAL trafico.sync = 'on'")
                lock.acquire(c, self.spec.target, timeout=lock_timeout)
                yield PgSyncSession(self)
            if not c.autocommit:  # through a pooler: the staging's one transaction ends here
                c.commit()

    def close(self) -> None:
        self._sending.close()
        try:
            self.conn.close()  # the temp tables go with the connection
        except psycopg.Error:
            pass


def _slices(conn: psycopg.Connection, total: int, size: int) -> list[tuple[int, int, int]]:
    """(first _n, last _n, rows) of each slice of ``size`` staged rows: by arithmetic while the
    numbers have no gaps (rows deleted by :meth:`PgStaging.finish` leave some), else counted."""
    first, last = one_row(conn.execute(q.sql.SQL("SELECT min(_n), max(_n) FROM {}").format(q.I(q.READY))))
    if not total:
        return []
    if last - first + 1 == total:
        return [(lo, min(lo + size - 1, last), min(lo + size - 1, last) - lo + 1) for lo in range(first, last + 1, size)]
    return conn.execute(q.slices(size)).fetchall()


class _SliceStatements:
    """The statements every slice sends, rendered once per write (not composed per slice)."""

    def __init__(self, conn: psycopg.Connection, spec: TableSpec, preserve: list[str], source_time: datetime,
                 *, first_load: bool):
        self.first_load = first_load
        self.truncate = q.truncate_merged().as_string(conn)
        self.fill = q.fill_merged(spec, preserve, source_time, existing_only=True).as_string(conn)
        self.merge = q.merge(spec).as_string(conn)
        self.insert = q.insert_new(spec, preserve, probe=not first_load).as_string(conn)
        self.refresh = q.refresh_metadata(spec).as_string(conn)
        self.left = q.left_alone(spec).as_string(conn)
        self.row = q.ready_row(spec).as_string(conn)


def adopt_rows(conn: psycopg.Connection, spec: TableSpec, preserve: list[str], adopt: Adopt, *,
               run_id: str) -> pd.DataFrame:
    """Apply the adoption statement (``sql.adopt``) in the caller's transaction: (id, sync_key,
    adopted) of each row it keyed or deactivated."""
    from psycopg.types.json import Jsonb
    cur = conn.execute(q.adopt(spec, preserve), {"pairs": Jsonb(adopt.pairs), "edited_at": adopt.edited_at,
                                                  "run_id": run_id})
    return _frame(cur)


class PgSyncSession:
    """The writes of one table's run, inside the staging's transaction (see ``SyncSession``)."""

    def __init__(self, staging: PgStaging):
        self.staging = staging
        self.conn, self.spec, self.run_id = staging.conn, staging.spec, staging.run_id
        # the target held no row when the writes began (the lock is held): a first load, where
        # every staged row is new and nothing can be deactivated
        self.first_load: bool = one_value(self.conn.execute(q.target_empty(self.spec)))

    def check_state(self, expected_last_run_id: str | None) -> None:
        check_state(self.spec.name, expected_last_run_id,
                    record.read_state(self.conn, self.spec).get("last_run_id"))

    def adopt(self, adopt: Adopt) -> pd.DataFrame:
        """The old tool's rows given their keys, before the merge, in the run's transaction (a
        failed run adopts nothing): (id, sync_key, adopted) per row keyed or deactivated."""
        if not adopt.pairs:
            return pd.DataFrame(columns=["id", "sync_key", "adopted"])
        return adopt_rows(self.conn, self.spec, self.staging.preserve, adopt, run_id=self.run_id)

    def merge(self, *, batch_size: int, on_batch: Callable[[int, int], None] | None = None) -> MergeOutcome:
        """Merge the staged rows in slices; ``on_batch(rows_done, rows_total)`` after each.

        A slice first merges its rows the target holds (the rule, the changes recorded), then
        inserts the others as they are; on a first load every row is new and only the insert runs."""
        st = self.staging
        conn, total = self.conn, st.finished().rows
        conn.execute(q.create_merged(self.spec, st.preserve, st.source_time))
        s = _SliceStatements(conn, self.spec, st.preserve, st.source_time, first_load=self.first_load)
        bounds = _slices(conn, total, max(batch_size, STATEMENT_ROWS))

        def write(lo: int, hi: int) -> Written:  # the staged rows numbered lo..hi-1
            flags: list[bool] = []
            left: tuple[Any, ...] = (0, None)
            if not s.first_load:
                conn.execute(s.truncate)  # outside the savepoint: in place (see sql.truncate_merged)
            with conn.transaction():  # a savepoint: a data error undoes this slice only
                if not s.first_load:
                    conn.execute(s.fill, {"lo": lo, "hi": hi - 1})
                    flags = [r[0] for r in conn.execute(s.merge, {"run_id": self.run_id}).fetchall()]
                    conn.execute(s.refresh)
                    left = one_row(conn.execute(s.left))
                inserted = conn.execute(s.insert, {"lo": lo, "hi": hi - 1}).rowcount
            ins = sum(1 for f in flags if f)
            return Written(inserted=ins + inserted, updated=len(flags) - ins, left=left[0], left_since=left[1])

        def row(n: int) -> dict:
            got = conn.execute(s.row, {"n": n})
            values = dict(zip(column_names(got), one_row(got)))
            return {k: plain(v, iso=False) for k, v in values.items()}

        return write_batches([(lo, hi + 1, rows) for lo, hi, rows in bounds], total, write,
                             splits=lambda exc: isinstance(exc, DATA_ERRORS), reason=_error_text, row=row,
                             on_batch=on_batch)

    def deactivate(self, *, max_share: float | None = None) -> int:
        """``activo = false`` for active target rows whose key the source no longer holds (none
        on a first load: every row the target holds now came from this run's source). More
        than ``max_share`` of the active rows raises MassDeactivation: the session's
        transaction rolls back, nothing of the run is written."""
        if self.first_load:
            return 0
        gone = len(self.conn.execute(q.deactivate(self.spec), {"run_id": self.run_id}).fetchall())
        if max_share is not None and gone:
            still = one_value(self.conn.execute(q.count_active(self.spec)))
            if gone > max_share * (gone + still):
                raise MassDeactivation(self.spec.name, gone, gone + still, max_share)
        return gone

    def write_rejects(self, rejects: list[tuple]) -> int:
        return record.write_rejects(self.conn, self.spec, self.run_id, rejects)

    def write_duplicates(self, rows: list[tuple[str, str | None]]) -> int:
        return record.write_duplicates(self.conn, self.spec, self.run_id, rows)

    def write_log(self, operation: str, details: dict) -> None:
        record.write_log(self.conn, self.spec, operation, details)

    def write_state(self, watermark: datetime | None, source_rows: int | None = None, *,
                    reset: bool = False) -> datetime | None:
        return record.write_state(self.conn, self.spec, self.run_id, watermark, source_rows, reset=reset)

    def write_probe(self, probe: SourceProbe | None, *, context: str | None, full: bool) -> None:
        from .probe import record_probe
        record_probe(self.conn, self.spec, self.run_id, probe, context, full)
