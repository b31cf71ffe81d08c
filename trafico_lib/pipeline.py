"""One table's run, step by step (DESIGN §4): the library API the notebooks tell as a story.

    ctx = start("arribos", mode="full")
    ex = extract(ctx)             # source delta, text as it is in the source
    norm = normalize(ctx, ex)     # typed, trimmed, placeholders gone (+ issues)
    chk = cross_check(ctx, ex, norm)  # source vs its CSV export (reported, never blocks)
    val = validate(ctx, norm)     # Great Expectations suite: valid / rejected / warnings
    save_validation(ctx, val)     # kept for the Data Docs health report
    enr = enrich(ctx, val)        # expo slots, Realizado status
    stg = stage(ctx, enr, val)    # one row per sync_key, hashes, unchanged rows set aside
    pl = plan(ctx, stg)           # inserts, field diffs, deactivations (writes nothing)
    res = apply(ctx, stg, val, ex=ex, check=chk)  # batches, retries, lock, log, changes, rejects, state
                                  # + today's CSV backup of the target

``run_table`` does all of it in one call (``--no-notebook`` and the tests).
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

import pandas as pd
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from .config import Config, TableSettings, load_config
from .engine.extract import Extract, extract_csv
from .engine.plan import MergeOutcome, Plan, rejects_json
from .engine.stage import Staged, build_sync_key, drop_unchanged, stage as stage_rows
from .errors import SyncFailed, TableLocked, TransientError, UsageError, one_line
from .stores import open_store
from .stores.base import Store
from .tables import TABLES, TableSpec, get_table

log = logging.getLogger("trafico")

MODES = ("incremental", "full")


def new_run_id(now: datetime | None = None) -> str:
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"


@dataclass
class RunContext:
    cfg: Config
    spec: TableSpec
    settings: TableSettings
    store: Store
    mode: str
    dry_run: bool
    run_id: str
    run_started: datetime
    notebook: str | None = None
    state: dict = field(default_factory=dict)

    @property
    def run_date(self) -> date:
        return self.run_started.astimezone().date()

    @property
    def preserve(self) -> list[str]:
        return self.cfg.preserve_fields(self.spec.name)


def start(table: str, *, mode: str = "incremental", dry_run: bool = False, config_path: str | None = None,
          run_id: str | None = None, cfg: Config | None = None, store: Store | None = None,
          notebook: str | None = None, run_started: datetime | None = None) -> RunContext:
    """Everything a run needs, resolved once: config, table, store, run id, stored state."""
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}; valid modes: {', '.join(MODES)}")
    cfg = cfg or load_config(config_path)
    try:
        spec = get_table(table)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
    store = store or open_store(cfg)
    ctx = RunContext(cfg=cfg, spec=spec, settings=cfg.table(spec.name), store=store, mode=mode,
                     dry_run=dry_run, run_id=run_id or new_run_id(), notebook=notebook,
                     run_started=run_started or datetime.now(timezone.utc))
    ctx.state = store.read_state(spec)
    return ctx


# ---- the steps ------------------------------------------------------------------------------

def extract(ctx: RunContext) -> Extract:
    if ctx.settings.source == "csv":
        return extract_csv(ctx.cfg, ctx.spec)
    lookback = timedelta(minutes=ctx.cfg.database.lookback_minutes)
    mode = "full" if ctx.spec.read_whole else ctx.mode
    try:
        return ctx.store.read_source(ctx.spec, mode=mode, state=ctx.state, lookback=lookback,
                                     updated_column=ctx.settings.updated_column)
    except SyncFailed as exc:
        raise SyncFailed(f"{ctx.spec.name}: {exc}") from exc


def normalize(ctx: RunContext, ex: Extract):
    from .normalize import normalize_frame
    return normalize_frame(ex.frame, ctx.spec, ctx.run_date)


def validate(ctx: RunContext, norm):
    from .rules.validate import validate as run_rules
    return run_rules(norm.frame, ctx.spec, ctx.cfg, issues=norm.issues)


def save_validation(ctx: RunContext, val):
    """Keep this run's validation results for the Data Docs site (not on a dry-run)."""
    if ctx.dry_run:
        return None
    from .docs import save_validation as save
    try:
        return save(ctx.cfg, ctx.spec.name, ctx.run_id, val)
    except Exception as exc:  # a report that cannot be written must not stop the sync
        log.warning("%s: validation results not saved for Data Docs: %s", ctx.spec.name, one_line(exc))
        return None


