"""A run's staged rows and writes over Supabase's REST API (the ``Staging`` and ``SyncSession``
of ``stores/base.py``).

The rows of every chunk are kept here until the writes (no temporary table lives across REST
calls): each chunk pickled into a private temporary folder as it is staged, read back a batch
at a time by the writes, so memory holds one chunk whatever the table's size (:class:`_Spilled`).
:meth:`RestStaging.finish` resolves duplicate keys across chunks by the direct path's own statements, run inside the
database (:func:`latest_wins`). The writes go in batches of the table's ``batch_size`` rows (at most
:data:`MAX_BATCH`), each one call of the table's merge function (``schema/rest_merge.py``:
the direct path's own statements, inside the database). A batch the database refuses on
data, or that hits the statement timeout, is split in halves until the refused rows are
found (``engine/batches.py``, the direct path's loop too); each becomes a reject with the
server's message while the rest goes through.

Unlike the direct path, each batch commits on its own (REST has no transaction across
calls): a run that stops half-way leaves the batches written so far, and the next run,
which merges only what differs, converges. A run retried after a failure (the gateway gone
for longer than its call's retries) counts what its earlier attempts committed
(``RestStore.written``): its log row says what the run wrote, not what was left for the last
attempt. A lease row keeps two runs of a table apart (``lease.py``).
"""
from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...engine.adopt import Adopt
from ...engine.batches import Written, check_state, write_batches
from ...engine.plan import PLAN_ROWS, MergeOutcome, Plan
from ...engine.stage import Staged, StagedTotals
from ...errors import MassDeactivation
from ...schema.rest_merge import (LATEST_WINS_FUNCTION, adopt_function_name, deactivate_function_name,
                                  merge_function_name, plan_deactivate_function_name, plan_function_name)
from ...tables import TableSpec
from ..sql import merge as q
from ..sql.copytext import NULL, column_text
from .client import RestError, api_time

MAX_BATCH = 1000          # rows per merge call, whatever batch_size says (request size, statement time)
DATA_ERROR_CLASSES = ("22", "23")  # SQLSTATE classes of a row the database refuses
STATEMENT_TIMEOUT = "57014"


def _splits(exc: Exception) -> bool:
    """A refused row (SQLSTATE class 22/23) or the statement timeout: the batch is halved."""
    code = (exc.code or "") if isinstance(exc, RestError) else ""
    return code[:2] in DATA_ERROR_CLASSES or code == STATEMENT_TIMEOUT


def _refused(exc: Exception) -> bool:
    """One row alone refused: a reject; one row alone still timing out: the error is raised."""
    return isinstance(exc, RestError) and (exc.code or "")[:2] in DATA_ERROR_CLASSES


