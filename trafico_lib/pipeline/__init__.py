"""One table's run, step by step (docs/architecture.md §4): the library API the notebooks tell as a story.

    ctx = start("arribos", mode="full")
    ex = extract(ctx)             # source delta, text as it is in the source (first chunk)
    norm = normalize(ctx, ex)     # typed, trimmed, placeholders gone (+ issues)
    val = validate(ctx, norm)     # Great Expectations suite: valid / rejected / warnings
    enr = enrich(ctx, val)        # expo slots, Realizado status
    staged = stage(ctx, enr, val) # one row per sync_key, hashed, into the run's staging
    stg = stage_remaining(ctx)    # the other chunks through the same steps; latest wins across
                                  # chunks; rows identical to the target set aside
    chk = cross_check(ctx)        # source keys vs the CSV export (reported, never blocks)
    save_validation(ctx)          # the run's one validation result, for the Data Docs
    ad = adopt(ctx)               # the old tool's rows with no key: the key each gets (first sync)
    pl = plan(ctx, stg)           # inserts, field diffs, deactivations (writes nothing)
    res = apply(ctx, stg, check=chk)  # lock, merge, log, changes, rejects, state; CSV backup

A source larger than ``database.chunk_rows`` is read and processed a chunk at a time (one
server-side cursor, one snapshot), so memory holds one chunk whatever the table's size;
``ex`` is the first chunk and ``stage_remaining`` runs the others through the very same
steps. The staged rows wait in the database, where plan and apply both read them.

``run_table`` does all of it in one call (``--no-notebook`` and the tests).

This module tells the steps; what they share lives beside it: the run's context, resolved
once (``context.py``: ``start``, ``RunContext``), what a run gives back and records
(``results.py``: ``RunResult``, the counts, the ``ERROR`` row), back-propagation
(``backprop.py``), and the retry policy (``engine/retry.py``). Their public names are
importable from here, as the notebooks and the command line use them.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from ..config import Config
from ..counts import plural
from ..engine.extract import FUTURE_SKEW, Extract, extract_csv
from ..engine.conform import conform
from ..engine.plan import MergeOutcome, Plan, rejects_json
from ..engine.retry import retrying
from ..engine.stage import Staged, build_sync_key, stage as stage_rows
from ..errors import SyncFailed, TransientError, one_line
from ..interactive import is_interactive
from ..stores.base import Store, stopped_midway
from ..tables import TableSpec
from ..values import is_missing
from .backprop import back_propagate, back_propagation_fields, plan_back_propagation
from .context import MODES, RunContext, RunTotals, check_settings, new_run_id, start
from .results import (DUPLICATES_SHOWN, RunResult, StageResult, adoption_line, changed_something, counts_of,
                      duplicate_rows, finish, log_error, record_error, seconds_since, shown_duplicates, write_backup)

log = logging.getLogger("trafico")
#: A big table's progress, one line every so many chunks or batches, each message starting with the
#: run id: what a log file shows where a terminal shows a progress bar (the command lines, and the
#: runner for a notebook's kernel, show these lines when their output is not a terminal).
PROGRESS_LOGGER = "trafico.progress"
progress_log = logging.getLogger(PROGRESS_LOGGER)
BATCH_LINE_EVERY = 10  # merge batches per progress line


# ---- the steps ------------------------------------------------------------------------------

def extract(ctx: RunContext) -> Extract:
    """The source delta; its first chunk is ``frame``, the rest come through ``stage_remaining``.

    A table read whole (its slots are assigned per booking over all its rows) comes in one chunk.
    """
    ctx.close()
    ctx.totals = RunTotals()
    ctx.adoption = None
    if ctx.settings.source == "csv":
        ex = extract_csv(ctx.cfg, ctx.spec)
    else:
        lookback = timedelta(minutes=ctx.cfg.database.lookback_minutes)
        mode = "full" if ctx.spec.read_whole else ctx.mode
        whole = ctx.spec.read_whole
        if not ctx.probe_ready and not ctx.dry_run:  # before the read: what the next run compares with
            from .probe import take_probe
            ctx.probe, ctx.probe_context = take_probe(ctx), None
        ctx.probe_ready = False  # a retry's read takes its own
        _open_staging(ctx)
        try:
            ex = ctx.store.read_source(
                ctx.spec, mode=mode, state=ctx.state, lookback=lookback, updated_column=ctx.settings.updated_column,
                chunk_rows=None if whole else ctx.cfg.database.chunk_rows,
                fingerprint=None if whole else run_fingerprint(ctx), staging=ctx.staging)
        except SyncFailed as exc:
            ctx.close()
            raise type(exc)(f"{ctx.spec.name}: {exc}") from exc
    ctx.extract = ex
    if ex.absent:
        log.warning("%s: %s has no column %s: left as they are in the target (its rows keep their values, "
                    "new rows get none)", ctx.spec.name, ctx.cfg.shown(ex.origin), ", ".join(ex.absent))
    if _cross_check_applies(ctx, ex):  # every key of the source, the unread rows' too
        ctx.totals.source_keys = ctx.staging.unchanged_keys() if ex.unchanged else set()
    return ex


def source_time(ctx: RunContext) -> datetime:
    """When a source row that changed, but carries no change time of its own (a table without
    ``updated_at``: the hash path), is taken to have changed, against the desk's edits: the
    table's last successful run, which saw it as it was (the change came after); a desk edit
    since then wins, as the two cannot be ordered. No run yet: this run's start."""
    return ctx.state.get("last_success_at") or ctx.run_started