@dataclass
class Enriched:
    frame: pd.DataFrame
    status_matches: pd.DataFrame = field(default_factory=pd.DataFrame)
    status_note: str | None = None
    slots: pd.DataFrame | None = None


def enrich(ctx: RunContext, val, *, exits=None) -> Enriched:
    """Expo: quantity expansion and container assignment; every table: Realizado status."""
    frame = val.valid
    out = Enriched(frame=frame)
    s = ctx.settings
    if ctx.spec.slots:  # one target row per slot
        from .enrich.expo import expand_slots, slot_summary
        sl = ctx.spec.slots
        existing = ctx.store.read_target(ctx.spec, list(dict.fromkeys(
            ["sync_key", sl.group, sl.sequence, sl.item, *ctx.preserve, "activo", "manual_updated_at"])))
        availability = None
        if s.container_assignment and ctx.cfg.csv_sources.enabled:
            from .sources.csv import read_named_csv
            from .tables import AVAILABILITY_CSV_KEY
            if ctx.cfg.csv_path(AVAILABILITY_CSV_KEY).exists():
                availability = read_named_csv(ctx.cfg, AVAILABILITY_CSV_KEY)
        out.frame = expand_slots(frame, existing, availability, spec=ctx.spec, quantity_expansion=s.quantity_expansion,
                                 container_assignment=s.container_assignment, preserve_fields=ctx.preserve)
        out.slots = slot_summary(out.frame, spec=ctx.spec)
    if s.status_validation and s.status.enabled:
        from .enrich.status import apply_status, load_exits
        exits = exits if exits is not None else load_exits(ctx.cfg)
        out.status_note = exits.note
        if exits.note:
            log.warning("%s: %s", ctx.spec.name, exits.note)
        out.frame, out.status_matches = apply_status(out.frame, ctx.spec, exits, template=s.status.template)
    return out


def cross_check(ctx: RunContext, ex: Extract, norm):
    """External validation: the source's keys against the table's CSV export (never blocks).

    Only when CSV sources are enabled, the source is the database, and this run read the
    whole table (a timestamp delta is not comparable with a full export).
    """
    if not ctx.cfg.csv_sources.enabled or ctx.settings.source == "csv" or ex.since is not None:
        return None
    from .csv_roles import cross_check as compare
    return compare(ctx.cfg, ctx.spec, norm.frame, ctx.run_date, key=ctx.settings.key)


def write_backup(ctx: RunContext, result: "RunResult") -> str | None:
    """After a successful sync: today's CSV snapshot of the target (when CSV sources are on)."""
    if not ctx.cfg.csv_sources.enabled or result.status != "ok":
        return None
    from .csv_roles import write_snapshot
    changed = any(result.counts.get(k) for k in ("inserted", "updated", "deactivated"))
    try:
        path = write_snapshot(ctx.store, ctx.cfg, ctx.spec, ctx.run_date, changed=changed)
    except Exception as exc:  # the data is committed; a failed backup is reported, not fatal
        log.warning("%s: CSV backup not written: %s", ctx.spec.name, one_line(exc, ctx.cfg.secrets))
        return None
    return str(path) if path else None


@dataclass
class StageResult:
    staged: Staged
    skipped_unchanged: int

    @property
    def frame(self) -> pd.DataFrame:
        return self.staged.frame


def stage(ctx: RunContext, enr: Enriched | pd.DataFrame, val=None, *,
          rejected_keys: list[str] | None = None) -> StageResult:
    """One row per key (latest wins), hashed; rows identical to the target set aside.

    The keys of rows validation rejected (from ``val``, or given) still count as present in
    the source, so a full run never deactivates a target row just because its source row
    is broken today.
    """
    frame = enr.frame if isinstance(enr, Enriched) else enr
    if rejected_keys is None and val is not None:
        rejected_keys = [r["sync_key"] for r in _validation_rejects(val, ctx.spec, ctx.settings.key)]
    staged = stage_rows(frame, ctx.spec, key=ctx.settings.key)
    if rejected_keys:
        staged.seen_keys = list(dict.fromkeys([*staged.seen_keys, *[k for k in rejected_keys if k]]))
    stored = ctx.store.read_target(ctx.spec, ["sync_key", "row_hash", "activo"])
    smaller, skipped = drop_unchanged(staged, stored)
    return StageResult(smaller, skipped)


def plan(ctx: RunContext, stg: StageResult) -> Plan:
    return ctx.store.plan(ctx.spec, stg.staged, preserve=ctx.preserve, run_started=ctx.run_started,
                          full=ctx.mode == "full", skipped_unchanged=stg.skipped_unchanged)