def _records(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    """Rows as JSON objects the merge function reads with ``jsonb_populate_recordset``: each
    value as PostgreSQL's text input of it (COPY's text, unescaped), the warnings as JSON."""
    texts = {}
    for c in columns:
        if c == "validation_warnings":
            texts[c] = [json.loads(v) if isinstance(v, str) else (v if v is not None else []) for v in frame[c]]
        else:
            vals = column_text(frame[c], escape=False)
            texts[c] = [None if v == NULL else v for v in vals.tolist()]
    return [dict(zip(columns, row)) for row in zip(*(texts[c] for c in columns))]


class RestStaging:
    """The run's staged rows, for the writes over REST (see the module docstring)."""

    def __init__(self, store, spec: TableSpec, *, preserve: list[str], source_time: datetime, run_id: str):
        self.store, self.spec, self.preserve = store, spec, preserve
        self.source_time, self.run_id = source_time, run_id
        self.parts = _Spilled()  # each chunk's staged rows, on disk until the writes read them a batch at a time
        self.keys: list[str] = []
        self.aside: list[tuple] = []  # (sync_key, change time, position, source id) of the rows set aside unread
        self.kept: _Kept | None = None  # the rows to write once finished, in source order
        self.totals: StagedTotals | None = None
        self._staged = 0
        self.columns = q.stage_columns(spec)
        # the read was proved a no-op in the database (``rest/source.proved_unchanged``): every source
        # row as last written, every active target row one of them; no key was shipped, none is gone
        self.all_unchanged = False

    alive = True

    def add(self, staged: Staged, extra_keys: Iterable[str] = ()) -> None:
        frame = staged.frame
        if "_order" not in frame.columns:
            frame = frame.assign(_order=range(self._staged + 1, self._staged + 1 + len(frame)))
        self._staged += len(frame)
        self.parts.add(frame)
        self.keys.extend(k for k in [*staged.seen_keys, *extra_keys] if isinstance(k, str) and k)

    def unchanged_keys(self) -> set[str]:
        if self.all_unchanged:  # the rows set aside are the active target rows, one each
            from .pages import pages
            return {r["sync_key"] for page in pages(self.store.client, self.spec.target, ["sync_key"],
                                                     where=lambda q: q.eq("activo", True),
                                                     page_size=self.store.page_size,
                                                     what=f"{self.spec.name}: reading the target's keys")
                    for r in page}
        return {a[0] for a in self.aside}

    def finish(self) -> StagedTotals:
        """Latest wins across chunks, and a row set aside unread wins over a staged row of its
        key it outranks (or, outranked, is a duplicate the staged row replaced): decided by the
        direct path's own statements inside the database (:func:`latest_wins`); the losers are
        listed as the direct path lists them."""
        meta = self.parts.meta()  # every row's key and position (index: its number)
        unread = {a[0] for a in self.aside}
        asked = meta.index[(meta["sync_key"].duplicated(keep=False) | meta["sync_key"].isin(unread)).to_numpy()]
        losers, replaced = latest_wins(self.store, self.spec, self.parts.take(asked.to_numpy()), self.aside)
        order = meta.drop(index=losers["_n"]).sort_values("_order", kind="stable").index.to_numpy()
        self.kept = _Kept(self.parts, order, self.columns)
        self.keys.extend(a[0] for a in self.aside)
        dups = pd.concat([losers[["sync_key", "source_id"]], replaced], ignore_index=True)
        self.totals = StagedTotals(rows=len(order), skipped_unchanged=0, duplicates=dups,  # the unread: Extract
                                   unread_replaced=len(replaced))
        return self.totals

    @property
    def rows(self) -> pd.DataFrame | None:
        """Every row to write, in source order (read back whole: the writes read a batch at a time)."""
        return self.kept.rows(0, len(self.kept)) if self.kept is not None else None

    def source_keys(self, keys: Iterable[str]) -> set[str]:
        """Which of ``keys`` the source holds this run (every chunk's keys, the unread rows' too)."""
        return set(keys) & set(self.keys)

    def plan(self, *, full: bool, adopt: Adopt | None = None) -> Plan:
        """What the writes would do, written nowhere: each batch through the table's plan
        function (the direct path's plan statements), counts summed, the first
        :data:`PLAN_ROWS` inserts and field changes in key order. Each call sees the adoption
        of the old tool's rows (``adopt``), which it rolls back; ``Plan.adopted`` says what the
        adoption would do (the table's adoption function, rolled back too)."""
        client, spec = self.store.client, self.spec
        kept = self.kept if self.kept is not None else _Kept(self.parts, np.array([], dtype=np.int64), self.columns)
        counts = {"inserted": 0, "updated": 0, "unchanged": 0, "deactivated": 0}
        inserts, updates = [], []
        pairs = adopt.pairs if adopt is not None else []
        seen = {"p_adopt": pairs, "p_edited_at": adopt.edited_at.isoformat() if adopt is not None else None}
        adopted = (_adopt_call(self.store, spec, adopt, run_id=self.run_id, dry_run=True)
                   if adopt is not None and adopt.pairs else None)
        for lo in range(0, len(kept), MAX_BATCH):
            batch = _records(kept.rows(lo, lo + MAX_BATCH), self.columns)
            params: dict[str, Any] = {"p_rows": batch, "p_run_started": self.source_time.isoformat(),
                                      "p_limit": PLAN_ROWS, **seen}
            got = client.call_rpc(plan_function_name(spec), params, what=f"{spec.name}: planning {len(batch)} rows")
            for k in ("inserted", "updated", "unchanged"):
                counts[k] += int(got[k])
            inserts.extend(got["inserts"])
            updates.extend(got["updates"])
        deact = pd.DataFrame({"sync_key": []})
        if full and not self.all_unchanged:  # (proved a no-op: nothing is gone)
            params = {"p_keys": list(dict.fromkeys(self.keys)), "p_limit": PLAN_ROWS, **seen}
            got = client.call_rpc(plan_deactivate_function_name(spec), params,
                                  what=f"{spec.name}: planning the deactivations")
            counts["deactivated"] = int(got["count"])
            deact = pd.DataFrame(got["keys"], columns=["sync_key"])
        ins = pd.DataFrame(inserts)
        if len(ins):
            ins = ins.sort_values("sync_key", kind="stable").head(PLAN_ROWS).reset_index(drop=True)
        upd = pd.DataFrame(updates, columns=["sync_key", "field", "old", "new"])
        upd = upd.sort_values(["sync_key", "field"], kind="stable").head(PLAN_ROWS).reset_index(drop=True)
        return Plan(spec.name, ins, upd, deact, counts["unchanged"], counts, adopted=adopted)

    @contextmanager
    def sync_session(self, *, lock_timeout: float) -> Iterator[RestSyncSession]:
        """The run's writes under the table's lease (waited for up to ``lock_timeout`` seconds
        when another run holds it, released at the end)."""
        with self.store.holding(self.spec, self.run_id, wait=lock_timeout) as lease:
            session = RestSyncSession(self, lease)
            yield session
        self.store.written.pop(session.tally_key, None)  # the run recorded: nothing to carry

    def close(self) -> None:
        self.kept = None
        self.parts.close()


class _Spilled:
    """A run's staged chunks, each pickled into a private temporary folder as it arrives (memory
    holds one chunk whatever the table's size, as the direct path's staging in the database
    does), and the few columns latest wins reads kept in memory. Removed on :meth:`close` (and
    with the process)."""

    META = ["sync_key", "_order"]  # kept for every row: the rest of a row is read back when asked for

    def __init__(self) -> None:
        self._dir: tempfile.TemporaryDirectory | None = None
        self.files: list[Path] = []
        self.starts: list[int] = []  # each chunk's first row number
        self.total = 0
        self._meta: list[pd.DataFrame] = []
        self._cached: tuple[int, pd.DataFrame] | None = None

    def add(self, frame: pd.DataFrame) -> None:
        if not len(frame):
            return
        if self._dir is None:
            self._dir = tempfile.TemporaryDirectory(prefix="trafico-rest-staging-")
        path = Path(self._dir.name) / f"{len(self.files)}.pkl"
        frame.reset_index(drop=True).to_pickle(path)
        self.files.append(path)
        self.starts.append(self.total)
        self.total += len(frame)
        self._meta.append(frame[self.META].reset_index(drop=True))

    def meta(self) -> pd.DataFrame:
        """Every chunk's :data:`META` columns in one frame (once: the chunks' copies are let go)."""
        parts, self._meta = self._meta, []
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=self.META)

    def take(self, numbers: np.ndarray) -> pd.DataFrame:
        """The rows ``numbers`` (in that order) whole, their numbers as the index."""
        if not len(numbers):
            return pd.DataFrame(columns=[*self.META, "source_id", "source_updated_at"])
        return _Kept(self, numbers, []).rows(0, len(numbers)).set_axis(pd.Index(numbers))

    def chunk(self, i: int) -> pd.DataFrame:
        if self._cached is None or self._cached[0] != i:
            self._cached = (i, pd.read_pickle(self.files[i]))
        return self._cached[1]

    def close(self) -> None:
        self._cached, self._meta = None, []
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None