def _open_staging(ctx: RunContext) -> None:
    ctx.staging = ctx.store.staging(ctx.spec, preserve=ctx.preserve, source_time=source_time(ctx),
                                    run_id=ctx.run_id)


def _exits(ctx: RunContext):
    """The run's exit records (loaded once), or None when the table takes no status from them."""
    s = ctx.settings
    if not (s.status_validation and s.status.enabled):
        return None
    if ctx.exits is None:
        from ..enrich.status import load_exits
        ctx.exits = load_exits(ctx.cfg, spec=ctx.spec, template=status_template(ctx))
        if ctx.exits.note:
            log.warning("%s: %s", ctx.spec.name, ctx.exits.note)
    return ctx.exits


def status_template(ctx: RunContext) -> str:
    """The table's ``Estado`` template: the configured one, else its default (the old tool's
    text when the target is laid out by the old tool, ``ctx.legacy_layout``)."""
    from ..enrich.status import default_template
    return ctx.settings.status.template or default_template(ctx.spec, legacy=ctx.legacy_layout)


def run_fingerprint(ctx: RunContext) -> str:
    """The run's context for the source's row hashes (``engine.fingerprint``); the skip rule
    compares it too (``pipeline/probe.py``)."""
    from ..engine.fingerprint import context_fingerprint, frame_digest
    exits = _exits(ctx)
    return context_fingerprint(ctx.cfg, ctx.spec, ctx.run_date, layout=ctx.layout,
                               exits_digest=None if exits is None
                               else f"{frame_digest(exits.frame)}|{status_template(ctx)}")


def normalize(ctx: RunContext, ex: Extract | pd.DataFrame):
    """One chunk typed and cleaned (``ex``: the Extract's first chunk, or a later chunk)."""
    from ..normalize import normalize_frame
    frame = ex.frame if isinstance(ex, Extract) else ex
    return normalize_frame(frame, ctx.spec, ctx.run_date)


def validate(ctx: RunContext, norm):
    from ..rules.validate import validate as run_rules
    return run_rules(norm.frame, ctx.spec, ctx.cfg, issues=norm.issues)


def save_validation(ctx: RunContext):
    """Keep this run's one validation result (every chunk's counts summed) for the Data Docs
    site; not on a dry-run. Call it once every chunk is staged."""
    if ctx.dry_run:
        return None
    from ..docs import save_validation as save
    totals = ctx.totals.validation
    try:
        return save(ctx.cfg, ctx.spec.name, ctx.run_id, totals.to_json(), gx_result=totals.gx_result)
    except Exception as exc:  # a report that cannot be written must not stop the sync
        log.warning("%s: validation results not saved for Data Docs: %s", ctx.spec.name, one_line(exc))
        return None


@dataclass
class Enriched:
    frame: pd.DataFrame
    status_matches: pd.DataFrame = field(default_factory=pd.DataFrame)
    status_note: str | None = None
    slots: pd.DataFrame | None = None
    held_keys: list[str] = field(default_factory=list)  # slots of groups with a rejected row, left as they are


