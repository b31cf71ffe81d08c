"""Showing the health facts: the old text block, JSON, and the tables and plots of the health
notebook. Everything here is pure but :func:`lag_history` and :func:`rejects_by_rule`, which
read their rows through a health reader, and the plots, which draw with matplotlib.
"""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from collections.abc import Callable
from typing import Any

import pandas as pd

from .. import clock
from ..counts import plural, seconds_text
from ..interactive import NOT_ARCHIVED, PREFIX
from ..tables import TABLES
from ..values import plain

OK, BAD, WARN = "✓", "✗", "⚠"
COUNTS = ["read", "inserted", "updated", "unchanged", "rejected", "deactivated"]
HISTORY_COUNTS = [*COUNTS, "duplicates"]  # the log row's counts (trafico_lib.counts: how they add up)
HISTORY_COLUMNS = ["table", "sync_timestamp", "operation", "run_id", "mode", *HISTORY_COUNTS, "rows_changed",
                   "run_seconds", "write_seconds", "lag_hours", "error"]
REJECTS_COLUMNS = ["table", "rule", "rows", "distinct_keys", "runs", "last_seen"]
COUNTS_COLUMNS = ["source_keys", "synced_keys", "rejected_keys", "pending_keys", "missing_keys", "extra_keys",
                  "unkeyed_rows", "counts_ok", "lag_hours", "lag_ok", "last_run_id"]


# ---- the block -----------------------------------------------------------------------------------

def when_text(v: Any) -> str:
    """A stored time as the block shows it: to the minute, in the display zone, with its zone
    (``2026-12-06 07:00 -03``, :func:`trafico_lib.clock.minute_text`; a naive time is UTC)."""
    if isinstance(v, datetime):
        return clock.minute_text(v)
    return str(v)


def source_bits(t: dict, number: Callable[[int], str] = str) -> list[str]:
    """The source line's facts, adding up to its row count: distinct keys (or bookings), the
    duplicate rows merged into their key's one target row, the rows without a key
    (``156 distinct Contenedor``, ``2 duplicate rows merged``, ``1 row without key``): the block
    and the health card say the same (``number``: how a count is written, ``1,156`` on the card)."""
    if t.get("source_keys") is None:
        return []
    what = str(t.get("compared_on") or "distinct keys")
    slots = what.endswith("bookings")  # a slot table's rows of one booking share its slots
    bits = [f"{number(t['source_keys'])} {what}"]
    if t.get("duplicate_rows"):
        bits.append(plural(t["duplicate_rows"], "more row", number=number) + " of the same bookings" if slots
                    else plural(t["duplicate_rows"], "duplicate row", number=number) + " merged")
    if t.get("unkeyed_rows"):
        bits.append(plural(t["unkeyed_rows"], "row", number=number) + " without key")
    return bits


def target_bits(t: dict, number: Callable[[int], str] = str) -> list[str]:
    """The target line's facts: its active rows with warnings and the source rows rejected now
    (the table's current state), and the source keys it does not hold yet (pending) or no
    longer should (extra): the block and the health card say the same."""
    state = t.get("state")
    bits = []
    if state:
        if state.get("warned_rows"):
            bits.append(f"{number(state['warned_rows'])} with warnings")
        if state.get("rejected_rows"):
            bits.append(plural(state["rejected_rows"], "source row", number=number) + " rejected")
    elif t.get("rejected_keys"):
        bits.append(plural(t["rejected_keys"], "source key", number=number) + " rejected")
    if t.get("pending_keys"):
        bits.append(plural(t["pending_keys"], "source key", number=number) + " pending")
    if t.get("extra_keys"):
        bits.append(f"{number(t['extra_keys'])} not in the source")
    return bits


def _in_brackets(bits: list[str]) -> str:
    return f" ({', '.join(bits)})" if bits else ""


