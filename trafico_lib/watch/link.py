"""The watch's own hold on the database: the change probe, the wake-up, the ``checked_at`` mark.

* :class:`DirectLink` (a PostgreSQL URL, or the embedded server): one connection kept for the
  whole watch (autocommit), on which it probes the sources (``stores/pg/probe.py``, the
  statement ``Store.source_probe`` runs) and, with ``watch.notify``, LISTENs on
  :data:`CHANNEL`. Through a transaction pooler (pgbouncer, Supabase's port 6543) a LISTEN does
  not survive (the pooler hands each transaction another server connection): it polls.
* :class:`RestLink` (Supabase's REST API): ``Store.source_probe`` through the schema's RPC (no
  source row shipped), polled; no LISTEN over HTTP.

Both mark a table checked through ``traficov2_watch_checked`` (schema step 017): the direct path
calls the function, the REST path its RPC: one statement, two stores.

The trigger that sends the NOTIFY is created ON the source tables only when asked
(``watch.notify``): :func:`install_triggers`, :func:`remove_triggers`.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Protocol

from psycopg import sql

from ..errors import SyncFailed
from ..stores import PostgresStore, Store
from ..tables import TableSpec

if TYPE_CHECKING:
    from ..engine.probe import SourceProbe
    from ..stores.rest.store import RestStore

CHANNEL = "trafico_watch"          # the payload: the source table's name
TRIGGER = "traficov2_watch_notify"  # the trigger's name on a source, and the function it calls (step 017)
CHECKED_FUNCTION = "traficov2_watch_checked"


class Link(Protocol):
    @property
    def store(self) -> Store: ...

    @property
    def listens(self) -> bool: ...

    def probe(self, spec: TableSpec, updated_column: str | None) -> SourceProbe | None: ...

    def mark_checked(self, spec: TableSpec) -> None: ...

    def wait(self, seconds: float) -> set[str]:
        """Sleep up to ``seconds``; the source tables a NOTIFY named meanwhile (returns on the first)."""

    def close(self) -> None: ...


class DirectLink:
    def __init__(self, store: PostgresStore, *, listen: bool):
        self.store = store
        self.listens = listen
        self.conn = store.connect(autocommit=True)
        if listen:
            with store.errors():
                self.conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL)))

    def probe(self, spec: TableSpec, updated_column: str | None) -> SourceProbe | None:
        from ..stores.pg.probe import source_probe
        with self.store.errors():
            return source_probe(self.conn, spec, updated_column)

    def mark_checked(self, spec: TableSpec) -> None:
        with self.store.errors():
            self.conn.execute(sql.SQL("SELECT {}(%s)").format(sql.Identifier(CHECKED_FUNCTION)), (spec.target,))

    def wait(self, seconds: float) -> set[str]:
        if not self.listens:
            time.sleep(seconds)
            return set()
        with self.store.errors():
            names = {n.payload for n in self.conn.notifies(timeout=seconds, stop_after=1)}
            if names:  # the others already there (a transaction writing several sources)
                names |= {n.payload for n in self.conn.notifies(timeout=0.01)}
        return names

    def close(self) -> None:
        self.conn.close()


class RestLink:
    listens = False

    def __init__(self, store: RestStore):
        self.store = store

    def probe(self, spec: TableSpec, updated_column: str | None) -> SourceProbe | None:
        return self.store.source_probe(spec, updated_column=updated_column)

    def mark_checked(self, spec: TableSpec) -> None:
        self.store.client.call_rpc(CHECKED_FUNCTION, {"p_table_name": spec.target},
                                   what=f"{spec.name}: marking its source checked")

    def wait(self, seconds: float) -> set[str]:
        time.sleep(seconds)
        return set()

    def close(self) -> None:
        pass


def open_link(store: Store, *, notify: bool) -> Link:
    """The watch's link to ``store`` (its schema checked current: step 017 is needed); LISTENing
    when ``notify`` and the connection is direct (not through a transaction pooler)."""
    store.require_schema()
    if isinstance(store, PostgresStore):
        return DirectLink(store, listen=notify and not store.transaction_pooler)
    from ..stores.rest.store import RestStore
    if not isinstance(store, RestStore):  # pragma: no cover - two stores
        raise TypeError(f"trafico watch cannot watch through {store.name}")
    return RestLink(store)


def _trigger_ddl(spec: TableSpec, *, drop: bool) -> sql.Composed:
    if drop:
        return sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(sql.Identifier(TRIGGER), sql.Identifier(spec.source))
    return sql.SQL("CREATE OR REPLACE TRIGGER {} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION {}()").format(
        sql.Identifier(TRIGGER), sql.Identifier(spec.source), sql.Identifier(TRIGGER))


def install_triggers(store: PostgresStore, specs: Iterable[TableSpec]) -> dict[str, str | None]:
    """Create the NOTIFY trigger on each source table (idempotent): per table None when it is
    there, else why not (one line: not the table's owner, no such table), and that table polls."""
    return _each(store, specs, drop=False)


def remove_triggers(store: PostgresStore, specs: Iterable[TableSpec]) -> dict[str, str | None]:
    """Drop the NOTIFY trigger from each source table (idempotent); per table None or why not."""
    return _each(store, specs, drop=True)


def _each(store: PostgresStore, specs: Iterable[TableSpec], *, drop: bool) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for spec in specs:
        try:
            with store.transaction() as conn:
                conn.execute(_trigger_ddl(spec, drop=drop))
            out[spec.name] = None
        except SyncFailed as exc:
            out[spec.name] = str(exc)
    return out