def enrich(ctx: RunContext, val, *, exits=None) -> Enriched:
    """Expo: quantity expansion and container assignment; every table: Realizado status."""
    frame = val.valid
    out = Enriched(frame=frame)
    s = ctx.settings
    if ctx.spec.slots:  # one target row per slot
        from ..enrich.expo import expand_slots, slot_summary
        sl = ctx.spec.slots
        existing = ctx.store.read_target(ctx.spec, list(dict.fromkeys(
            ["id", "sync_key", sl.group, sl.sequence, sl.item, *ctx.preserve, "activo", "manual_updated_at",
             "synced_at"])))
        if existing["sync_key"].isna().any():  # the old tool's booking rows: slot 1 once adopted
            from ..engine.adopt import as_adopted
            existing = as_adopted(existing, adopt(ctx), ctx.spec, ctx.preserve)
        availability = None
        if s.container_assignment and ctx.cfg.csv_sources.enabled:
            from ..sources.csv import read_named_csv
            from ..tables import AVAILABILITY_CSV_KEY
            if ctx.cfg.csv_path(AVAILABILITY_CSV_KEY).exists():
                availability = read_named_csv(ctx.cfg, AVAILABILITY_CSV_KEY)
        # a group (booking) with a rejected row keeps its slots as they are: counted without
        # that row, its demand would shrink and its empty slots go (a full run: every slot)
        held = set(val.rejected[sl.group].dropna()) if val.rejected is not None and len(val.rejected) else set()
        if held:
            frame = frame[~frame[sl.group].isin(held)]
            out.held_keys = existing.loc[existing[sl.group].isin(held), "sync_key"].tolist()
        out.frame = expand_slots(frame, existing, availability, spec=ctx.spec, quantity_expansion=s.quantity_expansion,
                                 container_assignment=s.container_assignment, preserve_fields=ctx.preserve)
        out.slots = slot_summary(out.frame, spec=ctx.spec)
    if s.status_validation and s.status.enabled:
        from ..enrich.status import apply_status
        exits = exits if exits is not None else _exits(ctx)  # once per run, whatever the chunks
        out.status_note = exits.note
        out.frame, out.status_matches = apply_status(out.frame, ctx.spec, exits, template=status_template(ctx))
    return out


def _cross_check_applies(ctx: RunContext, ex: Extract) -> bool:
    """CSV sources on, the source is the database, and this run reads the whole table (a
    timestamp delta is not comparable with a full export)."""
    return ctx.cfg.csv_sources.enabled and ctx.settings.source != "csv" and ex.since is None


def cross_check(ctx: RunContext):
    """External validation: the source's keys (every chunk's) against the table's CSV export
    (never blocks); None when it does not apply. Call it once every chunk is staged."""
    if ctx.totals.source_keys is None:
        return None
    from ..csv_roles import cross_check as compare
    return compare(ctx.cfg, ctx.spec, ctx.totals.source_keys, ctx.run_date, key=ctx.settings.key)


def stage(ctx: RunContext, enr: Enriched | pd.DataFrame, val=None, *,
          rejected_keys: list[str] | None = None) -> Staged:
    """One chunk joins the run: one row per key (latest wins), hashed, into the run's staging.

    The keys of rows validation rejected (from ``val``, or given) still count as present in
    the source, so a full run never deactivates a target row just because its source row
    is broken today. Call it once per chunk.
    """
    frame = enr.frame if isinstance(enr, Enriched) else enr
    rejects = _validation_rejects(val, ctx.spec, ctx.settings.key) if val is not None else []
    if rejected_keys is None:
        rejected_keys = [r["sync_key"] for r in rejects]
        if isinstance(enr, Enriched):
            rejected_keys += enr.held_keys
    if isinstance(enr, Enriched):
        ctx.totals.held += len(enr.held_keys)
    staged = stage_rows(frame, ctx.spec, key=ctx.settings.key)
    absent = list(ctx.extract.absent) if ctx.extract is not None else []
    if absent and len(staged.frame):  # columns the source lacks: the target keeps its values
        from ..engine.stage import leave_alone
        current = ctx.store.read_target(ctx.spec, ["sync_key", *absent, "source_preserved"])
        staged = leave_alone(staged, current, absent, ctx.spec, preserve=ctx.preserve, run_date=ctx.run_date)
    staged = conform(staged, ctx.spec, ctx.layout)  # a target column keeps its type (text in an adopted table)
    if ctx.staging is None:  # a CSV source: no read on the store's side
        _open_staging(ctx)
    ctx.staging.add(staged, extra_keys=rejected_keys)
    t = ctx.totals
    t.chunks += 1
    if val is not None:
        t.validation.add(val)
        if t.source_keys is not None:
            from ..csv_roles import keys_of
            t.source_keys |= keys_of(pd.concat([val.valid, val.rejected]), ctx.spec, ctx.settings.key)
    t.rejects.extend(rejects)
    if len(staged.duplicates):
        t.duplicates.append(staged.duplicates[["sync_key", "source_id"]])
    return staged


