"""The Supabase REST store (docs/architecture.md §6): a project URL and its service key, no database password.

Built: the connection check, which names what is wrong in one line (a key that is not the
service key, a project without trafico's schema or with an older one); the source read into
the direct path's frames (:mod:`.source`: keyset pages of a function that hashes the rows by
the direct path's expression), and every other read in keyset pages (:mod:`.pages`), which
Supabase's silent 1,000-row cap never cuts short; the sync's writes and dry runs (:mod:`.staging`,
through functions rendered from the direct path's statements); back-propagation; pruning;
the health check's facts (:mod:`.health`); state, log, rejects, the lease (:mod:`.lease`) and
the CSV backup.
"""
from __future__ import annotations

import base64
import json
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlparse

import pandas as pd

from ... import clock
from ...errors import ConfigError, SchemaMissing, SyncFailed, TableLocked
from ...tables import TableSpec
from ..sql.record import REJECT_REPEAT_HOURS
from .client import RestClient, RestError, api_time
from .lease import Heartbeat, Lease, held_message

if TYPE_CHECKING:
    from ...config import Config
    from ...engine.backprop import BackpropResult
    from ...engine.conform import TargetLayout
    from ...engine.extract import Extract
    from ...engine.probe import SourceProbe
    from ..base import Staging
    from .health import RestHealthReader
    from .staging import RestStaging

SERVICE_ROLE = "service_role"
REJECTS_PER_CALL = 500     # rejected (or duplicate) rows per request
LEASE_POLL_SECONDS = 0.25   # how often a run waiting for another run's lease asks again
LEASE_SECONDS = 90          # a lease lapses this long after its last renewal (supabase.lease_seconds)
SQL_HINT = ("run `make sql` (or `python update_traficov2.py --print-sql`) and paste its output into the "
            "project's SQL editor (it is safe to run twice)")
NO_SCHEMA_WRITES = f"the Supabase REST API cannot create tables: {SQL_HINT}"  # --init-db over REST


def required_schema_version() -> str:
    """The newest step of trafico's schema (what a project must have applied)."""
    from ...schema import latest_version
    return latest_version()


def key_claims(key: str) -> dict | None:
    """The claims of a Supabase JWT key (read, not verified: the server verifies it); None for
    a key that is not a JWT."""
    parts = key.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, json.JSONDecodeError):
        return None
    return payload if isinstance(payload, dict) else None


def key_role(key: str) -> str | None:
    """The ``role`` a Supabase JWT key carries; None for a key that is not a JWT or has none."""
    role = (key_claims(key) or {}).get("role")
    return role if isinstance(role, str) else None


class PermissionDenied(SyncFailed):
    """The key may not do what the sync does (the public ``anon`` key, say)."""