# ---- apply + record -------------------------------------------------------------------------

@dataclass
class RunResult:
    table: str
    target: str
    run_id: str
    mode: str
    dry_run: bool
    status: str                      # ok | dry-run | error | locked
    counts: dict = field(default_factory=dict)
    duration_seconds: float = 0.0
    error: str | None = None
    notebook: str | None = None
    attempts: int = 1
    plan: Plan | None = None
    backup: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "dry-run")

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in ("table", "target", "run_id", "mode", "dry_run", "status", "counts",
                                            "duration_seconds", "error", "notebook", "attempts", "backup")}
        if self.plan is not None:
            d["plan"] = {"counts": self.plan.counts,
                         "sample_changes": self.plan.updates.head(20).astype(str).to_dict("records")}
        return d


def _validation_rejects(val, spec: TableSpec, key: list[str] | None) -> list[dict]:
    rej = val.rejected
    if rej is None or rej.empty:
        return []
    keys = rej.get(spec.slots.group) if spec.slots else build_sync_key(rej, spec, key)
    out = []
    for i, (_, row) in enumerate(rej.iterrows()):
        raw = {k: (None if pd.isna(v) else str(v)) if not isinstance(v, (list, dict)) else v
               for k, v in row.items() if k != "reasons"}
        out.append({"sync_key": None if keys is None else keys.iloc[i], "reasons": list(row["reasons"]),
                    "raw_row": raw})
    return out


def counts_of(ex: Extract | None, stg: StageResult, outcome: MergeOutcome, rejected: int) -> dict:
    return {"read": len(ex.frame) if ex is not None else None, "inserted": outcome.inserted,
            "updated": outcome.updated, "unchanged": outcome.unchanged + stg.skipped_unchanged,
            "rejected": rejected, "deactivated": outcome.deactivated,
            "duplicates": len(stg.staged.duplicates)}


def apply(ctx: RunContext, stg: StageResult, val=None, *, ex: Extract | None = None,
          on_batch: Callable[[int, int], None] | None = None, progress: bool = False,
          check=None) -> RunResult:
    """Write the run in one transaction per table, retried on transient errors only."""
    t0 = time.monotonic()
    result = RunResult(ctx.spec.name, ctx.spec.target, ctx.run_id, ctx.mode, ctx.dry_run, "ok",
                       notebook=ctx.notebook)
    if ctx.dry_run:
        result.plan = plan(ctx, stg)
        result.status = "dry-run"
        result.counts = {"read": len(ex.frame) if ex is not None else None, **result.plan.counts,
                         "rejected": len(val.rejected) if val is not None else 0,
                         "duplicates": len(stg.staged.duplicates)}
        result.duration_seconds = round(time.monotonic() - t0, 3)
        return result
    val_rejects = _validation_rejects(val, ctx.spec, ctx.settings.key) if val is not None else []
    bar = None
    if progress and on_batch is None:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(stg.frame), desc=f"apply {ctx.spec.name}", unit="row")
        def on_batch(done: int, total: int) -> None:  # noqa: E306
            bar.n = done
            bar.refresh()
    attempts = 0

    def once() -> MergeOutcome:
        nonlocal attempts
        attempts += 1
        with ctx.store.sync_session(ctx.spec, run_id=ctx.run_id,
                                    lock_timeout=ctx.cfg.database.lock_timeout_seconds) as session:
            session.check_state(ctx.state.get("last_run_id"))
            outcome = session.merge(stg.frame, preserve=ctx.preserve, run_started=ctx.run_started,
                                    batch_size=ctx.settings.batch_size, on_batch=on_batch)
            if ctx.mode == "full":
                outcome.deactivated = session.deactivate(stg.staged.seen_keys)
            all_rejects = val_rejects + outcome.rejects
            session.write_rejects(rejects_json(all_rejects))
            counts = counts_of(ex, stg, outcome, len(all_rejects))
            session.write_log("SYNC", {
                "run_id": ctx.run_id, "mode": ctx.mode, "store": ctx.store.kind, "counts": counts,
                "duration_seconds": round(time.monotonic() - t0, 3), "notebook": ctx.notebook,
                "strategy": ex.strategy if ex else None, "attempts": attempts,
                "watermark": ex.watermark.isoformat() if ex and ex.watermark else None,
                "batches": outcome.batches,
                "external_validation": check.to_details() if check is not None else None})
            session.write_state(ex.watermark if ex else None)
            outcome.rejects = all_rejects
            return outcome

    try:
        retrying = Retrying(retry=retry_if_exception_type(TransientError),
                            stop=stop_after_attempt(ctx.settings.retry_attempts),
                            wait=wait_exponential(multiplier=0.5, min=0.5, max=8), reraise=True)
        outcome = retrying(once)
        result.counts = counts_of(ex, stg, outcome, len(outcome.rejects))
    except TableLocked as exc:
        result.status, result.error = "locked", str(exc)
    except Exception as exc:  # recorded as an ERROR row, then reported by the caller
        result.status = "error"
        result.error = one_line(exc, ctx.cfg.secrets)
        _log_error(ctx, result.error, attempts)
    finally:
        if bar is not None:
            bar.close()
    result.attempts = attempts
    result.backup = write_backup(ctx, result)
    result.duration_seconds = round(time.monotonic() - t0, 3)
    return result