def stage_remaining(ctx: RunContext) -> StageResult:
    """The source's other chunks through the same steps (none when it fitted one chunk);
    then latest wins across chunks and rows the target already holds are set aside."""
    ex = ctx.extract
    if ex is None:
        raise RuntimeError("stage_remaining() runs after extract()")
    for chunk in ex.chunks(first=not ctx.totals.chunks):  # the first too, if no one staged it
        val = validate(ctx, normalize(ctx, chunk))
        stage(ctx, enrich(ctx, val), val)
        progress_log.info("%s %s: chunk %d staged (%s rows read)", ctx.run_id, ctx.spec.name, ctx.totals.chunks,
                          f"{ex.read:,}")
    staged = ctx.staging.finish()
    dups = [d for d in [*ctx.totals.duplicates, staged.duplicates] if len(d)]
    duplicates = (pd.concat(dups, ignore_index=True) if dups
                  else pd.DataFrame(columns=["sync_key", "source_id"]))
    unread = ex.unchanged - staged.unread_replaced  # set aside unread, and no later row of their key staged
    return StageResult(staged.rows, staged.skipped_unchanged + unread, duplicates, ctx.totals.chunks,
                       ex.read, unread=unread)


def adopt(ctx: RunContext):
    """The target's rows with no key (a table the old tool made, before its first sync): the
    key each gets from its own business columns, by the source's rules (``engine.adopt``), and
    whether the source holds it. Call it once every chunk is staged. Plan and apply give them
    their keys in the database (the dry run's plan rolls that back); a table with no such row
    (every run after the first) costs one cheap query."""
    from ..engine.adopt import classify, key_columns_of
    ad = ctx.adoption
    if ad is None:  # read once per attempt (extract starts it afresh)
        cols = key_columns_of(ctx.spec, ctx.settings.key)
        ad = classify(ctx.store.read_unkeyed(ctx.spec, cols), ctx.spec, key=ctx.settings.key, run_date=ctx.run_date)
    if len(ad) and ctx.staging is not None:
        ad.match(ctx.staging.source_keys(ad.keys))
    ctx.adoption = ad
    return ad


def _adoption(ctx: RunContext):
    return ctx.adoption if ctx.adoption is not None else adopt(ctx)


def plan(ctx: RunContext, stg: StageResult) -> Plan:
    """What apply would write, from the same staged rows (writes nothing), after the adoption
    of the old tool's rows (:func:`adopt`), rolled back. The rows the store set aside unread
    (as last written) count as unchanged, but those a later row of their key replaced
    (duplicates: ``StageResult.unread``)."""
    ad = _adoption(ctx)
    plan = ctx.staging.plan(full=ctx.mode == "full", adopt=ad.call(ctx.run_started) if len(ad) else None)
    if plan.adopted is not None:
        ad.settle(plan.adopted)
    plan.counts.update(ad.counts())
    unread = stg.unread
    if unread:
        plan.unchanged += unread
        plan.counts["unchanged"] = plan.counts.get("unchanged", 0) + unread
    stg.plan = plan
    return plan


# ---- apply + record -------------------------------------------------------------------------


def _validation_rejects(val, spec: TableSpec, key: list[str] | None) -> list[dict]:
    rej = val.rejected
    if rej is None or rej.empty:
        return []
    keys = rej.get(spec.slots.group) if spec.slots else build_sync_key(rej, spec, key)
    out = []
    for i, (_, row) in enumerate(rej.iterrows()):
        raw = {k: (None if is_missing(v) else str(v)) if not isinstance(v, (list, dict)) else v
               for k, v in row.items() if k != "reasons"}
        out.append({"sync_key": None if keys is None else keys.iloc[i], "reasons": list(row["reasons"]),
                    "raw_row": raw})
    return out