class RestStore:
    """trafico's tables in a Supabase project, through its REST API (PostgREST)."""

    kind = "supabase-rest"
    embedded = False
    atomic = False  # each merge call commits on its own: a run stopped midway keeps its merged batches

    def __init__(self, url: str, key: str, *, page_size: int = 1000, timeout: float = 60.0,
                 attempts: int = 3, secrets: list[str] | None = None, lease_seconds: int = LEASE_SECONDS):
        parsed = urlparse(url or "")
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(f"supabase.url must be the project's URL, like https://<project>.supabase.co "
                              f"(got {url!r})")
        role = key_role(key)
        if role is None and key_claims(key) is not None:  # the API would take it as anon, and see nothing
            raise PermissionDenied("permission denied: supabase.key is a JWT without a role, not the project's "
                                   "service_role key; trafico reads and writes its tables with the service_role "
                                   "key (Project Settings > API)")
        if role is not None and role != SERVICE_ROLE:
            raise PermissionDenied(f"permission denied: supabase.key is the project's {role!r} key; trafico reads "
                                   "and writes its tables with the service_role key (Project Settings > API)")
        self.host = parsed.netloc
        self.page_size = min(page_size, 1000)
        self.client = RestClient(url, key, timeout=timeout, attempts=attempts, secrets=secrets)
        self.lease_seconds = int(lease_seconds)
        self._checked = False
        self._tables: dict[str, Any] | None = None
        # what each (target, run id) merged and deactivated in attempts that failed later: those
        # writes committed (each call commits on its own), so the retry's log row counts them
        self.written: dict[tuple[str, str | None], dict[str, int]] = {}

    @classmethod
    def from_config(cls, cfg: Config) -> RestStore:
        sb = cfg.supabase
        if not sb.url or sb.key is None:  # (open_store asks for both before it comes here)
            raise ConfigError("the Supabase REST API needs both supabase.url and supabase.key")
        return cls(sb.url, sb.key.get_secret_value(), page_size=sb.page_size,
                   timeout=float(cfg.database.connect_timeout_seconds) * 12, secrets=cfg.secrets,
                   lease_seconds=sb.lease_seconds)

    @property
    def name(self) -> str:
        return self.client.name

    def schema_version(self) -> str | None:
        """The newest schema step the project has applied (None: no trafico schema)."""
        try:
            rows = self.client.call(
                lambda: self.client.table("traficov2_schema_migrations").select("version")
                .order("version", desc=True).limit(1).execute().data,
                what=f"reading trafico's schema version on {self.host}")
        except RestError as exc:
            if exc.code in ("42P01", "PGRST205", "PGRST202"):  # no such table (in the API's schema cache)
                return None
            if exc.code in ("42501", "PGRST301", "PGRST302"):
                raise RestError(f"permission denied for the Supabase key on {self.host}: trafico needs the "
                                "project's service_role key (Project Settings > API)", code=exc.code) from None
            raise
        return rows[0]["version"] if rows else None

    def tables(self) -> dict[str, Any]:
        """The tables the API serves and their columns (its OpenAPI document's definitions),
        read once per store: a run's store lives for the run."""
        if self._tables is None:
            doc = self.client.call(self.client.api_description, what=f"reading the API's description on {self.host}")
            self._tables = doc.get("definitions") or {}
        return self._tables

    def columns(self, table: str) -> list[str]:
        """The table's columns as the API describes it, in table order; [] when it serves no such table."""
        return list((self.tables().get(table) or {}).get("properties") or {})

    def target_layout(self, spec: TableSpec) -> TargetLayout:
        """Each column's type as the API describes it (its OpenAPI ``format``: the database's type
        name), and whether the table is adopted (``traficov2_adopted`` names it; a project whose
        schema predates that record adopted none)."""
        from ...engine.conform import TargetLayout
        from ...schema.adopt import ADOPTED
        props = (self.tables().get(spec.target) or {}).get("properties") or {}
        types = {c: p.get("format") or p.get("type") or "" for c, p in props.items()}
        try:
            rows = self.client.call(lambda: self.client.table(ADOPTED).select("table_name")
                                    .eq("table_name", spec.target).execute().data,
                                    what=f"{spec.name}: reading whether the old tool made {spec.target}")
        except RestError as exc:
            if exc.code not in ("42P01", "PGRST205"):
                raise
            rows = []
        return TargetLayout(types=types, adopted=bool(rows))

    def read_source(self, spec: TableSpec, *, mode: str, state: dict[str, Any], lookback: timedelta,
                    updated_column: str | None = None, chunk_rows: int | None = None, fingerprint: str | None = None,
                    staging: Staging | None = None) -> Extract:
        """The source delta (``engine.extract.Extract``) through the API (``rest/source.py``)."""
        from .pages import pages
        from .source import read_source
        from .staging import RestStaging
        if staging is not None and not isinstance(staging, RestStaging):
            raise TypeError(f"{self.name} reads into its own staging, not a {type(staging).__name__}")
        if staging is not None and fingerprint:  # a whole read every row of which is as last written: none shipped
            from .source import proved_unchanged
            ex = proved_unchanged(self.client, spec, self.columns(spec.source), mode=mode, state=state,
                                  lookback=lookback, updated_column=updated_column, fingerprint=fingerprint)
            if ex is not None:
                staging.all_unchanged = True
                return ex
        known = None
        if staging is not None and fingerprint:  # what the target holds, to set unchanged rows aside
            known = {str(r["source_id"]): (r["source_hash"], r["sync_key"])  # an integer in an adopted table
                     for page in pages(self.client, spec.target, ["source_id", "source_hash", "sync_key"],
                                       where=lambda q: q.eq("activo", True), page_size=self.page_size,
                                       what=f"{spec.name}: reading the target's row hashes")
                     for r in page if r["source_id"] is not None}
        return read_source(self.client, spec, self.columns(spec.source), mode=mode, state=state, lookback=lookback,
                           updated_column=updated_column, chunk_rows=chunk_rows, fingerprint=fingerprint,
                           page_size=self.page_size, known=known,
                           aside=staging.aside if staging is not None else None)

    # ---- the run's record (the system tables) ----------------------------------------------

    def read_state(self, spec: TableSpec) -> dict[str, Any]:
        """The table's sync state; the first call also checks the project's schema (:meth:`check`),
        so a run on a project without it, or with an older one, says what to paste."""
        self.check_once()
        rows = self.client.call(
            lambda: self.client.table("traficov2_sync_state")
            .select("watermark,last_success_at,last_run_id,source_rows").eq("table_name", spec.target)
            .execute().data, what=f"{spec.name}: reading the sync state")
        if not rows:
            return {}
        row = rows[0]
        return {"watermark": api_time(row["watermark"]), "last_success_at": api_time(row["last_success_at"]),
                "last_run_id": row["last_run_id"], "source_rows": row.get("source_rows")}

    def write_state(self, spec: TableSpec, run_id: str, watermark: datetime | None, source_rows: int | None = None, *,
                    reset: bool = False) -> datetime | None:
        """The run's success, by the direct path's own statement (``traficov2_record_state``);
        the watermark stored."""
        params = {"p_table_name": spec.target, "p_run_id": run_id,
                  "p_watermark": watermark.isoformat() if watermark else None, "p_source_rows": source_rows,
                  "p_reset": reset}
        stored = self.client.call_rpc("traficov2_record_state", params,
                                      what=f"{spec.name}: recording the run's state")
        return api_time(stored)

    def source_probe(self, spec: TableSpec, *, updated_column: str | None = None) -> SourceProbe | None:
        """The source's probe by ``traficov2_probe_<table>`` (schema step 016), the direct path's
        statement run in the database: one row answers, no source row is sent. None when the
        API serves no such source table (its run says why)."""
        from ...engine.extract import detect_updated_column
        from ...engine.probe import SourceProbe
        from ...schema.rest_probe import probe_function_name
        columns = self.columns(spec.source)
        if not columns:
            return None
        upd = detect_updated_column(columns, updated_column)
        rows = self.client.call_rpc(probe_function_name(spec), {"p_updated_column": upd},
                                    what=f"{spec.name}: probing source table {spec.source}")
        row = rows[0]
        return SourceProbe.from_values(row["probe_rows"], row["probe_changed_max"], row["probe_digest"])

    def stored_probe(self, spec: TableSpec) -> dict[str, Any]:
        """What the state keeps of the table's last probe, by ``traficov2_read_probe`` (step 016)."""
        from ..sql.probe import STORED_PROBE
        rows = self.client.call_rpc("traficov2_read_probe", {"p_table_name": spec.target},
                                    what=f"{spec.name}: reading the source's last probe")
        row = rows[0] if rows else {}
        out = {k: row.get(k) for k in STORED_PROBE}
        out["probe_changed_max"] = api_time(out["probe_changed_max"])
        out["last_failed"], out["recheck_due"] = bool(out["last_failed"]), bool(out["recheck_due"])
        return out

    def record_probe(self, spec: TableSpec, run_id: str, probe: SourceProbe | None, *, context: str | None,
                     full: bool) -> None:
        """The probe a run took before reading, by ``traficov2_record_probe`` (step 016)."""
        from ..sql.probe import probe_params
        params = {f"p_{k}": v for k, v in probe_params(spec, run_id, probe, context, full).items()}
        if params["p_changed_max"] is not None:
            params["p_changed_max"] = params["p_changed_max"].isoformat()
        self.client.call_rpc("traficov2_record_probe", params, what=f"{spec.name}: recording the source's probe")

    def count_changed_after(self, spec: TableSpec, column: str, after: datetime) -> int:
        """Source rows whose change time ``column`` is later than ``after``."""
        return self.count_rows(spec.source, lambda q: q.gt(column, after.isoformat()),
                               what=f"{spec.name}: counting source rows changed after {clock.second_text(after)}")

    def write_log(self, spec: TableSpec, operation: str, details: dict[str, Any]) -> None:
        """The log row, by ``traficov2_record_log``: recorded once per run, table and operation,
        so a call the gateway failed (maybe after committing it) is simply asked again, never
        the run (whose batches committed on their own and would be found done). A run that
        failed after some of its batches committed says so in its ``ERROR`` row's counts."""
        written = self.written.pop((spec.target, details.get("run_id")), None) if operation == "ERROR" else None
        if written and any(written.values()):
            details = {**details, "counts": written}
        params = {"p_table_name": spec.target, "p_operation": operation, "p_source_table": spec.source,
                  "p_details": _json(details)}
        self.client.call_rpc("traficov2_record_log", params, what=f"{spec.name}: writing the sync log")

    def write_rejects(self, spec: TableSpec, run_id: str, rejects: list[tuple[str | None, str, str]]) -> int:
        """Rejected rows, by the direct path's own statement (``traficov2_record_reject``: the
        same problem is recorded once a day), sent in chunks of :data:`REJECTS_PER_CALL`
        (``traficov2_record_rejects``); returns the rows recorded now."""
        rows = [{"key": key, "reasons": json.loads(reasons), "raw": json.loads(raw)} for key, reasons, raw in rejects]
        recorded = 0
        for lo in range(0, len(rows), REJECTS_PER_CALL):
            params = {"p_run": run_id, "p_tbl": spec.target, "p_rows": _json(rows[lo:lo + REJECTS_PER_CALL]),
                      "p_hours": REJECT_REPEAT_HOURS}
            recorded += int(self.client.call_rpc("traficov2_record_rejects", params,
                                                 what=f"{spec.name}: recording rejected rows") or 0)
        return recorded

    def write_duplicates(self, spec: TableSpec, run_id: str, rows: list[tuple[str, str | None]]) -> int:
        """Replaced source rows, by the direct path's own statement (``traficov2_record_duplicate``:
        the same one is recorded once a day), in chunks of :data:`REJECTS_PER_CALL`."""
        items = [{"key": key, "source_id": source_id} for key, source_id in rows]
        recorded = 0
        for lo in range(0, len(items), REJECTS_PER_CALL):
            params = {"p_run": run_id, "p_tbl": spec.target, "p_rows": items[lo:lo + REJECTS_PER_CALL],
                      "p_hours": REJECT_REPEAT_HOURS}
            recorded += int(self.client.call_rpc("traficov2_record_duplicates", params,
                                                 what=f"{spec.name}: recording the duplicate keys") or 0)
        return recorded

    def count_rows(self, table: str, where: Callable[[Any], Any] | None = None, *, what: str | None = None) -> int:
        """How many rows of ``table`` (``where``: a filter on the query), asked with
        ``count=exact``: no row is sent."""
        def request():
            q = self.client.table(table).select("*", count="exact", head=True)
            return (where(q) if where else q).execute().count
        return int(self.client.call(request, what=what or f"counting {table}") or 0)

    def staging(self, spec: TableSpec, *, preserve: list[str], source_time: datetime, run_id: str) -> RestStaging:
        from .staging import RestStaging
        return RestStaging(self, spec, preserve=preserve, source_time=source_time, run_id=run_id)

    def read_target(self, spec: TableSpec, columns: list[str]) -> pd.DataFrame:
        from .pages import pages
        got = [r for page in pages(self.client, spec.target, columns, page_size=self.page_size,
                                   what=f"reading {spec.target}") for r in page]
        return pd.DataFrame([[r.get(c) for c in columns] for r in got], columns=columns, dtype=object)

    def read_unkeyed(self, spec: TableSpec, columns: list[str]) -> pd.DataFrame:
        """The target's active rows with no key yet (``id`` and ``columns`` as text), as the
        direct path's ``sql.unkeyed`` reads them; one request when there are none."""
        from .pages import pages
        got = [r for page in pages(self.client, spec.target, ["id", *columns], page_size=self.page_size,
                                   where=lambda q: q.is_("sync_key", "null").eq("activo", True), as_text=columns,
                                   what=f"reading {spec.target}'s rows with no key") for r in page]
        return pd.DataFrame([[r.get(c) for c in ["id", *columns]] for r in got], columns=["id", *columns],
                            dtype=object)

    def write_snapshot(self, spec: TableSpec, out: IO[bytes]) -> None:
        """The target as CSV (header, then the rows in key order, each value PostgreSQL's text of
        it, a missing one empty), as the direct path's ``COPY … TO STDOUT`` writes it."""
        import csv
        import io
        from .pages import pages
        columns = self.columns(spec.target)
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(columns)
        # a keyset read cannot page past a NULL key: the rows without a sync_key (a table the old
        # tool made, its rows not adopted yet) come last, in id order, as ORDER BY sync_key puts them
        for key, where in (("sync_key", lambda q: q.not_.is_("sync_key", "null")),
                           ("id", lambda q: q.is_("sync_key", "null"))):
            for page in pages(self.client, spec.target, columns, key=key, where=where, page_size=self.page_size,
                              as_text=columns, what=f"reading {spec.target} for its CSV backup"):
                writer.writerows([["" if r[c] is None else r[c] for c in columns] for r in page])
                out.write(text.getvalue().encode("utf-8"))
                text.seek(0)
                text.truncate()
        out.write(text.getvalue().encode("utf-8"))

    @contextmanager
    def holding(self, spec: TableSpec, run_id: str, *, seconds: int | None = None,
                wait: float = 0.0) -> Iterator[Lease]:
        """The table's lease for this run while the block runs (:mod:`.lease`), renewed by a
        heartbeat every third of ``seconds`` (default ``lease_seconds``); yields the
        :class:`Lease`, whose :meth:`Lease.renew` the writes call before each batch (it asks when
        the last renewal is a sixth of the lease old). Another
        run's lease is waited for up to ``wait`` seconds (the direct path's lock timeout), then
        TableLocked, writing nothing. Released at the end (a release that fails lapses by itself)."""
        import time
        seconds = int(seconds or self.lease_seconds)
        holder = f"{socket.gethostname()}:{os.getpid()}"
        deadline = time.monotonic() + max(wait, 0.0)
        while True:
            asked = time.monotonic()
            lease = self.take_lease(spec, run_id, holder=holder, seconds=seconds)
            if lease["taken"] or time.monotonic() >= deadline:
                break
            time.sleep(min(LEASE_POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))
        if not lease["taken"]:
            raise TableLocked(held_message(spec.name, lease))
        held = Lease(self, spec, run_id, holder, seconds)
        held.kept(lease, asked)
        try:
            with Heartbeat(held.beat, every=seconds / 3) as held.heartbeat:
                yield held
        finally:
            try:
                self.release_lease(spec, run_id)
            except SyncFailed:
                pass

    def take_lease(self, spec: TableSpec, run_id: str, *, holder: str, seconds: int,
                   retry: bool = True) -> dict[str, Any]:
        """Take (or renew) the table's lease for this run: ``taken`` says whether it is this
        run's now; ``holder``/``run_id``/``expires_at`` name who holds it. ``retry``: ask again
        when the API fails for a moment (the heartbeat does not: its next beat asks again)."""
        params = {"p_table_name": spec.target, "p_run_id": run_id, "p_holder": holder, "p_seconds": int(seconds)}
        rows = self.client.call_rpc("traficov2_take_lease", params,
                                    what=f"{spec.name}: taking the table's lease", idempotent=retry)
        row = dict(rows[0])
        row["expires_at"] = api_time(row["expires_at"])
        return row

    def record_skip(self, spec: TableSpec, run_id: str, expected_last_run_id: str | None, details: dict[str, Any], *,
                    lock_timeout: float = 0.0) -> None:
        """A skipped run's record in one call, ``traficov2_record_skip`` (schema step 016): the
        lease, the state check, the SYNC log row, the state, the release, as a writing run's
        session does them over five calls. Another run's live lease is waited for up to
        ``lock_timeout`` seconds, then TableLocked; another run finished since this one read the
        state: TableLocked. Either way nothing is written."""
        import time

        from ...engine.batches import check_state
        self.check_once()
        holder = f"{socket.gethostname()}:{os.getpid()}"
        params = {"p_table_name": spec.target, "p_run_id": run_id, "p_holder": holder,
                  "p_seconds": int(self.lease_seconds), "p_expected_last_run_id": expected_last_run_id,
                  "p_source_table": spec.source, "p_details": _json(details)}
        deadline = time.monotonic() + max(lock_timeout, 0.0)
        while True:
            # a call the gateway failed is asked again: the function finds this run recorded if it committed
            row = dict(self.client.call_rpc("traficov2_record_skip", params,
                                            what=f"{spec.name}: recording the unchanged run")[0])
            if row["outcome"] != "held" or time.monotonic() >= deadline:
                break
            time.sleep(min(LEASE_POLL_SECONDS, max(deadline - time.monotonic(), 0.0)))
        if row["outcome"] == "held":
            row["expires_at"] = api_time(row["expires_at"])
            raise TableLocked(held_message(spec.name, row))
        if row["outcome"] == "moved":
            check_state(spec.name, expected_last_run_id, row["last_run_id"])

    def release_lease(self, spec: TableSpec, run_id: str) -> bool:
        params = {"p_table_name": spec.target, "p_run_id": run_id}
        return bool(self.client.call_rpc("traficov2_release_lease", params,
                                         what=f"{spec.name}: releasing the table's lease"))

    # ---- what only the project's SQL editor can do: create the schema (stores.direct_store
    # names the store a command needs; the REST store has no such method to stub)

    @contextmanager
    def health_reader(self) -> Iterator[RestHealthReader]:
        """Read-only facts for the health check (``rest/health.py``)."""
        from .health import RestHealthReader
        self.check()
        yield RestHealthReader(self)

    def back_propagate(self, spec: TableSpec, fields: list[str], *, run_id: str, key: list[str] | None = None,
                       dry_run: bool = False, lock_timeout: float = 5.0,
                       updated_column: str | None = None, notebook: str | None = None) -> BackpropResult:
        """The desk's fields back into the source rows (``engine.backprop``): both sides read
        through the API, the edits written by the table's function under the table's lease,
        the log row recorded."""
        import time

        from ...engine.backprop import BackpropResult, field_columns, key_columns_for, source_edits
        from ...engine.extract import detect_updated_column
        from ...schema.rest_merge import backprop_function_name
        from .pages import pages
        t0 = time.monotonic()
        self.check_once()  # a project without trafico's schema says what to paste, not 42P01
        res = BackpropResult(spec.name, run_id, dry_run)
        cols = self.columns(spec.source)
        pairs = field_columns(spec, fields, cols, self.columns(spec.target))
        fields = [s for _, s in pairs]  # each read from the target under its source column's name
        if "id" not in cols:
            raise SyncFailed(f"{spec.name}: source table {spec.source!r} has no id column: the REST store "
                             "addresses source rows by id")
        wanted = list(dict.fromkeys([*key_columns_for(spec, key, cols), *fields]))
        src_rows = [r for page in pages(self.client, spec.source, wanted, as_text=wanted, page_size=self.page_size,
                                        what=f"{spec.name}: reading the source for back-propagation") for r in page]
        src = pd.DataFrame([[str(r["id"]), str(r["id"]), *(r[c] for c in wanted)] for r in src_rows],
                           columns=["source_row", "source_id", *wanted], dtype=object)
        tgt_rows = [r for page in pages(self.client, spec.target, ["sync_key", "source_id", *(t for t, _ in pairs)],
                                        where=lambda q: q.eq("activo", True).not_.is_("sync_key", "null"),
                                        page_size=self.page_size,
                                        what=f"{spec.name}: reading the target for back-propagation") for r in page]
        tgt = pd.DataFrame([[r["sync_key"], None if r["source_id"] is None else str(r["source_id"]),
                             *(r[t] for t, _ in pairs)] for r in tgt_rows],
                           columns=["sync_key", "source_id", *fields], dtype=object)
        changes = source_edits(spec, fields, src, tgt, key)
        res.changes = changes
        if dry_run:
            res.duration_seconds = round(time.monotonic() - t0, 3)
            return res
        if len(changes):
            with self.holding(spec, run_id, wait=lock_timeout):
                edits = [{"id": r.source_row, "field": r.field, "new": None if r.new is None else str(r.new)}
                         for r in changes.itertuples(index=False)]
                upd = detect_updated_column(cols, updated_column)
                params = {"p_edits": edits, "p_updated_column": upd}
                self.client.call_rpc(backprop_function_name(spec), params,
                                     what=f"{spec.name}: writing back-propagation into {spec.source}")
        res.duration_seconds = round(time.monotonic() - t0, 3)
        # every run that was not a dry run leaves its log row, as on the direct path
        self.write_log(spec, "BACK_PROPAGATE", {
            "run_id": run_id, "fields": fields, "store": self.kind,
            "counts": {"updated": res.updated, "field_changes": len(changes)},
            "duration_seconds": res.duration_seconds, **({"notebook": notebook} if notebook else {})})
        return res

    def prune(self, cutoff: datetime, *, dry_run: bool = False) -> dict[str, int]:
        """Log, change and reject rows before ``cutoff`` deleted (or counted), by the direct
        path's statements (``traficov2_prune``)."""
        self.check_once()  # a project without trafico's schema says what to paste, not PGRST202
        params = {"p_cutoff": cutoff.isoformat(), "p_dry_run": bool(dry_run)}
        got = self.client.call_rpc("traficov2_prune", params,
                                   what="pruning the system tables")
        return {k: int(v) for k, v in got.items()}

    def check_once(self) -> None:
        """:meth:`check`, the first time only: a store lives for one command."""
        if not self._checked:
            self.check()

    def require_schema(self) -> None:
        """trafico's schema is there and current (:meth:`check`, once per store)."""
        self.check_once()

    def check(self) -> None:
        """The project answers, the key may act as the service role, and trafico's schema is
        there and current; else one line saying what to do (StoreUnavailable when the project
        cannot be reached)."""
        have, need = self.schema_version(), required_schema_version()
        if have is None:
            raise SchemaMissing(f"the Supabase project {self.host} has no trafico schema: {SQL_HINT}")
        if have < need:
            raise SchemaMissing(f"the Supabase project {self.host} has trafico's schema up to step {have}, "
                                f"this version needs step {need}: {SQL_HINT}")
        self._checked = True

    def close(self) -> None:
        self.client.close()



def _json(value: Any) -> Any:
    """``value`` as strict JSON data (what the API accepts): NaN and infinities as null, other
    objects as their text, as the direct path's ``json.dumps(default=str)`` writes them."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json(v) for v in value]
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)