def _count_lines(t: dict) -> list[str]:
    """A table's two lines under ``Table Row Counts:`` (one when its queries failed): the
    source's rows with what they are (distinct keys, duplicates merged, rows without key: they
    add up), then the target's active rows with its warnings and rejects."""
    src, tgt = t["source"], t["target"]
    label = src["name"] + (f" (CSV {Path(src['path']).name})" if src.get("kind") == "csv" else "")
    if t.get("error"):
        return [f"  {label}: {BAD} ({t['error']})"]
    lines = [f"  {label}: {src['rows']} {OK}{_in_brackets(source_bits(t))}" if src["exists"] else f"  {label}: missing {BAD}"]
    if not tgt["exists"]:
        lines.append(f"  {tgt['name']}: missing {BAD}")
    elif not src["exists"]:
        lines.append(f"  {tgt['name']}: {tgt['active_rows']} {BAD} (source missing)")
    elif t["counts_ok"]:
        lines.append(f"  {tgt['name']}: {tgt['active_rows']} {OK}{_in_brackets(target_bits(t))}")
    else:
        lines.append(f"  {tgt['name']}: {tgt['active_rows']} {BAD} (missing {t['missing_keys']} of "
                     f"{t['source_keys']} source keys){_in_brackets(target_bits(t))}")
    if not t["enabled"]:
        lines[-1] += " [disabled]"
    return lines


def state_line(state: dict | None, table: str | None = None) -> str:
    """The table's current state in one line: ``the table now: 156 rows, 114 with warnings, 1
    source row rejected`` (``table``: its name instead of "the table")."""
    who = table or "the table"
    if not state:
        return f"{who} now: unknown (the current state could not be read)"
    return (f"{who} now: {plural(state['rows'], 'row')}, {state['warned_rows']} with warnings, "
            f"{plural(state['rejected_rows'], 'source row')} rejected (at {when_text(state['as_of'])})")


def _failing_text(f: dict) -> str:
    """A failing row as the state table lists it: its key, else its source line (``row 121``)."""
    key = [v for v in (f.get("key") or {}).values() if v is not None]
    if key:
        return "|".join(map(str, key))
    return f"row {f['row']}" if f.get("row") is not None else "(no key)"


def state_table(state: dict | None) -> pd.DataFrame:
    """Each rule of the table's current state, by rule: severity, column, rows failing it now
    (in the target, rejected, both) and the first failing keys."""
    rows = [{"rule": r["rule"], "severity": r["severity"], "column": r.get("column"), "failing now": r["failed"],
             "in target": r.get("in_target"), "rejected": r.get("rejected"),
             "first failing": ", ".join(_failing_text(f) for f in r["failing_rows"][:5])}
            for r in (state or {}).get("rules", [])]
    out = pd.DataFrame(rows, columns=["rule", "severity", "column", "failing now", "in target", "rejected",
                                      "first failing"]).set_index("rule")
    for c in ("failing now", "in target", "rejected"):
        out[c] = out[c].astype("Int64")
    return out


def _lag_line(t: dict, max_lag_hours: Any) -> str:
    name = t["target"]["name"]
    if t["last_success_at"] is None:
        return f"  {name}: Never synced" + ("" if not t["enabled"] else f" {BAD}")
    if t.get("watermark_ahead"):
        return f"  {name}: unknown {BAD} (watermark {when_text(t['watermark'])} is in the future)"
    over = "" if t["lag_ok"] or not t["enabled"] else f" {BAD} (max {max_lag_hours:g}h)"
    return f"  {name}: {t['lag_hours']:.1f}h{over}"


def _lease_line(x: dict) -> str:
    """A held lease: a run at work (renewed, ✓) or one that died holding it (stale, ⚠)."""
    held = f"Lease: {x['target']} held by run {x['run_id']} ({x['holder']}) since {when_text(x['since'])}"
    ago = x.get("renewed_seconds_ago")
    renewed = "never renewed" if ago is None else f"renewed {ago} s ago"
    if x["stale"]:
        return f"{held}, {renewed} {WARN} stale: its run died; the next run takes the table over"
    return f"{held}, {renewed} {OK}"