def _write(ctx: RunContext, stg: StageResult, *, check, attempts: int,
           on_batch: Callable[[int, int], None] | None) -> MergeOutcome:
    """The run's writes, all-or-nothing, under the table's lock (raises on failure). The log
    row's ``run_seconds`` (from :func:`start` to the log row) and ``write_seconds`` (the writes
    under the lock, up to the log row) are the outcome's: the run's result says the same."""
    from ..engine.guard import check_source, whole_source_rows
    ex = ctx.extract
    read_whole = ex is None or ex.since is None
    with ctx.staging.sync_session(lock_timeout=ctx.cfg.database.lock_timeout_seconds) as session:
        w0 = time.monotonic()  # the lock held: the writes start
        session.check_state(ctx.state.get("last_run_id"))
        ad = _adoption(ctx)
        if len(ad):  # the old tool's rows get their keys first, in the run's transaction
            ad.settle(session.adopt(ad.call(ctx.run_started)), applied=True)
        max_share = None
        if ctx.mode == "full" and not (ctx.allow_mass_deactivation or ctx.settings.allow_mass_deactivation):
            # before any write: a source much smaller than at the last success is refused
            max_share = check_source(ctx.spec.name, rows=stg.read, previous=ctx.state.get("source_rows"),
                                     share=ctx.settings.max_deactivation_share)
        outcome = session.merge(batch_size=ctx.settings.batch_size, on_batch=on_batch)
        if ctx.mode == "full":
            outcome.deactivated = session.deactivate(max_share=max_share)
        all_rejects = ctx.totals.rejects + outcome.rejects
        outcome.recorded = {"rejects": session.write_rejects(rejects_json(all_rejects)),
                            "duplicates": session.write_duplicates(duplicate_rows(stg.duplicates))}
        counts = counts_of(ctx, stg, outcome, len(all_rejects))
        outcome.write_seconds, outcome.run_seconds = seconds_since(w0), seconds_since(ctx.started_monotonic)
        session.write_log("SYNC", {
            "run_id": ctx.run_id, "mode": ctx.mode, "store": ctx.store.kind, "counts": counts,
            "run_seconds": outcome.run_seconds, "write_seconds": outcome.write_seconds,
            "notebook": ctx.notebook if changed_something(counts, outcome.recorded) or is_interactive(ctx.notebook)
            else None,  # a run that changed nothing is its log row: its notebook is not archived
            "strategy": ex.strategy if ex else None, "attempts": attempts,
            "watermark": ex.watermark.isoformat() if ex and ex.watermark else None,
            "batches": outcome.batches, "chunks": stg.chunks, "left_for_next_run": outcome.left,
            "columns_left_alone": list(ex.absent) if ex and ex.absent else None,
            "duplicates": shown_duplicates(stg),
            "external_validation": check.to_details() if check is not None else None})
        watermark = _watermark(ex, outcome)
        stored = session.write_state(watermark, whole_source_rows(rows=stg.read, read_whole=read_whole),
                                     reset=ex is not None and ex.since is None)
        # the probe taken before the read: the next run with the same probe and context is skipped
        # (none when rows were left for the next run: it must read them again)
        probe = ctx.probe if not outcome.left else None
        if probe is not None and ctx.probe_context is None:
            from .probe import skip_context
            ctx.probe_context = skip_context(ctx)
        session.write_probe(probe, context=ctx.probe_context if probe is not None else None,
                            full=ctx.mode == "full")
        outcome.rejects = all_rejects
    if outcome.left:
        log.info("%s: %d row(s) the desk edited while this run wrote them were left for the next run",
                 ctx.spec.name, outcome.left)
    _warn_future_times(ctx, ex, watermark, stored)
    return outcome


def _watermark(ex: Extract | None, outcome: MergeOutcome) -> datetime | None:
    """The watermark the run may record: the newest source change time it read, but before the
    earliest row it left for the next run (the desk edited it meanwhile), which the next
    incremental read must read again."""
    seen = ex.watermark if ex else None
    if seen is not None and outcome.left_since is not None and outcome.left_since <= seen:
        return outcome.left_since - timedelta(microseconds=1)
    return seen


