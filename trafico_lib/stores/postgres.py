"""The direct PostgreSQL / Supabase store (docs/architecture.md §6), and the embedded server behind it.

``PostgresStore`` implements the store protocol (``stores/base.py``) with psycopg 3: the
source read through a server-side cursor in chunks, COPY into a temp staging table, set-based
upserts from it, an advisory lock and one transaction per table.
The SQL lives in ``stores/pg/`` and ``stores/sql/`` (what the REST store shares). The connection string is never logged or put in an
exception: errors name the host only, and every message passes the one scrubber.

psycopg errors are turned into the error tree here, once: a connection that cannot be made is
:class:`~trafico_lib.errors.StoreUnavailable`; connection faults, serialization failures and
deadlocks are :class:`~trafico_lib.errors.TransientError` (worth a retry); anything else from
the database is :class:`~trafico_lib.errors.SyncFailed`.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING, Any

import pandas as pd
import psycopg
from psycopg import sql

from ..config import Config
from ..errors import (ConfigError, SchemaMissing, StoreUnavailable, SyncFailed, TransientError, connection_secrets,
                      describe_conninfo, one_line, scrub)
from ..tables import TableSpec
from .embedded import embedded_url
from .pg import backprop, merge, record, retention, source
from .sql import merge as merge_sql

if TYPE_CHECKING:
    from ..engine.backprop import BackpropResult
    from ..engine.conform import TargetLayout
    from ..engine.extract import Extract
    from ..engine.probe import SourceProbe
    from .base import Staging
    from .pg.health import PostgresHealthReader

# SQLSTATEs worth another try: connection exceptions (class 08), the server shutting down or
# starting (57P01-57P03), serialization failures and deadlocks.
_TRANSIENT_CLASSES = ("08",)
_TRANSIENT_STATES = {"57P01", "57P02", "57P03", "40001", "40P01"}


def is_transient(exc: BaseException) -> bool:
    """A psycopg error worth another try (no SQLSTATE: the connection itself was lost)."""
    if not isinstance(exc, psycopg.OperationalError):
        return False
    state = getattr(exc, "sqlstate", None)
    return state is None or state in _TRANSIENT_STATES or state[:2] in _TRANSIENT_CLASSES


def _first(row: tuple[Any, ...] | None) -> Any:
    """The value of a statement that always returns one row (an aggregate, a function's value)."""
    assert row is not None
    return row[0]


def behind_transaction_pooler(url: str) -> bool:
    """Whether ``url`` reaches the database through a transaction pooler, by its address:
    Supabase's pooler (``*.pooler.supabase.com``, port 6543 in transaction mode)."""
    try:
        from psycopg.conninfo import conninfo_to_dict
        d = conninfo_to_dict(url)
    except Exception:
        return False
    return str(d.get("port") or "") == "6543" or str(d.get("host") or "").endswith("pooler.supabase.com")


POOLER_HINT = "set database.transaction_pooler: true in the configuration (each run's staging is then one transaction)"


def pooled_session_lost(exc: BaseException) -> bool:
    """A psycopg error saying the session changed between two statements: a temp table of the
    run (``_trafico_…``) vanished or is another run's, or temp_buffers cannot be set on a server
    connection that another client's temp tables used. What a transaction pooler does to a session."""
    text = str(exc)
    return ((isinstance(exc, (psycopg.errors.UndefinedTable, psycopg.errors.DuplicateTable)) and '"_trafico_' in text)
            or (isinstance(exc, psycopg.errors.InvalidParameterValue) and "temp_buffers" in text))


class PostgresStore:
    """The TráficoV2 tables in a PostgreSQL database: a URL from config, or the embedded server."""

    def __init__(self, url: str, *, connect_timeout: int = 5, secrets: list[str] | None = None,
                 embedded: bool = False, transaction_pooler: bool | None = None):
        self._url = url
        self._pooler_said = transaction_pooler is not None  # the config said (else: by the address)
        self.transaction_pooler = (behind_transaction_pooler(url) if transaction_pooler is None
                                   else transaction_pooler)
        self.connect_timeout = connect_timeout
        self._secrets = [*connection_secrets(url), *(secrets or [])]
        self.embedded = embedded
        self.location: str | None = None  # the embedded server's folder, for messages
        self._schema_checked = False

    @classmethod
    def from_config(cls, cfg: Config) -> PostgresStore:
        if cfg.database_url:
            return cls(cfg.database_url, connect_timeout=cfg.database.connect_timeout_seconds,
                       secrets=cfg.secrets, transaction_pooler=cfg.database.transaction_pooler)
        try:
            url = embedded_url(cfg.resolve(cfg.database.embedded_path))
        except Exception as exc:  # the wheel raises several kinds; one line is what we owe
            raise StoreUnavailable(f"could not start the embedded PostgreSQL under "
                             f"{cfg.database.embedded_path}: {one_line(exc)}") from None
        store = cls(url, connect_timeout=cfg.database.connect_timeout_seconds, embedded=True)
        store.location = str(cfg.resolve(cfg.database.embedded_path))
        return store

    # a table's run commits its writes, log row and state in one transaction: a run stopped
    # midway wrote nothing
    atomic = True

    @property
    def kind(self) -> str:
        return "embedded" if self.embedded else "postgres"

    @property
    def name(self) -> str:
        return "embedded PostgreSQL" if self.embedded else f"PostgreSQL at {describe_conninfo(self._url)}"

    @property
    def url(self) -> str:
        """The connection URL (a secret when it carries a password: do not print it)."""
        return self._url

    def connect(self, **kwargs) -> psycopg.Connection:
        try:
            # No server-side prepared statements: a prepared (generic) plan of a batch statement
            # cannot see the batch's keys and scans the target, and a transaction pooler
            # (Supabase's, pgbouncer) hands each transaction another server connection.
            return psycopg.connect(self._url, connect_timeout=self.connect_timeout, application_name="trafico",
                                   prepare_threshold=None, **kwargs)
        except psycopg.Error as exc:
            text = str(exc).strip()
            first = text.splitlines()[-1].strip() if text else type(exc).__name__
            raise StoreUnavailable(f"cannot connect to {self.name}: {scrub(first, self._secrets)}") from None

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turn psycopg errors into the error tree, scrubbed (transient ones stay retryable)."""
        try:
            yield
        except psycopg.Error as exc:
            if not self.transaction_pooler and pooled_session_lost(exc):
                raise ConfigError(f"{self.name}: the run's session changed between two statements "
                                  f"({one_line(exc, self._secrets)}): the address goes through a transaction "
                                  f"pooler (pgbouncer, Supavisor); {POOLER_HINT}") from None
            line = one_line(exc, self._secrets)
            if is_transient(exc):
                raise TransientError(line) from exc
            raise SyncFailed(line) from exc

    @contextmanager
    def session(self) -> Iterator[psycopg.Connection]:
        """A connection whose work is committed when the block succeeds (rolled back if not);
        the code inside opens its own transactions or savepoints as it needs."""
        with self.errors(), self.connect() as conn:
            yield conn

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A connection inside one transaction, committed on success, closed after."""
        conn = self.connect()
        try:
            with self.errors(), conn.transaction():
                yield conn
        finally:
            conn.close()

    # ---- the store protocol (stores/base.py) ----------------------------------------------

    def check(self) -> None:
        self.connect().close()

    def schema_version(self, conn: psycopg.Connection) -> str | None:
        """The newest schema step applied here (None: no trafico schema)."""
        try:
            with conn.transaction():
                return _first(conn.execute("SELECT max(version) FROM traficov2_schema_migrations").fetchone())
        except psycopg.errors.UndefinedTable:
            return None

    def check_schema(self, conn: psycopg.Connection) -> None:
        """trafico's schema is there and current, else SchemaMissing saying which database and
        what to run (once per store)."""
        if self._schema_checked:
            return
        from ..schema import latest_version
        have, need = self.schema_version(conn), latest_version()
        where = (f"the embedded PostgreSQL under {self.location}" if self.embedded and self.location
                 else self.name)
        hint = "run `python update_traficov2.py --init-db` (with the same --config) first"
        if have is None:
            raise SchemaMissing(f"{where} has no trafico schema: {hint}")
        if have < need:
            raise SchemaMissing(f"{where} has trafico's schema up to step {have}, this version needs step {need}: {hint}")
        self._check_pooler(conn)
        self._schema_checked = True

    def _check_pooler(self, conn: psycopg.Connection) -> None:
        """Unless the configuration said whether the address pools transactions: a pooler hands
        the client a cancel key of its own, so the backend pid it announced is not the server's.
        Through a pooler the sessions trafico relies on may not hold: ConfigError (exit 2),
        before anything runs. (A pooler of whole sessions works either way: say false.)"""
        if self._pooler_said or self.transaction_pooler:
            return
        with conn.transaction():
            server_pid = _first(conn.execute("SELECT pg_backend_pid()").fetchone())
        if conn.info.backend_pid != server_pid:
            raise ConfigError(f"{self.name} answers through a connection pooler (pgbouncer, Supavisor) not on "
                              f"port 6543, where a run's temporary tables would vanish between statements: "
                              f"set database.transaction_pooler: true (false only if it pools whole sessions)")

    def columns(self, table: str) -> list[str]:
        """A table's columns in order; [] when it does not exist."""
        from .pg.source import source_columns
        with self.transaction() as conn:
            return source_columns(conn, table)

    def require_schema(self) -> None:
        """:meth:`check_schema` on a connection of its own."""
        with self.transaction() as conn:
            self.check_schema(conn)

    def read_state(self, spec: TableSpec) -> dict[str, Any]:
        with self.transaction() as conn:
            self.check_schema(conn)
            return record.read_state(conn, spec)

    def read_source(self, spec: TableSpec, *, mode: str, state: dict[str, Any], lookback: timedelta,
                    updated_column: str | None = None, chunk_rows: int | None = None,
                    fingerprint: str | None = None, staging: Staging | None = None) -> Extract:
        """The source delta (``engine.extract.Extract``), read ``chunk_rows`` at a time through a
        server-side cursor, in one snapshot. With the run's ``staging`` it reads on the staging's
        connection, and rows whose text and context (``fingerprint``) are as last written stay
        in the database, set aside into the staging unread (``stores.pg.source.read_source``);
        without, on a connection of its own, closed after the last chunk."""
        if staging is not None and not isinstance(staging, merge.PgStaging):
            raise TypeError(f"{self.name} reads into its own staging, not a {type(staging).__name__}")
        own = staging is None
        conn = self.connect(autocommit=True) if staging is None else staging.conn

        def close() -> None:
            if own:
                conn.close()
        try:
            with self.errors():
                return source.read_source(conn, spec, mode=mode, state=state, lookback=lookback,
                                          updated_column=updated_column, chunk_rows=chunk_rows,
                                          fingerprint=fingerprint, unchanged_table=None if own else merge_sql.UNCHANGED,
                                          on_close=close, guard=self.errors)
        except BaseException:
            close()
            raise

    def source_probe(self, spec: TableSpec, *, updated_column: str | None = None) -> SourceProbe | None:
        """The source's probe (``stores/pg/probe.py``): count, newest change time and the rows'
        hash aggregate, computed in the database; None when the source table is not there."""
        from .pg.probe import source_probe
        with self.transaction() as conn:
            return source_probe(conn, spec, updated_column)

    def stored_probe(self, spec: TableSpec) -> dict[str, Any]:
        from .pg.probe import stored_probe
        with self.transaction() as conn:
            return stored_probe(conn, spec)

    def count_changed_after(self, spec: TableSpec, column: str, after: datetime) -> int:
        """Source rows whose change time ``column`` is later than ``after``."""
        with self.transaction() as conn:
            return source.count_changed_after(conn, spec, column, after)

    def read_target(self, spec: TableSpec, columns: list[str]) -> pd.DataFrame:
        with self.transaction() as conn, conn.cursor() as cur:
            cur.execute(sql.SQL("SELECT {} FROM {}").format(
                sql.SQL(", ").join(sql.Identifier(c) for c in columns), sql.Identifier(spec.target)))
            return pd.DataFrame(cur.fetchall(), columns=columns, dtype=object)

    def read_unkeyed(self, spec: TableSpec, columns: list[str]) -> pd.DataFrame:
        """The target's active rows with no key yet (``id`` and ``columns`` as text): the old
        tool's rows, before the first sync adopts them. One index probe when there are none."""
        with self.transaction() as conn, conn.cursor() as cur:
            cur.execute(merge_sql.unkeyed(spec, columns))
            return pd.DataFrame(cur.fetchall(), columns=["id", *columns], dtype=object)

    def target_layout(self, spec: TableSpec) -> TargetLayout:
        """Each column's type from the catalog, and whether the table is adopted (``stores/pg/layout.py``)."""
        from .pg.layout import target_layout
        with self.transaction() as conn:
            return target_layout(conn, spec)

    def staging(self, spec: TableSpec, *, preserve: list[str], source_time: datetime,
                run_id: str) -> merge.PgStaging:
        """A run's staging (``stores.pg.merge.PgStaging``) on a connection of its own, where plan
        and apply find the same staged rows; ``close()`` it when the run is done.

        Through a transaction pooler the staging is one repeatable-read transaction, from the
        temp tables to the writes' commit: the pooler may hand each transaction another server
        connection, and the temp tables live in one. (Directly, each step is a transaction of
        its own on the one session, and the writes read committed.)"""
        conn = self.connect(autocommit=not self.transaction_pooler)
        if self.transaction_pooler:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        try:
            return merge.PgStaging(conn, spec, preserve=preserve, source_time=source_time, run_id=run_id,
                                   guard=self.errors)
        except BaseException:
            conn.close()
            raise

    def write_log(self, spec: TableSpec, operation: str, details: dict[str, Any]) -> None:
        with self.transaction() as conn:
            record.write_log(conn, spec, operation, details)

    def record_skip(self, spec: TableSpec, run_id: str, expected_last_run_id: str | None, details: dict[str, Any], *,
                    lock_timeout: float = 0.0) -> None:
        """A skipped run's record (``pipeline/probe.py``) in one transaction under the table's
        advisory lock, as a writing run's session makes it: the state checked (TableLocked when
        another run finished meanwhile), the SYNC log row, the state (no watermark moved)."""
        from ..engine.batches import check_state
        from .pg import lock
        with self.transaction() as conn:
            conn.execute("SET LOCAL trafico.sync = 'on'")
            lock.acquire(conn, spec.target, timeout=lock_timeout)
            check_state(spec.name, expected_last_run_id, record.read_state(conn, spec).get("last_run_id"))
            record.write_log(conn, spec, "SYNC", details)
            record.write_state(conn, spec, run_id, None)

    def back_propagate(self, spec: TableSpec, fields: list[str], *, run_id: str, key: list[str] | None = None,
                       dry_run: bool = False, lock_timeout: float = 5.0,
                       updated_column: str | None = None, notebook: str | None = None) -> BackpropResult:
        with self.session() as conn:
            return backprop.back_propagate(conn, spec, fields, run_id=run_id, key=key, dry_run=dry_run,
                                           lock_timeout=lock_timeout, updated_column=updated_column, notebook=notebook)

    @contextmanager
    def health_reader(self) -> Iterator[PostgresHealthReader]:
        """Read-only facts for the health check (``stores/pg/health.py``)."""
        from .pg.health import PostgresHealthReader
        conn = self.connect(autocommit=True)
        try:
            yield PostgresHealthReader(conn)
        finally:
            conn.close()

    def prune(self, cutoff: datetime, *, dry_run: bool = False) -> dict[str, int]:
        with self.session() as conn:
            return retention.prune_database(conn, cutoff, dry_run=dry_run)

    def write_snapshot(self, spec: TableSpec, out: IO[bytes]) -> None:
        with self.transaction() as conn, conn.cursor() as cur:
            with cur.copy(sql.SQL("COPY (SELECT * FROM {} ORDER BY sync_key) TO STDOUT WITH (FORMAT csv, HEADER)")
                          .format(sql.Identifier(spec.target))) as cp:
                for chunk in cp:
                    out.write(chunk)

    def init_schema(self, preserve: dict[str, list[str]] | None = None) -> list[str]:
        from ..schema import apply_migrations
        with self.session() as conn:
            return apply_migrations(conn, preserve)