def _log_error(ctx: RunContext, error: str, attempts: int) -> None:
    try:
        ctx.store.write_log(ctx.spec, "ERROR", {"run_id": ctx.run_id, "mode": ctx.mode, "error": error,
                                                "store": ctx.store.kind, "attempts": attempts,
                                                "notebook": ctx.notebook})
    except Exception as exc:  # the database may be the very thing that failed
        log.warning("could not record the error in traficov2_sync_log: %s", one_line(exc, ctx.cfg.secrets))


def run_table(table: str, *, mode: str = "incremental", dry_run: bool = False, cfg: Config | None = None,
              config_path: str | None = None, run_id: str | None = None, store: Store | None = None,
              notebook: str | None = None, progress: bool = False,
              on_batch: Callable[[int, int], None] | None = None) -> RunResult:
    """The whole run of one table: extract → normalize → validate → enrich → stage → plan/apply."""
    ctx = start(table, mode=mode, dry_run=dry_run, config_path=config_path, run_id=run_id, cfg=cfg,
                store=store, notebook=notebook)
    try:
        ex = extract(ctx)
        norm = normalize(ctx, ex)
        check = cross_check(ctx, ex, norm)
        val = validate(ctx, norm)
        save_validation(ctx, val)
        enr = enrich(ctx, val)
        stg = stage(ctx, enr, val)
    except Exception as exc:  # bad input (CSV, values), the database gone: this table failed
        log.debug("%s failed before writing", ctx.spec.name, exc_info=True)
        res = RunResult(ctx.spec.name, ctx.spec.target, ctx.run_id, mode, dry_run, "error",
                        error=one_line(exc, ctx.cfg.secrets), notebook=notebook)
        if not dry_run:
            _log_error(ctx, res.error, 1)
        return res
    return apply(ctx, stg, val, ex=ex, progress=progress, on_batch=on_batch, check=check)


# ---- back-propagation (the notebook and the command line call these) ------------------------

def back_propagation_fields(cfg: Config, table: str | None = None) -> dict[str, list[str]]:
    """The tables to back-propagate (one, or every table) with their configured fields."""
    names = [get_table(table).name] if table else [n for n in TABLES]
    return {n: list(cfg.table(n).back_propagate) for n in names if cfg.table(n).back_propagate}


def plan_back_propagation(cfg: Config, todo: dict[str, list[str]], store=None) -> pd.DataFrame:
    """Every source edit back-propagation would make: table, source_row, sync_key, field, old, new."""
    store = store or open_store(cfg)
    parts = [store.back_propagate(get_table(n), fields, run_id="plan", key=cfg.table(n).key, dry_run=True,
                                  lock_timeout=cfg.database.lock_timeout_seconds,
                                  updated_column=cfg.table(n).updated_column).changes.assign(table=n)
             for n, fields in todo.items()]
    cols = ["table", "source_row", "sync_key", "field", "old", "new"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def back_propagate(cfg: Config, todo: dict[str, list[str]], *, run_id: str, dry_run: bool = False,
                   store=None) -> list[dict]:
    """Apply back-propagation table by table (each in its own transaction, under its lock).

    A table another run holds is reported ``locked`` and the others go on. One dict per table.
    """
    store = store or open_store(cfg)
    out = []
    for name, fields in todo.items():
        s = cfg.table(name)
        try:
            res = store.back_propagate(get_table(name), fields, run_id=run_id, key=s.key, dry_run=dry_run,
                                       lock_timeout=cfg.database.lock_timeout_seconds,
                                       updated_column=s.updated_column)
            out.append(res.to_dict())
        except TableLocked as exc:
            out.append({"table": name, "run_id": run_id, "dry_run": dry_run, "status": "locked",
                        "error": str(exc), "rows_updated": 0, "field_changes": 0})
    return out
