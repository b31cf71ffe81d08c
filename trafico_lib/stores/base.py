"""The store protocol: everything the engine, the pipeline, the health check and pruning ask
of the place where the TráficoV2 tables live. The pipeline and the notebooks never know which
store they talk to; each store names itself (``kind``, ``name``) and never prints a secret.

    store = open_store(cfg)                    # direct PostgreSQL, embedded, (next: Supabase REST)
    state = store.read_state(spec)
    staging = store.staging(spec, preserve=..., source_time=..., run_id=...)
    ex = store.read_source(..., fingerprint=..., staging=staging)   # unchanged rows stay aside, unread
    for chunk in ...: staging.add(staged_chunk, extra_keys=rejected_keys)   # chunk by chunk
    totals = staging.finish()                  # latest wins across chunks, unchanged set aside
    plan = staging.plan(full=...)              # writes nothing
    with staging.sync_session(lock_timeout=...) as s:   # lock/lease + one transaction
        s.check_state(expected_last_run_id)
        outcome = s.merge(batch_size=..., on_batch=...)
        s.deactivate(); s.write_rejects(rows); s.write_log("SYNC", details); s.write_state(wm)
    staging.close()
    store.write_log(spec, "ERROR", details)    # outside any session
    with store.health_reader() as h: ...       # read-only facts for the health check

Implementations: :mod:`.postgres` (direct and embedded) and :mod:`.rest.store` (Supabase's REST
API); mypy checks both against these protocols (``open_store`` returns either as a ``Store``).
What only a database connection can do (create the schema, load the sample sources) is not
part of the contract: ``stores.direct_store`` gives the ``PostgresStore`` or says why not.
SQL lives in the store modules only.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

import pandas as pd

from ..tables import TableSpec

if TYPE_CHECKING:  # the engine's values the contract speaks in (a lower layer: imported for the types only)
    from ..engine.adopt import Adopt
    from ..engine.backprop import BackpropResult
    from ..engine.conform import TargetLayout
    from ..engine.extract import Extract
    from ..engine.plan import MergeOutcome, Plan
    from ..engine.probe import SourceProbe
    from ..engine.stage import Staged, StagedTotals

# A table's sync state as read_state gives it: watermark, last_success_at (datetimes or None),
# last_run_id, source_rows; {} before the table's first successful run.
SyncState = dict[str, Any]


class SyncSession(Protocol):
    """One table's writes for one run: under the table's lock (or lease), all-or-nothing."""

    def check_state(self, expected_last_run_id: str | None) -> None:
        """Raise :class:`~trafico_lib.errors.TableLocked` when another run finished meanwhile."""

    def adopt(self, adopt: Adopt) -> pd.DataFrame:
        """Give the old tool's rows their keys (``engine.adopt.Adopt``), before the merge: (id,
        sync_key, adopted) per row keyed or deactivated (``stores/sql/merge.adopt``)."""

    def merge(self, *, batch_size: int, on_batch: Callable[[int, int], None] | None = None) -> MergeOutcome:
        """Merge the staged rows by the rule (``engine.plan.MergeOutcome``); data errors become rejects."""

    def deactivate(self, *, max_share: float | None = None) -> int:
        """Mark active target rows whose key the source no longer holds ``activo = false``; how
        many. More than ``max_share`` of the active rows: :class:`~trafico_lib.errors.MassDeactivation`,
        none deactivated (the direct path's whole run rolls back with it)."""

    def write_rejects(self, rejects: list[tuple[str | None, str, str]]) -> int:
        """Record (sync_key, reasons JSON, raw row JSON) rows; returns how many were recorded now."""

    def write_duplicates(self, rows: list[tuple[str, str | None]]) -> int:
        """One change row per source row a later row of its key replaced (latest wins):
        field ``duplicate``, ``old`` its source id; the same again only after a day, as a
        reject. Returns how many were recorded now."""

    def write_log(self, operation: str, details: dict[str, Any]) -> None: ...

    def write_state(self, watermark: datetime | None, source_rows: int | None = None, *,
                    reset: bool = False) -> datetime | None:
        """Record the run's success: its watermark as stored (never past the database's clock,
        only forward unless ``reset``: the run read the whole source), and the source's row
        count when it read it whole."""

    def write_probe(self, probe: SourceProbe | None, *, context: str | None, full: bool) -> None:
        """After :meth:`write_state`: the probe the run took before reading, with the run's
        context (``pipeline.probe``) and whether it was full; None clears it (the next run runs)."""


class Staging(Protocol):
    """A run's staged rows, where plan and apply both find them (staged once)."""

    @property
    def alive(self) -> bool:
        """Whether its staged rows are still there (a direct run's connection may drop them)."""

    def add(self, staged: Staged, extra_keys: Iterable[str] = ()) -> None:
        """One chunk's ``engine.stage.Staged`` rows, plus keys present in the source but not staged."""

    def unchanged_keys(self) -> set[str]:
        """The keys of the source rows set aside unread."""

    def finish(self) -> StagedTotals:
        """Latest wins across chunks, unchanged rows set aside: ``StagedTotals`` (rows,
        skipped_unchanged, duplicates)."""

    def source_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` the source holds this run."""

    def plan(self, *, full: bool, adopt: Adopt | None = None) -> Plan:
        """``engine.plan.Plan``; writes nothing. ``adopt`` (``engine.adopt.Adopt``): the old
        tool's rows are given their keys first, and that is rolled back too (``Plan.adopted``)."""

    def sync_session(self, *, lock_timeout: float) -> AbstractContextManager[SyncSession]: ...

    def close(self) -> None: ...


class HealthReader(Protocol):
    """Read-only facts for the health check (``health/facts.py``); every call is its own
    read-only transaction under a statement timeout, with no session state between calls."""

    def now(self) -> datetime:
        """The database clock."""

    def existing_tables(self, names: Iterable[str]) -> set[str]:
        """Which of ``names`` exist."""

    def columns(self, table: str) -> list[str]:
        """A table's columns in order; empty when it does not exist."""

    def failed_syncs(self, hours: int) -> tuple[int, list[dict[str, Any]]]:
        """How many ``ERROR`` log rows in the last ``hours``, and the newest ones
        (table, sync_timestamp, run_id, error)."""

    def rejects_per_table(self, hours: int) -> dict[str, int]:
        """Reject rows recorded in the last ``hours``, per target table."""

    def last_run(self) -> dict[str, Any] | None:
        """The newest logged run: run_id, sync_timestamp, tables (table, operation, notebook, error,
        unchanged_since: a table skipped as unchanged, ``pipeline.probe``)."""

    def last_archived(self) -> dict[str, Any] | None:
        """The newest run that archived a notebook (one that changed, rejected or failed something):
        run_id, sync_timestamp, tables (table, notebook); None when none did."""

    def states(self) -> dict[str, dict[str, Any]]:
        """The sync state per target table: watermark, last_success_at, last_run_id."""

    def leases(self) -> list[dict[str, Any]]:
        """The tables a REST run holds: target, run_id, holder, taken_at, renewed_at, expires_at."""

    def sync_log(self, days: int) -> list[tuple[Any, ...]]:
        """``SYNC``/``ERROR`` log rows of the last ``days``: (table, sync_timestamp, operation, details)."""

    def rejects_by_rule(self, days: int) -> list[tuple[Any, ...]]:
        """(table, rule, rows, distinct_keys, runs, last_seen) of the last ``days``, most rows first."""

    def source_key_groups(self, table: str, columns: list[str], *, changed_column: str | None = None,
                          since: datetime | None = None) -> pd.DataFrame:
        """One line per distinct raw key (``columns`` as text) with ``pending`` and ``n``."""

    def target_counts(self, table: str) -> tuple[int, int]:
        """(rows, active rows) of a target table."""

    def table_state(self, table: str, keys: list[str], columns: dict[str, str], listed: int = 20) -> dict[str, Any]:
        """A target table's current validation state: rows, warned_rows, rejected_rows, as_of,
        and per rule (``in_target``, ``rejected``) failed and failing_rows (stores/sql/health.py)."""

    def active_keys(self, table: str, column: str) -> set[Any]:
        """Distinct non-null ``column`` values of a target's active rows."""

    def rejected_keys(self, table: str) -> set[str]:
        """Distinct keys of the reject rows retained for a target table."""


@runtime_checkable
class Store(Protocol):
    @property
    def kind(self) -> str:
        """``"embedded"`` | ``"postgres"`` | ``"supabase-rest"``: in the log rows' details."""

    @property
    def atomic(self) -> bool:
        """A table's run commits in one transaction (else each batch on its own: REST)."""

    @property
    def name(self) -> str:
        """Printable: host/dbname, "embedded PostgreSQL", the project's host; never a secret."""

    def check(self) -> None:
        """Reachable, else one-line :class:`~trafico_lib.errors.StoreUnavailable` (the REST
        store's check also covers the schema: :class:`~trafico_lib.errors.SchemaMissing`)."""

    def require_schema(self) -> None:
        """trafico's schema is there and current, else one-line
        :class:`~trafico_lib.errors.SchemaMissing` saying what to run (asked once per store)."""

    def read_state(self, spec: TableSpec) -> SyncState: ...

    def read_source(self, spec: TableSpec, *, mode: str, state: SyncState, lookback: timedelta,
                    updated_column: str | None = None, chunk_rows: int | None = None,
                    fingerprint: str | None = None, staging: Staging | None = None) -> Extract:
        """The source delta as ``engine.extract.Extract`` (text values + ``_source_id``,
        ``_source_updated_at``, ``_source_hash``, ``_row``), ``chunk_rows`` rows at a time (None:
        all at once; the later chunks a ``SourceChunks``). With the run's ``staging`` (this
        store's own), rows whose text and context (``fingerprint``) are as last written may be
        set aside into it unread (``Extract.unchanged`` counts them)."""

    def read_target(self, spec: TableSpec, columns: list[str]) -> pd.DataFrame: ...

    def read_unkeyed(self, spec: TableSpec, columns: list[str]) -> pd.DataFrame:
        """The target's active rows with no ``sync_key`` (the old tool's): ``id`` and ``columns`` as text."""

    def target_layout(self, spec: TableSpec) -> TargetLayout:
        """The target as it is (``engine.conform.TargetLayout``): each column's type, and whether
        the old tool made it (adopted in place). Read once per run (``ctx.layout``)."""

    def count_changed_after(self, spec: TableSpec, column: str, after: datetime) -> int:
        """Source rows whose change time ``column`` is later than ``after``."""

    def source_probe(self, spec: TableSpec, *, updated_column: str | None = None) -> SourceProbe | None:
        """The source table's probe (``engine.probe.SourceProbe``: row count, newest change time
        by ``updated_column`` or the usual names, an order-free hash of every row), computed in
        the database, no source row sent (``stores/sql/probe.py``); equal while the source is
        unchanged. None when the database cannot probe it (no such table): the table runs."""

    def stored_probe(self, spec: TableSpec) -> dict[str, Any]:
        """What the table's state keeps of the probe its last successful writing run took
        (``stores/sql/probe.READ_PROBE``: probe_rows, probe_changed_max, probe_digest,
        probe_context, probe_full, probe_run_id; None each when there is none) and
        ``last_failed``: the table's newest run recorded an ERROR."""

    def columns(self, table: str) -> list[str]:
        """A table's columns in order; [] when it does not exist."""

    def staging(self, spec: TableSpec, *, preserve: list[str], source_time: datetime,
                run_id: str) -> Staging:
        """``source_time``: when a changed source row without a change time of its own is
        taken to have changed (``pipeline.source_time``), against the desk's edits."""

    def write_log(self, spec: TableSpec, operation: str, details: dict[str, Any]) -> None: ...
    def record_skip(self, spec: TableSpec, run_id: str, expected_last_run_id: str | None, details: dict[str, Any], *,
                    lock_timeout: float = 0.0) -> None:
        """A skipped run's record (``pipeline/probe.py``) under the table's lock or lease, waited
        for up to ``lock_timeout`` seconds: the SYNC log row ``details`` and the state (no
        watermark moved). TableLocked, writing nothing, when another run holds the table or its
        state's last run is no longer ``expected_last_run_id``. One call over REST."""


    def back_propagate(self, spec: TableSpec, fields: list[str], *, run_id: str, key: list[str] | None = None,
                       dry_run: bool = False, lock_timeout: float = 5.0,
                       updated_column: str | None = None, notebook: str | None = None) -> BackpropResult:
        """The desk's fields back into the source rows (``engine.backprop.BackpropResult``)."""

    def health_reader(self) -> AbstractContextManager[HealthReader]:
        """Read-only facts for the health check (see ``health.facts``); entering it raises
        :class:`~trafico_lib.errors.StoreUnavailable` when the store cannot be reached."""

    def prune(self, cutoff: datetime, *, dry_run: bool = False) -> dict[str, int]: ...

    def write_snapshot(self, spec: TableSpec, out: IO[bytes]) -> None:
        """Write the whole target as CSV (with a header) into the binary file ``out``."""


def stopped_midway(store: Store) -> str:
    """What a run stopped midway left behind, as its ERROR row says it: nothing, where a table's
    run is one transaction (``store.atomic``); over the REST API, the batches merged before the
    stop (each call commits on its own; the row's counts say how many rows)."""
    if store.atomic:
        return "rolled back, nothing written"
    return "the batches merged before the stop stay (each committed on its own), the rest was not written"