class _Kept:
    """The rows to write (``order``: their numbers in the spilled chunks, in source order), read
    back a slice at a time."""

    def __init__(self, parts: _Spilled, order: np.ndarray, columns: list[str]):
        self.parts, self.order, self.columns = parts, order, columns

    def __len__(self) -> int:
        return len(self.order)

    def rows(self, lo: int, hi: int) -> pd.DataFrame:
        wanted = self.order[lo:hi]
        if not len(wanted):
            return pd.DataFrame(columns=self.columns)
        chunk_of = np.searchsorted(self.parts.starts, wanted, side="right") - 1
        pieces = []
        at = 0
        while at < len(wanted):  # runs of rows from one chunk, in order
            i = chunk_of[at]
            end = at + int(np.argmax(chunk_of[at:] != i)) if (chunk_of[at:] != i).any() else len(wanted)
            local = wanted[at:end] - self.parts.starts[i]
            pieces.append(self.parts.chunk(int(i)).iloc[local])
            at = end
        return pd.concat(pieces, ignore_index=True) if len(pieces) > 1 else pieces[0].reset_index(drop=True)


LATEST_WINS_ROWS = 5000  # staged rows per call of traficov2_latest_wins (a key's rows never split)


def _stamp(t) -> str | None:
    return None if t is None or pd.isna(t) else pd.Timestamp(t).isoformat()