def _warn_future_times(ctx: RunContext, ex: Extract | None, seen: datetime | None, stored: datetime | None) -> None:
    """One line when the watermark was held at the database's clock (docs/architecture.md §5):
    the source holds change times past it (how many rows), or the stored one was ahead."""
    if stored is None or ex is None:
        return
    from ..health.render import when_text
    name, before = ctx.spec.name, ctx.state.get("watermark")
    if seen is not None and ex.updated_column is not None and seen - stored > FUTURE_SKEW:
        try:
            rows = ctx.store.count_changed_after(ctx.spec, ex.updated_column, stored + FUTURE_SKEW)
            many = plural(rows, "row")
        except Exception as exc:  # the warning must not fail a run that committed
            many = f"rows (not counted: {one_line(exc, ctx.cfg.secrets)})"
        log.warning("%s: source table %s has %s with %s in the future (up to %s); the watermark is held at the "
                    "database's clock (%s) until they are corrected", name, ctx.spec.source, many,
                    ex.updated_column, when_text(seen), when_text(stored))
    elif before is not None and before - stored > FUTURE_SKEW:
        log.warning("%s: the stored watermark (%s) was ahead of the database's clock; set back to %s", name,
                    when_text(before), when_text(stored))


def _dry_run_result(ctx: RunContext, stg: StageResult) -> RunResult:
    result = RunResult(ctx.spec.name, ctx.spec.target, ctx.run_id, ctx.mode, True, "dry-run",
                       notebook=ctx.notebook, duplicates=shown_duplicates(stg))
    result.plan = stg.plan if stg.plan is not None else plan(ctx, stg)
    result.counts = {"read": stg.read, **result.plan.counts, "rejected": len(ctx.totals.rejects),
                     "duplicates": len(stg.duplicates), **({"held": ctx.totals.held} if ctx.totals.held else {})}
    result.adoption = adoption_line(ctx)
    result.run_seconds = seconds_since(ctx.started_monotonic)
    return result


def _batch_lines(ctx: RunContext, every: int = BATCH_LINE_EVERY) -> Callable[[int, int], None]:
    """A line to :data:`PROGRESS_LOGGER` every ``every`` batches (none for a table merged in fewer)."""
    batches = 0

    def line(done: int, total: int) -> None:
        nonlocal batches
        batches += 1
        if batches % every == 0 and done < total:
            progress_log.info("%s %s: merged %s of %s rows (%d batches)", ctx.run_id, ctx.spec.name, f"{done:,}",
                              f"{total:,}", batches)
    return line


def _progress(ctx: RunContext, total: int, on_batch, progress: bool):
    """(bar or None, the merge's on_batch): the caller's ``on_batch``, a progress bar when asked
    for (and no ``on_batch`` was given), and the log file's line every few batches."""
    lines = _batch_lines(ctx)
    if not progress or on_batch is not None:
        def both(done: int, total: int) -> None:
            lines(done, total)
            if on_batch is not None:
                on_batch(done, total)
        return None, both
    from tqdm.auto import tqdm
    bar = tqdm(total=total, desc=f"apply {ctx.spec.name}", unit="row")

    def tick(done: int, total: int) -> None:
        bar.n = done
        bar.refresh()
        lines(done, total)
    return bar, tick


def apply(ctx: RunContext, stg: StageResult, *, check=None, on_batch: Callable[[int, int], None] | None = None,
          progress: bool = False) -> RunResult:
    """Write the run in one transaction per table from the staged rows, retried on transient
    errors only (while the connection holding them lives). A dry-run returns the plan."""
    try:
        if ctx.dry_run:
            return _dry_run_result(ctx, stg)
        result = RunResult(ctx.spec.name, ctx.spec.target, ctx.run_id, ctx.mode, False, "ok",
                           notebook=ctx.notebook)
        bar, on_batch = _progress(ctx, stg.rows, on_batch, progress)
        attempts, first_error = 0, list[str]()

        def once() -> MergeOutcome:
            nonlocal attempts
            attempts += 1
            if not ctx.staging.alive:  # its temp tables went with the connection: start again
                raise SyncFailed(f"{ctx.spec.name}: the connection holding this run's staged rows was lost "
                                 f"({first_error[0] if first_error else 'closed'}); nothing was written, "
                                 "run again")
            try:
                return _write(ctx, stg, check=check, attempts=attempts, on_batch=on_batch)
            except TransientError as exc:
                first_error.append(one_line(exc, ctx.cfg.secrets))
                raise
        try:
            outcome, exc = retrying(ctx.settings.retry_attempts)(once), None
        except Exception as error:  # recorded as an ERROR row, then reported by the caller
            outcome, exc = None, error
        finally:
            if bar is not None:
                bar.close()
        return finish(ctx, result, attempts, outcome, stg, exc)
    finally:
        ctx.close()


