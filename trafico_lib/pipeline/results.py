"""What a run gives back and records: the staged totals the merge reads, the run's result and
counts, the duplicate rows shown, the CSV backup after a success, and the ``ERROR`` log row
(written here for the pipeline and for the runner, whose notebook may stop before its own)."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ..engine.plan import MergeOutcome, Plan
from ..errors import TableLocked, one_line
from ..stores.base import Store
from ..tables import TableSpec
from ..values import is_missing
from .context import RunContext

log = logging.getLogger("trafico")


def write_backup(ctx: RunContext, result: RunResult) -> str | None:
    """After a successful sync: today's CSV snapshot of the target (when CSV sources are on)."""
    if not ctx.cfg.csv_sources.enabled or result.status != "ok":
        return None
    from ..csv_roles import write_snapshot
    changed = any(result.counts.get(k) for k in ("inserted", "updated", "deactivated"))
    try:
        path = write_snapshot(ctx.store, ctx.cfg, ctx.spec, ctx.run_date, changed=changed)
    except Exception as exc:  # the data is committed; a failed backup is reported, not fatal
        log.warning("%s: CSV backup not written: %s", ctx.spec.name, one_line(exc, ctx.cfg.secrets))
        return None
    return str(path) if path else None


@dataclass
class StageResult:
    """Every chunk staged: what the merge will read."""
    rows: int                      # rows to merge (new or changed)
    skipped_unchanged: int         # rows identical to the target, set aside (read or not)
    duplicates: pd.DataFrame       # sync_key, source_id of each row a later one replaced (read or not)
    chunks: int
    read: int                      # source rows read
    plan: Plan | None = None       # once planned
    unread: int = 0                # of skipped_unchanged, the rows the read set aside unread


@dataclass
class RunResult:
    table: str
    target: str
    run_id: str
    mode: str
    dry_run: bool
    status: str                      # ok | dry-run | error | locked
    counts: dict = field(default_factory=dict)
    run_seconds: float = 0.0         # the table's run: from pipeline.start to its log row (as the row says)
    write_seconds: float | None = None  # of it, the writes under the table's lock (None: nothing written)
    error: str | None = None
    notebook: str | None = None
    attempts: int = 1
    plan: Plan | None = None
    backup: str | None = None
    duplicates: list[dict] = field(default_factory=list)  # the first rows a later one of their key replaced
    adoption: str | None = None      # what the first sync did (or would do) with the old tool's rows
    unchanged_since: str | None = None  # skipped (pipeline.probe): the run whose source probe this one matched
    source_rows: int | None = None   # skipped: the source's rows, as probed
    keep_notebook: bool = True       # the run changed, rejected or failed something: its notebook is archived

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "dry-run")

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("table", "target", "run_id", "mode", "dry_run", "status", "counts",
                                            "run_seconds", "write_seconds", "error", "notebook", "attempts", "backup",
                                            "duplicates")}
        if self.adoption:
            d["adoption"] = self.adoption
        if self.unchanged_since:
            d["unchanged_since"], d["source_rows"] = self.unchanged_since, self.source_rows
        if not self.keep_notebook:
            d["keep_notebook"] = False
        if self.plan is not None:  # what a dry run's summary shows: the first rows of each kind
            p = self.plan
            d["plan"] = {"counts": p.counts, "field_changes": len(p.updates),
                         "sample_changes": p.updates.head(20).astype(str).to_dict("records"),
                         "sample_inserts": _keys(p.inserts), "sample_deactivations": _keys(p.deactivations)}
        return d


def _keys(frame: pd.DataFrame, n: int = 20) -> list[str]:
    return [str(k) for k in frame["sync_key"].head(n)] if "sync_key" in frame else []


def counts_of(ctx: RunContext, stg: StageResult, outcome: MergeOutcome, rejected: int) -> dict:
    """The run's counts (``trafico_lib.counts`` says what each counts and how they add up): of
    the source rows ``read``, ``duplicates`` a later row of their key replaced (read or set
    aside unread), ``rejected`` refused (by a blocking rule or by the database); the keys the
    others make are ``inserted``, ``updated``, ``unchanged`` or ``held`` (slots of a group with
    a rejected row, left as they are: only when some are); ``deactivated``: keys gone from
    the source."""
    return {"read": stg.read, "inserted": outcome.inserted,
            "updated": outcome.updated, "unchanged": outcome.unchanged + stg.skipped_unchanged,
            "rejected": rejected, "deactivated": outcome.deactivated,
            "duplicates": len(stg.duplicates), **({"held": ctx.totals.held} if ctx.totals.held else {}),
            **(ctx.adoption.counts() if ctx.adoption is not None and ctx.adoption.applied else {})}