def render_block(facts: dict) -> str:
    """The old health block, line by line, plus the additions."""
    lines = ["=== System Health Check ==="]
    db = facts["database"]
    lines.append(f"Database Connection: {OK if db['ok'] else BAD}")
    if not db["ok"]:
        lines.append(f"  {db['error']}")
    elif facts.get("schema_error"):
        lines.append(f"  {facts['schema_error']}")
    elif not facts.get("schema_ok", True):
        lines.append(f"  schema missing: {', '.join(facts.get('schema_missing', []))} (run --init-db)")
    thr = facts.get("thresholds", {})
    if "failed_syncs_24h" in facts:
        n, most = facts["failed_syncs_24h"], thr.get("max_failed_syncs_24h", 0)
        lines.append(f"Failed Syncs (24h): {n}" + (f" {BAD} (max {most})" if n > most else ""))
        for f in facts.get("failed_syncs", [])[:3]:
            lines.append(f"  {f['table']} at {when_text(f['sync_timestamp'])}: {f['error'] or 'error'}")
        lines.append(f"Rejects (24h): {facts['rejects_24h']}")
    if facts.get("tables") is not None:
        lines.append("Table Row Counts:")
        for t in facts["tables"]:
            lines.extend(_count_lines(t))
        lines.append("Sync Lag (hours):")
        lines.extend(_lag_line(t, thr.get("max_lag_hours")) for t in facts["tables"])
    if db.get("name"):  # the old block ends above; the additions start with the store in use
        lines.append(f"Store: {db['name']}")
    lines.extend(_lease_line(x) for x in facts.get("leases") or [])
    if "last_run" in facts:
        lr = facts["last_run"]
        if lr is None:
            lines.append("Last Run: none")
        else:
            lines.append(f"Last Run: {lr['run_id']} at {when_text(lr['sync_timestamp'])}")
            paths = lr["archive_paths"] + [f"{NOT_ARCHIVED}: {n.removeprefix(PREFIX)}"
                                           for n in lr.get("interactive") or []]
            unchanged = [t for t in lr["tables"] if t.get("unchanged_since")]
            if not paths and unchanged and len(unchanged) == len(lr["tables"]):
                paths = ["none (nothing changed: log rows only)"]
            paths = paths or ["none (run without a notebook)"]
            lines.append(f"  archive: {paths[0]}")
            lines.extend(f"           {p}" for p in paths[1:])
    if "last_archived" in facts:
        lines.append(last_archived_line(facts["last_archived"]))
    ss = facts.get("sql_server") or {}
    if ss.get("enabled"):
        lines.append(f"SQL Server: {OK}" if ss["ok"] else f"SQL Server: {BAD}")
        if not ss["ok"]:
            lines.append(f"  {ss['error']}")
    if facts.get("disk"):
        lines.append("Free Disk (MB):")
        for d in facts["disk"]:
            mark = OK if d["ok"] else WARN
            value = d["free_mb"] if d.get("free_mb") is not None else d.get("error", "?")
            lines.append(f"  {d['what']} ({d['path']}): {value} {mark}")
    for c in facts.get("config_errors") or []:
        lines.append(f"Configuration: {BAD} {c}")
    for w in facts.get("warnings") or []:
        lines.append(f"Warning: {w}")
    lines.append(f"Status: {facts.get('status', 'unhealthy').upper()}")
    lines.extend(f"  - {p}" for p in facts.get("problems") or [])
    return "\n".join(lines)


def verdict_line(facts: dict) -> str:
    """``HEALTHY``, or ``UNHEALTHY: `` and the problems on one line."""
    return "HEALTHY" if facts.get("healthy") else "UNHEALTHY: " + "; ".join(facts.get("problems", []))


def to_json(facts: dict) -> str:
    """The facts as one JSON document (datetimes as ISO 8601: :func:`plain`)."""
    return json.dumps(facts, ensure_ascii=False, indent=2, default=plain)


# ---- the notebook's tables -----------------------------------------------------------------------

def short_name(target: str) -> str:
    """A target table's short name (``traficov2_arribos`` -> ``arribos``); others as they are."""
    return {spec.target: spec.name for spec in TABLES.values()}.get(target, target)