class _BeforeWriting(Exception):
    """A failure while reading, checking or staging (bad input, a missing table): not retried."""


def prepare(ctx: RunContext) -> tuple[StageResult, Any]:
    """Every step before the writes, every chunk: (staged result, cross-check)."""
    ex = extract(ctx)
    val = validate(ctx, normalize(ctx, ex))
    stage(ctx, enrich(ctx, val), val)
    stg = stage_remaining(ctx)
    check = cross_check(ctx)
    save_validation(ctx)
    adopt(ctx)
    return stg, check


def run_table(table: str, *, mode: str = "incremental", dry_run: bool = False, cfg: Config | None = None,
              config_path: str | None = None, run_id: str | None = None, store: Store | None = None,
              notebook: str | None = None, progress: bool = False,
              on_batch: Callable[[int, int], None] | None = None,
              allow_mass_deactivation: bool = False, skip_unchanged: bool = True) -> RunResult:
    """The whole run of one table: extract → normalize → validate → enrich → stage → plan/apply.

    ``skip_unchanged``: a table whose source and context are as its last run left them is one
    log row, nothing read (``pipeline/probe.py``); False reads it all the same.

    A transient failure (the database restarting, a dropped connection) starts the run again
    from the source read, up to ``retry_attempts`` times: the staged rows live in the
    database session and go with it. Nothing is written until the last step commits.
    """
    ctx = start(table, mode=mode, dry_run=dry_run, config_path=config_path, run_id=run_id, cfg=cfg,
                store=store, notebook=notebook, allow_mass_deactivation=allow_mass_deactivation)
    if skip_unchanged and not dry_run:  # nothing changed since the last run: its log row, no read (pipeline/probe.py)
        from .probe import skip_if_unchanged
        skipped = skip_if_unchanged(ctx)
        if skipped is not None:
            return skipped
    result = RunResult(ctx.spec.name, ctx.spec.target, ctx.run_id, mode, dry_run, "ok", notebook=notebook)
    attempts, stg, bar, hooked = 0, None, None, False

    def once() -> MergeOutcome | RunResult:
        nonlocal attempts, stg, bar, on_batch, hooked
        attempts += 1
        try:
            try:
                stg, check = prepare(ctx)
            except TransientError:
                raise
            except Exception as exc:  # bad input (CSV, values), a missing table: this table failed
                raise _BeforeWriting(exc) from exc
            if dry_run:
                return _dry_run_result(ctx, stg)
            if not hooked:  # once, whatever the attempts
                bar, on_batch = _progress(ctx, stg.rows, on_batch, progress)
                hooked = True
            return _write(ctx, stg, check=check, attempts=attempts, on_batch=on_batch)
        finally:
            ctx.close()

    try:
        outcome, exc = retrying(ctx.settings.retry_attempts)(once), None
    except _BeforeWriting as error:
        log.debug("%s failed before writing", ctx.spec.name, exc_info=True)
        outcome, exc = None, error.__cause__ or error
        if dry_run:
            result.status, result.error = "error", one_line(exc, ctx.cfg.secrets)
            result.run_seconds = seconds_since(ctx.started_monotonic)
            return result
    except Exception as error:
        outcome, exc = None, error
    except KeyboardInterrupt as stop:  # SIGINT, or SIGTERM (errors.stop_on_signals): rolled back by now
        if not dry_run:
            log_error(ctx, f"stopped by {getattr(stop, 'name', 'SIGINT')}: {stopped_midway(ctx.store)}", attempts)
        raise
    finally:
        if bar is not None:
            bar.close()
    if isinstance(outcome, RunResult):
        return outcome
    return finish(ctx, result, attempts, outcome, stg, exc)


__all__ = [  # the public names, those of context.py, results.py and backprop.py among them
    "BATCH_LINE_EVERY", "DUPLICATES_SHOWN", "MODES", "PROGRESS_LOGGER", "Enriched", "RunContext", "RunResult",
    "RunTotals", "StageResult", "adopt", "apply", "back_propagate", "back_propagation_fields", "check_settings",
    "counts_of", "cross_check", "duplicate_rows", "enrich", "extract", "new_run_id", "normalize", "plan",
    "plan_back_propagation", "prepare", "record_error", "run_fingerprint", "run_table", "save_validation", "source_time",
    "stage",
    "stage_remaining", "start", "status_template", "validate", "write_backup",
]