def latest_wins(store, spec: TableSpec, rows: pd.DataFrame, aside: list[tuple]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(The staged rows that lose to a later row of their key (``_n``: their index in ``rows``,
    ``sync_key``, ``source_id``): those a later staged row replaced, in source order, then
    those an unread row of ``aside`` ((sync_key, change time, position, source id) each)
    outranks; the unread rows a staged row of their key outranks (``sync_key``, ``source_id``,
    in source order): duplicates it replaced, not unchanged rows).

    Decided by ``traficov2_latest_wins`` (``schema/rest_merge.py``), the direct path's own
    statements (``stores/sql/merge.drop_superseded``, ``drop_lost``): the rule is written once.
    Only the rows whose key is staged more than once or set aside too are sent (usually none:
    no call), a key's rows all in one call."""
    empty = pd.DataFrame(columns=["_n", "sync_key", "source_id"])
    none_replaced = pd.DataFrame(columns=["sync_key", "source_id"])
    if not len(rows):
        return empty, none_replaced
    unread: dict[str, list[dict]] = {}
    for key, when, position, sid in aside:
        unread.setdefault(key, []).append({"sync_key": key, "source_updated_at": _stamp(when), "_order": position,
                                           "source_id": sid})
    keys = rows["sync_key"]
    wanted = rows[keys.duplicated(keep=False) | keys.isin(unread.keys())]
    if not len(wanted):
        return empty, none_replaced
    sizes = wanted.groupby("sync_key", sort=False).size()
    call_of = ((sizes.cumsum() - sizes) // LATEST_WINS_ROWS).to_dict()
    client, superseded, lost, replaced = store.client, [], [], []
    for _, part in wanted.groupby(wanted["sync_key"].map(call_of), sort=True):
        staged = [{"_n": int(n), "sync_key": k, "source_id": None if sid is None or pd.isna(sid) else str(sid),
                   "source_updated_at": _stamp(t), "_order": None if pd.isna(o) else int(o)}
                  for n, k, sid, t, o in zip(part.index, part["sync_key"], part["source_id"],
                                             part["source_updated_at"], part["_order"])]
        params = {"p_rows": staged, "p_unread": [u for k in part["sync_key"].unique() for u in unread.get(k, [])]}
        got = client.call_rpc(LATEST_WINS_FUNCTION, params,
                              what=f"{spec.name}: resolving {len(staged)} rows of repeated keys (latest wins)")
        superseded.extend(got["superseded"])
        lost.extend(got["lost"])
        replaced.extend(got["replaced"])
    order = dict(zip(rows.index, rows["_order"]))
    superseded.sort(key=lambda r: order[r["_n"]])  # in source order across calls, as on the direct path
    replaced.sort(key=lambda r: r["_order"])
    return (pd.DataFrame([*superseded, *lost], columns=["_n", "sync_key", "source_id"]),
            pd.DataFrame(replaced, columns=["sync_key", "source_id"]))


def _adopt_call(store, spec: TableSpec, adopt: Adopt, *, run_id: str, dry_run: bool) -> pd.DataFrame:
    """The table's adoption function (``schema/rest_merge.render_adopt_function``): (id,
    sync_key, adopted) of each row it keyed or deactivated (``dry_run``: would, rolled back)."""
    client = store.client
    params = {"p_adopt": adopt.pairs, "p_edited_at": adopt.edited_at.isoformat(), "p_run_id": run_id,
              "p_dry_run": dry_run}
    got = client.call_rpc(adopt_function_name(spec), params,
                          what=f"{spec.name}: adopting {len(adopt.pairs)} row(s) of the old tool")
    return pd.DataFrame(got or [], columns=["id", "sync_key", "adopted"])


class RestSyncSession:
    def __init__(self, staging: RestStaging, lease):
        self.staging, self.lease = staging, lease
        self.store, self.spec, self.run_id = staging.store, staging.spec, staging.run_id
        self.tally_key = (self.spec.target, self.run_id)
        # what this run's earlier attempts committed, and (added to as calls commit) this one's
        self.tally = self.store.written.setdefault(self.tally_key, {"inserted": 0, "updated": 0, "deactivated": 0})
        self.before = dict(self.tally)
        self.session_id = uuid.uuid4().hex[:12]  # names this attempt's merge calls (their receipts)

    def check_state(self, expected_last_run_id: str | None) -> None:
        check_state(self.spec.name, expected_last_run_id, self.store.read_state(self.spec).get("last_run_id"))

    def _call(self, rows: list[dict], lo: int, hi: int) -> dict:
        """One merge call of ``rows`` (the staged records ``lo``..``hi``), under an id of its own
        (this session's, the range): asked again after the gateway failed it, the function
        answers with what the first call committed, so the run counts what it wrote."""
        client = self.store.client
        params = {"p_rows": rows, "p_run_id": self.run_id, "p_run_started": self.staging.source_time.isoformat(),
                  "p_call": f"{self.session_id}:{lo}-{hi}"}
        return client.call_rpc(merge_function_name(self.spec), params,
                               what=f"{self.spec.name}: merging {len(rows)} rows")

    def adopt(self, adopt: Adopt) -> pd.DataFrame:
        """The old tool's rows given their keys before the merge calls (one call, committed on
        its own: a run stopped later keeps it, and the next run finds them keyed)."""
        if not adopt.pairs:
            return pd.DataFrame(columns=["id", "sync_key", "adopted"])
        self.lease.renew()
        return _adopt_call(self.store, self.spec, adopt, run_id=self.run_id, dry_run=False)

    def merge(self, *, batch_size: int, on_batch: Callable[[int, int], None] | None = None) -> MergeOutcome:
        st = self.staging
        kept = st.kept if st.kept is not None else _Kept(st.parts, np.array([], dtype=np.int64), st.columns)
        total, size = len(kept), max(1, min(batch_size, MAX_BATCH))

        def records(lo: int, hi: int) -> list[dict]:  # read back and made per batch: memory holds one chunk
            return _records(kept.rows(lo, hi), st.columns)

        def write(lo: int, hi: int) -> Written:  # records lo..hi-1
            got = self._call(records(lo, hi), lo, hi)
            self.tally["inserted"] += int(got["inserted"])
            self.tally["updated"] += int(got["updated"])
            return Written(inserted=int(got["inserted"]), updated=int(got["updated"]),
                           left=int(got.get("left") or 0), left_since=api_time(got.get("left_since")))

        bounds = [(lo, min(lo + size, total), min(lo + size, total) - lo) for lo in range(0, total, size)]
        out = write_batches(bounds, total, write, splits=_splits, refuses=_refused,
                            reason=lambda exc: str(exc).split(": ", 1)[-1], row=lambda n: records(n, n + 1)[0],
                            before_batch=self.lease.renew, on_batch=on_batch)
        # rows an earlier attempt of this run wrote are its writes, not unchanged ones: found
        # unchanged by this attempt's merge, or set aside unread (then counted as unchanged by the
        # staged result, so this attempt's own figure may go below zero: the sum stays true)
        carried = self.before["inserted"] + self.before["updated"]
        out.inserted += self.before["inserted"]
        out.updated += self.before["updated"]
        out.unchanged -= carried
        return out

    def deactivate(self, *, max_share: float | None = None) -> int:
        """The active rows whose key the source no longer holds, deactivated by the table's
        function; more than ``max_share`` of the active rows (counted first, by the plan
        function) raises MassDeactivation before any is (the batches merged stay: each
        committed on its own)."""
        client = self.store.client
        if self.staging.all_unchanged:  # every active target row is a source row as last written
            return self.before["deactivated"]
        keys = list(dict.fromkeys(self.staging.keys))
        if max_share is not None:
            params = {"p_keys": keys, "p_limit": 0, "p_adopt": [], "p_edited_at": None}
            gone = int(client.call_rpc(plan_deactivate_function_name(self.spec), params,
                                       what=f"{self.spec.name}: counting the rows to deactivate")["count"])
            if gone:
                active = self.store.count_rows(self.spec.target, lambda q: q.eq("activo", True),
                                               what=f"{self.spec.name}: counting the active rows")
                if gone > max_share * active:
                    raise MassDeactivation(self.spec.name, gone, active, max_share)
        params = {"p_run_id": self.run_id, "p_keys": keys}
        got = client.call_rpc(deactivate_function_name(self.spec), params,
                              what=f"{self.spec.name}: deactivating rows gone from the source")
        self.tally["deactivated"] += int(got or 0)
        return self.before["deactivated"] + int(got or 0)

    def write_rejects(self, rejects: list[tuple]) -> int:
        return self.store.write_rejects(self.spec, self.run_id, rejects)

    def write_duplicates(self, rows: list[tuple[str, str | None]]) -> int:
        return self.store.write_duplicates(self.spec, self.run_id, rows)

    def write_log(self, operation: str, details: dict) -> None:
        self.store.write_log(self.spec, operation, details)

    def write_state(self, watermark, source_rows: int | None = None, *, reset: bool = False):
        return self.store.write_state(self.spec, self.run_id, watermark, source_rows, reset=reset)

    def write_probe(self, probe, *, context: str | None, full: bool) -> None:
        self.store.record_probe(self.spec, self.run_id, probe, context=context, full=full)


__all__ = ["RestStaging", "RestSyncSession", "MAX_BATCH"]