def changed_something(counts: dict, recorded: dict | None = None) -> bool:
    """Whether a run's writes changed, rejected or recorded anything (the archive keeps such a
    run's notebook; a run that changed nothing is its log row): rows inserted, updated,
    deactivated or adopted, or a reject or duplicate recorded now (``recorded``: one seen again
    within the day is only marked seen)."""
    if any(counts.get(k) for k in ("inserted", "updated", "deactivated", "adopted", "adopted_unmatched",
                                   "old_duplicates")):
        return True
    return recorded is None or any((recorded or {}).values())


def seconds_since(clock: float) -> float:
    """Seconds since ``clock`` (``time.monotonic``), to the millisecond: what the log row keeps."""
    return round(time.monotonic() - clock, 3)


DUPLICATES_SHOWN = 20  # in the run's result and log row; every one is in traficov2_sync_changes


def duplicate_rows(duplicates: pd.DataFrame) -> list[tuple[str, str | None]]:
    """(sync_key, source id) of each source row a later row of the same key replaced."""
    return [(str(k), None if is_missing(s) else str(s))
            for k, s in zip(duplicates["sync_key"], duplicates["source_id"])] if len(duplicates) else []


def shown_duplicates(stg: StageResult) -> list[dict]:
    return [{"sync_key": k, "source_id": s} for k, s in duplicate_rows(stg.duplicates.head(DUPLICATES_SHOWN))]


def adoption_line(ctx: RunContext) -> str | None:
    """What the run did (or would do) with the old tool's rows; None when there were none."""
    ad = ctx.adoption
    return ad.summary() if ad is not None and len(ad) else None


def finish(ctx: RunContext, result: RunResult, attempts: int,
           outcome: MergeOutcome | None, stg: StageResult | None, exc: BaseException | None) -> RunResult:
    """Status, counts or the one-line error (recorded as an ERROR row), the CSV backup; the
    durations of the log row (a run that wrote one), else the run's until now."""
    if exc is None:
        if outcome is None or stg is None:
            raise RuntimeError("a run that ended without an error has its staged rows and its outcome")
        result.counts = counts_of(ctx, stg, outcome, len(outcome.rejects))
        result.keep_notebook = changed_something(result.counts, outcome.recorded)
        result.duplicates = shown_duplicates(stg)
        result.adoption = adoption_line(ctx)
    elif isinstance(exc, TableLocked):
        result.status, result.error = "locked", str(exc)
    else:
        result.status = "error"
        result.error = one_line(exc, ctx.cfg.secrets)
        log_error(ctx, result.error, attempts)
    result.attempts = attempts
    result.backup = write_backup(ctx, result)
    if outcome is not None and outcome.run_seconds is not None:
        result.run_seconds, result.write_seconds = outcome.run_seconds, outcome.write_seconds
    else:
        result.run_seconds = seconds_since(ctx.started_monotonic)
    return result


def log_error(ctx: RunContext, error: str, attempts: int) -> None:
    record_error(ctx.store, ctx.spec, run_id=ctx.run_id, mode=ctx.mode, error=error, attempts=attempts,
                 notebook=ctx.notebook, secrets=ctx.cfg.secrets, run_seconds=seconds_since(ctx.started_monotonic))


def record_error(store: Store | Callable[[], Store], spec: TableSpec, *, run_id: str, mode: str | None,
                 error: str | Callable[[Store], str], notebook: str | None, secrets: Iterable[str] = (),
                 attempts: int | None = None, run_seconds: float | None = None) -> None:
    """The run's ``ERROR`` row in ``traficov2_sync_log`` (a run that failed, or a notebook that
    stopped before recording one). ``store``: the store, or a function that opens it;
    ``error``: the one line, or a function of the store that gives it; ``attempts``: how many
    times the run was tried, when the run itself records it; ``run_seconds``: how long the run
    ran, when it knows (``trafico_lib.counts``). A row that cannot be written (the
    database may be the very thing that failed) is a warning."""
    try:
        store = store() if callable(store) else store
        if callable(error):
            error = error(store)
        details: dict[str, Any] = {"run_id": run_id, "mode": mode, "error": error, "store": store.kind}
        if attempts is not None:
            details["attempts"] = attempts
        if run_seconds is not None:
            details["run_seconds"] = run_seconds
        store.write_log(spec, "ERROR", {**details, "notebook": notebook})
    except Exception as exc:
        log.warning("could not record the error in traficov2_sync_log: %s", one_line(exc, secrets))