def with_short_names(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ``table`` column in short names."""
    return frame.assign(table=frame["table"].map(short_name))


#: The notebook's row-count table: each column's label says what it counts. The first two are
#: the block's numbers (``Table Row Counts:``: a source's line, then its target's line).
COUNT_LABELS = {
    "source rows": "rows in the source table now (the block's first line of a table)",
    "source keys": "distinct keys (or bookings, for slots) among the source rows",
    "duplicate rows merged": "source rows whose key a later row also has (the latest wins): rows = keys + these + rows without key",
    "rows without key": "source rows with an empty key (rejected)",
    "target rows (active)": "active rows in the target table (the block's second line)",
    "with warnings": "active target rows that broke a warning rule (kept, named in validation_warnings)",
    "rejected now": "source rows a blocking rule rejects now (traficov2_sync_rejects, still current)",
    "compared on": "what the source and the target are compared on: distinct keys (or bookings, for slots)",
    "in target": "source keys with an active target row",
    "rejected keys": "source keys in traficov2_sync_rejects",
    "pending": "source keys changed after the watermark: the next run reads them",
    "missing": "source keys in none of the three (✗ in the block)",
    "extra in target": "active target keys no longer in the source (a full run deactivates them)",
    "accounted": "✓ when every source key is in the target, rejected or pending",
    "lag (h)": "hours since the last successful sync (the block's Sync Lag)",
    "last run": "the run id of the last successful sync",
}
_COUNTED = ("source rows", "source keys", "duplicate rows merged", "rows without key", "target rows (active)",
            "with warnings", "rejected now", "in target", "rejected keys", "pending", "missing", "extra in target")


def _int(v: Any) -> Any:
    return None if v is None or (isinstance(v, float) and v != v) else int(v)


def counts_table(facts: dict) -> pd.DataFrame:
    """One line per table, by table, the block's two lines as columns: the source (rows, distinct
    keys, duplicate rows merged, rows without key: they add up), the target now (active rows, with
    warnings, source rows rejected now: the table's state), then the key comparison behind its ✓
    or ✗, the lag and the last run; integers as integers (see :data:`COUNT_LABELS`)."""
    rows = []
    for t in facts.get("tables") or []:
        src, tgt, state = t.get("source") or {}, t.get("target") or {}, t.get("state") or {}
        lag = t.get("lag_hours")
        rows.append({
            "table": t["table"], "source rows": _int(src.get("rows")), "source keys": _int(t.get("source_keys")),
            "duplicate rows merged": _int(t.get("duplicate_rows")), "rows without key": _int(t.get("unkeyed_rows")),
            "target rows (active)": _int(tgt.get("active_rows")), "with warnings": _int(state.get("warned_rows")),
            "rejected now": _int(state.get("rejected_rows")), "compared on": t.get("compared_on"),
            "in target": _int(t.get("synced_keys")), "rejected keys": _int(t.get("rejected_keys")),
            "pending": _int(t.get("pending_keys")), "missing": _int(t.get("missing_keys")),
            "extra in target": _int(t.get("extra_keys")),
            "accounted": OK if t.get("counts_ok") else BAD,
            "lag (h)": None if lag is None else f"{lag:.1f}", "last run": t.get("last_run_id")})
    out = pd.DataFrame(rows, columns=["table", *COUNT_LABELS]).set_index("table")
    for c in _COUNTED:
        out[c] = out[c].astype("Int64")
    return out


def counts_legend() -> str:
    """What each column of :func:`counts_table` counts, as a Markdown list."""
    return "\n".join(f"- **{k}**: {v}" for k, v in COUNT_LABELS.items())


def last_archived_line(la: dict | None) -> str:
    """``Last change archived: 2026-12-06 09:13 -03, run <id>, runs/…/…_sync_arribos.html`` (each
    page of that run, comma-separated): the newest run whose notebook the archive keeps."""
    if la is None:
        return "Last change archived: none yet"
    pages = ", ".join(la.get("archive_paths") or []) or "its notebooks are no longer in the archive"
    return f"Last change archived: {when_text(la['sync_timestamp'])}, run {la['run_id']}, {pages}"


def last_run_table(facts: dict) -> pd.DataFrame:
    """The last run's log rows, by table (short name): operation, the notebook to open (its
    HTML rendering, relative to the configuration's folder), error."""
    rows = [{"table": short_name(t["table"]), "operation": t.get("operation"),
             "notebook": t.get("rendering") or t.get("notebook"), "error": t.get("error")}
            for t in (facts.get("last_run") or {}).get("tables", [])]
    return pd.DataFrame(rows, columns=["table", "operation", "notebook", "error"]).set_index("table")


def failures_table(facts: dict) -> pd.DataFrame:
    """The ``ERROR`` rows of the last 24 hours (newest first)."""
    return pd.DataFrame(facts.get("failed_syncs", []))


def _minute(ts: pd.Series) -> pd.Series:
    """Timestamps as text to the minute in the display zone, with its zone (as the block shows times)."""
    return ts.map(lambda v: None if pd.isna(v) else clock.minute_text(v)) if len(ts) else ts.astype(object)


def history_table(history: pd.DataFrame, rows: int = 20) -> pd.DataFrame:
    """The last ``rows`` runs of :func:`lag_history` as the notebook shows them, newest first:
    by time (to the minute, in the display zone, named in the header when every row shares one), counts as
    integers, lag in hours to one decimal, the run's and the write's durations as the terminal and the sync
    notebook show them (``counts.seconds_text``: ``6.1 s``, ``0.027 s``)."""
    h = history.sort_values("sync_timestamp", ascending=False).head(rows).copy()
    h["sync_timestamp"] = _minute(h["sync_timestamp"]) if len(h) else h["sync_timestamp"]
    for c in (*HISTORY_COUNTS, "rows_changed"):
        h[c] = h[c].round().astype("Int64")
    h["lag_hours"] = h["lag_hours"].map(lambda v: None if v != v or v is None else f"{v:.1f}")
    for c in ("run_seconds", "write_seconds"):
        h[c] = h[c].map(lambda v: None if v is None or v != v else seconds_text(v).replace(" ", "\u00a0"))  # one line
    zones = {str(w).rsplit(" ", 1)[-1] for w in h["sync_timestamp"]}
    when = f"when ({zones.pop()})" if len(zones) == 1 else "when"  # one zone: said once, in the header
    h["sync_timestamp"] = h["sync_timestamp"].str.rsplit(" ", n=1).str[0] if when != "when" else h["sync_timestamp"]
    h = h.rename(columns={"sync_timestamp": when, "lag_hours": "lag (h)", "run_seconds": "run",
                          "write_seconds": "write", "rows_changed": "rows changed",
                          "duplicates": "duplicate rows replaced"})
    first = ["table", "operation", "mode", "rows changed", "inserted", "updated", "deactivated", "rejected",
             "unchanged", "duplicate rows replaced", "read", "lag (h)", "run", "write", "error", "run_id"]
    return h.set_index(when)[first]


def rejects_table(rejects: pd.DataFrame) -> pd.DataFrame:
    """:func:`rejects_by_rule` as the notebook shows it: by table and rule, last seen to the minute."""
    r = rejects.copy()
    r["table"] = r["table"].map(short_name)
    r["last_seen"] = _minute(r["last_seen"]) if len(r) else r["last_seen"]
    return r.rename(columns={"distinct_keys": "distinct keys", "last_seen": "last seen"}).set_index(["table", "rule"])


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def history_frame(rows: list[tuple]) -> pd.DataFrame:
    """Log rows (table, sync_timestamp, operation, details) as one line per table per run.

    Columns: table, sync_timestamp, operation, run_id, mode, the six counts and duplicates, rows_changed
    (inserted + updated + deactivated), run_seconds and write_seconds (:func:`durations`),
    lag_hours (hours since the same table's previous successful sync; NaN for the first) and
    error.
    """
    recs = []
    for table, ts, op, d in rows:
        d = d or {}
        counts = d.get("counts") or {}
        rec = {"table": table, "sync_timestamp": ts, "operation": op, "run_id": d.get("run_id"),
               "mode": d.get("mode")}
        for c in HISTORY_COUNTS:
            v = counts.get(c)
            rec[c] = float(v) if isinstance(v, (int, float)) else float("nan")
        rec["run_seconds"], rec["write_seconds"] = durations(op, d)
        rec["error"] = d.get("error")
        recs.append(rec)
    if not recs:
        return _empty(HISTORY_COLUMNS)
    df = pd.DataFrame(recs)
    df["sync_timestamp"] = pd.to_datetime(df["sync_timestamp"], utc=True)
    df["rows_changed"] = df[["inserted", "updated", "deactivated"]].sum(axis=1, min_count=1)
    for c in ("run_seconds", "write_seconds"):
        df[c] = pd.to_numeric(df[c], errors="coerce")
    ok = df[df["operation"] == "SYNC"]
    prev = ok.groupby("table")["sync_timestamp"].shift(1)
    df["lag_hours"] = ((ok["sync_timestamp"] - prev).dt.total_seconds() / 3600).reindex(df.index)
    return df[HISTORY_COLUMNS].reset_index(drop=True)


def durations(operation: str, details: dict) -> tuple[Any, Any]:
    """(run seconds, write seconds) of a log row. A row written before the two were kept apart
    has one ``duration_seconds``: a sync notebook's measured its apply step (the write, the
    notebook named in the row), ``--no-notebook``'s and back-propagation's their whole run."""
    if "run_seconds" in details or "write_seconds" in details:
        return details.get("run_seconds"), details.get("write_seconds")
    old = details.get("duration_seconds")
    if operation == "SYNC" and details.get("notebook"):
        return None, old
    return old, None


def rejects_frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows (table, rule, rows, distinct_keys, runs, last_seen) as a frame, most rows first."""
    if not rows:
        return _empty(REJECTS_COLUMNS)
    df = pd.DataFrame(rows, columns=REJECTS_COLUMNS)
    df["last_seen"] = pd.to_datetime(df["last_seen"], utc=True)
    return df


def lag_history(reader, days: int = 7) -> pd.DataFrame:
    """One row per table per run of the last ``days`` (see :func:`history_frame`);
    ``reader`` is a store's health reader (``with store.health_reader() as reader``)."""
    return history_frame(reader.sync_log(days))


def rejects_by_rule(reader, days: int = 7) -> pd.DataFrame:
    """Rejected rows of the last ``days`` per table and rule (a row counts once per rule it broke).

    Columns: table, rule, rows, distinct_keys, runs, last_seen; most rows first.
    """
    return rejects_frame(reader.rejects_by_rule(days))


def _number(v: Any) -> int | None:
    return None if pd.isna(v) else int(v)


def notebook_result(facts: dict, history: pd.DataFrame) -> dict:
    """What the health notebook records for the runner: the verdict, each table's last run
    (from ``history``, in short names) and the block as text."""
    latest = history.sort_values("sync_timestamp").groupby("table").tail(1).set_index("table")
    tables = [{"table": t["table"], "counts_ok": t.get("counts_ok"), "lag_hours": t.get("lag_hours"),
               "last_run_id": latest["run_id"].get(t["table"]),
               "last_operation": latest["operation"].get(t["table"]),
               **{c: _number(latest[c].get(t["table"], float("nan")))
                  for c in ("inserted", "updated", "rejected", "deactivated")}}
              for t in facts.get("tables") or []]
    leases = [{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in x.items()}
              for x in facts.get("leases") or []]
    return {"status": "ok", "healthy": bool(facts.get("healthy")), "exit_code": facts.get("exit_code"),
            "problems": facts.get("problems", []), "leases": leases,
            "failed_24h": facts.get("failed_syncs_24h"), "runs": int(len(history)),
            "tables": tables, "text": render_block(facts)}


# ---- the notebook's plots ------------------------------------------------------------------------

def _successful(history: pd.DataFrame) -> pd.DataFrame:
    return history[history["operation"] == "SYNC"]


def _lines_per_table(runs: pd.DataFrame, column: str, ylabel: str, title: str):
    """A figure with one line of ``column`` over time per table: (fig, ax)."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 3.5))
    zone = clock.display_zone()
    for name, part in runs.groupby("table"):  # local wall times: matplotlib would label UTC
        when = pd.to_datetime(part["sync_timestamp"], utc=True).dt.tz_convert(zone).dt.tz_localize(None)
        ax.plot(when, part[column], marker="o", label=name)
    ax.set_ylabel(ylabel)
    ax.set_xlabel(f"time of the run ({clock.zone_name()})")
    ax.set_title(title)
    fig.autofmt_xdate()
    return fig, ax


def plot_rows_changed(history: pd.DataFrame, days: int):
    """Rows changed per run and table (a matplotlib figure); ``history`` from :func:`lag_history`."""
    ok = _successful(history)
    from matplotlib.ticker import MaxNLocator
    fig, ax = _lines_per_table(ok, "rows_changed", "rows changed", f"Rows changed per run, last {days} days")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if ok.empty:
        ax.text(0.5, 0.5, "no runs yet", ha="center", va="center", transform=ax.transAxes)
    else:
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_lag(history: pd.DataFrame, max_lag_hours: float, days: int):
    """Hours between each table's successive successful syncs, with the configured maximum."""
    lagged = _successful(history).dropna(subset=["lag_hours"])
    fig, ax = _lines_per_table(lagged, "lag_hours", "hours since previous sync",
                               f"Sync lag per table, last {days} days")
    ax.axhline(max_lag_hours, color="red", linestyle="--", linewidth=1, label="maximum")
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def plot_rejects(rejects: pd.DataFrame, days: int):
    """Rejected rows per table and rule, as horizontal bars; ``rejects`` from :func:`rejects_by_rule`."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 3))
    if rejects.empty:
        ax.text(0.5, 0.5, "no rejects", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    else:
        from matplotlib.ticker import MaxNLocator
        by = rejects.assign(label=rejects["table"].map(short_name) + ": " + rejects["rule"])
        by.set_index("label")["rows"].sort_values().plot(kind="barh", ax=ax)
        ax.set_xlabel("rejected rows")
        ax.set_ylabel("table: rule")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # rows are whole: no 0.2 ticks
    ax.set_title(f"Rejects by rule, last {days} days")
    fig.tight_layout()
    return fig
