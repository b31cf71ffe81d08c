"""Whether a table's run has anything to do, decided before it pays for anything (docs/architecture.md
§5, "A run pays for its changes"): the rule the runner (before it starts a kernel), ``--no-notebook``
(``run_table``) and ``trafico watch`` share, and the one log row a skipped run leaves.

A run is skipped when its source's probe (``engine.probe.SourceProbe``: row count, newest
change time, a hash of every row, computed in the database) and its context (``skip_context``:
the configuration, the run date, the exit records: what a row's outcome depends on besides
its own values) are what the table's last successful writing run recorded, which took its probe
before reading. Never:

* on a dry run: a person asked to see the plan, and is shown it;
* when the source cannot be probed (a CSV source, a source the database does not hold): it always runs;
* when the table's newest run failed, or its last writing run stored no probe (it left rows for
  the next run, say);
* when a reject or duplicate row that run recorded is due to be recorded again (once a day:
  the health check's rejects of the last 24 hours keep counting a row that stays broken);
* for a full run, unless the stored probe came from a full run (whose deactivations were judged).

A skipped run is one ``SYNC`` log row (status ok, nothing read, ``unchanged_since`` the run that
took the probe) and the table's state (its last success, so it counts as a run for health and
lag), written under the table's lock (or lease), as any run's writes: it never overlaps another
run of the table. No kernel, no validation, no Great Expectations, no notebook.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from ..engine.probe import SourceProbe
from ..errors import TableLocked, one_line
from .context import RunContext
from .results import RunResult, seconds_since

log = logging.getLogger("trafico")

SKIPPED = "unchanged_since"  # the log row's detail naming the run whose probe this one matched


@dataclass(frozen=True)
class Decision:
    """What :func:`needs_run` decided: ``run`` or not, and why (one line)."""
    run: bool
    why: str
    probe: SourceProbe | None = None
    since_run_id: str | None = None   # a skip: the run whose probe this one matched


def take_probe(ctx: RunContext) -> SourceProbe | None:
    """The source's probe now (None: it cannot be probed, or the probe failed: the run says why)."""
    if ctx.settings.source != "database":
        return None
    try:
        return ctx.store.source_probe(ctx.spec, updated_column=ctx.settings.updated_column)
    except Exception as exc:  # the run reads the source and reports what is wrong with it
        log.debug("%s: no probe: %s", ctx.spec.name, one_line(exc, ctx.cfg.secrets))
        return None


def skip_context(ctx: RunContext) -> str:
    """The run's context as the skip rule compares it: the source rows' fingerprint
    (``engine.fingerprint``: settings, rules, code, run date, exit records, target layout) and
    the other files a table's rows depend on (expo's container availability CSV)."""
    from . import run_fingerprint
    parts = [run_fingerprint(ctx)]
    s = ctx.settings
    if ctx.spec.slots and s.container_assignment and ctx.cfg.csv_sources.enabled:
        from ..tables import AVAILABILITY_CSV_KEY
        path = ctx.cfg.csv_path(AVAILABILITY_CSV_KEY)
        parts.append(hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "none")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _stored(stored: dict[str, Any]) -> SourceProbe | None:
    if stored.get("probe_digest") is None:
        return None
    return SourceProbe.from_values(stored.get("probe_rows"), stored.get("probe_changed_max"), stored["probe_digest"])


def needs_run(ctx: RunContext) -> Decision:
    """Whether the table's run has anything to do (see the module's docstring). Takes the probe
    (kept on ``ctx.probe`` for the run's record when it runs)."""
    if ctx.dry_run:
        return Decision(True, "a dry run always reads: it shows the plan")
    probe = take_probe(ctx)
    ctx.probe, ctx.probe_context = probe, None
    ctx.probe_ready = True  # the read that follows keeps this probe: one probe a run (extract)
    if probe is None:
        return Decision(True, "its source cannot be probed")
    stored = ctx.store.stored_probe(ctx.spec)
    before = _stored(stored)
    if stored.get("last_failed"):
        return Decision(True, "its last run failed", probe)
    if before is None:
        return Decision(True, "no probe recorded by its last run", probe)
    if stored.get("recheck_due"):
        return Decision(True, "a reject or duplicate row it holds is due to be recorded again (once a day)", probe)
    if ctx.mode == "full" and not stored.get("probe_full"):
        return Decision(True, "a full run: the last probe came from an incremental run", probe)
    if probe != before:
        return Decision(True, "its source changed", probe)
    ctx.probe_context = skip_context(ctx)
    if ctx.probe_context != stored.get("probe_context"):
        return Decision(True, "its context changed (configuration, run date or exit records)", probe)
    return Decision(False, f"unchanged since run {stored.get('probe_run_id')}", probe,
                    since_run_id=stored.get("probe_run_id"))


def record_skip(ctx: RunContext, decision: Decision) -> RunResult:
    """A skipped run's record: one ``SYNC`` log row and the table's state, under the table's lock
    (or lease), by ``Store.record_skip`` (one call over REST); status ``locked`` when another run
    holds the table or finished meanwhile."""
    probe = decision.probe
    result = RunResult(ctx.spec.name, ctx.spec.target, ctx.run_id, ctx.mode, False, "ok", notebook=None)
    counts = {"read": 0, "inserted": 0, "updated": 0, "unchanged": 0, "rejected": 0, "deactivated": 0,
              "duplicates": 0}
    try:
        result.run_seconds = seconds_since(ctx.started_monotonic)
        ctx.store.record_skip(ctx.spec, ctx.run_id, ctx.state.get("last_run_id"), {
            "run_id": ctx.run_id, "mode": ctx.mode, "store": ctx.store.kind, "counts": counts,
            "run_seconds": result.run_seconds, "write_seconds": None, "notebook": None,
            SKIPPED: decision.since_run_id, "source_rows": probe.rows if probe else None, "attempts": 1},
            lock_timeout=ctx.cfg.database.lock_timeout_seconds)
    except TableLocked as exc:
        result.status, result.error = "locked", str(exc)
    finally:
        ctx.close()
    result.counts = counts
    result.unchanged_since = decision.since_run_id
    result.source_rows = probe.rows if probe else None
    return result


def skip_if_unchanged(ctx: RunContext) -> RunResult | None:
    """:func:`needs_run`, and the skipped run's record when it has nothing to do (its result);
    None: the table must run (``ctx.probe`` holds the probe it took)."""
    decision = needs_run(ctx)
    log.debug("%s: %s", ctx.spec.name, decision.why if not decision.run else f"runs: {decision.why}")
    if decision.run:
        return None
    return record_skip(ctx, decision)
