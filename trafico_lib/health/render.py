"""Showing the health facts: the old text block, JSON, and the tables and plots of the health
notebook. Everything here is pure but :func:`lag_history` and :func:`rejects_by_rule`, which
read their rows through a health reader, and the plots, which draw with matplotlib.
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ..tables import TABLES

OK, BAD, WARN = "✓", "✗", "⚠"
COUNTS = ["read", "inserted", "updated", "unchanged", "rejected", "deactivated"]
HISTORY_COLUMNS = ["table", "sync_timestamp", "operation", "run_id", "mode", *COUNTS, "rows_changed",
                   "duration_seconds", "lag_hours", "error"]
REJECTS_COLUMNS = ["table", "rule", "rows", "distinct_keys", "runs", "last_seen"]
COUNTS_COLUMNS = ["source_keys", "synced_keys", "rejected_keys", "pending_keys", "missing_keys", "extra_keys",
                  "unkeyed_rows", "counts_ok", "lag_hours", "lag_ok", "last_run_id"]


# ---- the block -----------------------------------------------------------------------------------

def _when(v: Any) -> str:
    if isinstance(v, datetime):
        return v.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return str(v)


def _extras(t: dict) -> str:
    bits = [f"{t[k]} {label}" for k, label in (("rejected_keys", "rejected"), ("pending_keys", "pending"),
                                               ("unkeyed_rows", "without key")) if t.get(k)]
    return f" ({', '.join(bits)})" if bits else ""


def _count_lines(t: dict) -> list[str]:
    """A table's two lines under ``Table Row Counts:`` (one when its queries failed)."""
    src, tgt = t["source"], t["target"]
    label = src["name"] + (f" (CSV {Path(src['path']).name})" if src.get("kind") == "csv" else "")
    if t.get("error"):
        return [f"  {label}: {BAD} ({t['error']})"]
    lines = [f"  {label}: {src['rows']} {OK}" if src["exists"] else f"  {label}: missing {BAD}"]
    if not tgt["exists"]:
        lines.append(f"  {tgt['name']}: missing {BAD}")
    elif not src["exists"]:
        lines.append(f"  {tgt['name']}: {tgt['active_rows']} {BAD} (source missing)")
    elif t["counts_ok"]:
        lines.append(f"  {tgt['name']}: {tgt['active_rows']} {OK}{_extras(t)}")
    else:
        lines.append(f"  {tgt['name']}: {tgt['active_rows']} {BAD} (missing {t['missing_keys']} of "
                     f"{t['source_keys']} source keys){_extras(t)}")
    if not t["enabled"]:
        lines[-1] += " [disabled]"
    return lines


def _lag_line(t: dict, max_lag_hours: Any) -> str:
    name = t["target"]["name"]
    if t["last_success_at"] is None:
        return f"  {name}: Never synced" + ("" if not t["enabled"] else f" {BAD}")
    over = "" if t["lag_ok"] or not t["enabled"] else f" {BAD} (max {max_lag_hours:g}h)"
    return f"  {name}: {t['lag_hours']:.1f}h{over}"


def render_block(facts: dict) -> str:
    """The old health block, line by line, plus the additions."""
    lines = ["=== System Health Check ==="]
    db = facts["database"]
    lines.append(f"Database Connection: {OK if db['ok'] else BAD}")
    if not db["ok"]:
        lines.append(f"  {db['error']}")
    elif not facts.get("schema_ok", True):
        lines.append(f"  schema missing: {', '.join(facts.get('schema_missing', []))} (run --init-db)")
    thr = facts.get("thresholds", {})
    if "failed_syncs_24h" in facts:
        n, most = facts["failed_syncs_24h"], thr.get("max_failed_syncs_24h", 0)
        lines.append(f"Failed Syncs (24h): {n}" + (f" {BAD} (max {most})" if n > most else ""))
        for f in facts.get("failed_syncs", [])[:3]:
            lines.append(f"  {f['table']} at {_when(f['sync_timestamp'])}: {f['error'] or 'error'}")
        lines.append(f"Rejects (24h): {facts['rejects_24h']}")
    if facts.get("tables") is not None:
        lines.append("Table Row Counts:")
        for t in facts["tables"]:
            lines.extend(_count_lines(t))
        lines.append("Sync Lag (hours):")
        lines.extend(_lag_line(t, thr.get("max_lag_hours")) for t in facts["tables"])
    if db.get("name"):  # the old block ends above; the additions start with the store in use
        lines.append(f"Store: {db['name']}")
    if "last_run" in facts:
        lr = facts["last_run"]
        if lr is None:
            lines.append("Last Run: none")
        else:
            lines.append(f"Last Run: {lr['run_id']} at {_when(lr['sync_timestamp'])}")
            paths = lr["archive_paths"] or ["none (run without a notebook)"]
            lines.append(f"  archive: {paths[0]}")
            lines.extend(f"           {p}" for p in paths[1:])
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
    """The facts as one JSON document (datetimes as ISO 8601)."""
    def default(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, (date, Path)):
            return str(v)
        return str(v)
    return json.dumps(facts, ensure_ascii=False, indent=2, default=default)


# ---- the notebook's tables -----------------------------------------------------------------------

def short_name(target: str) -> str:
    """A target table's short name (``traficov2_arribos`` -> ``arribos``); others as they are."""
    return {spec.target: spec.name for spec in TABLES.values()}.get(target, target)


def with_short_names(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ``table`` column in short names."""
    return frame.assign(table=frame["table"].map(short_name))


def counts_table(facts: dict) -> pd.DataFrame:
    """One line per table: the key comparison, the lag and the last run, indexed by table."""
    rows = [{"table": t["table"], **{c: t.get(c) for c in COUNTS_COLUMNS}} for t in facts.get("tables") or []]
    return pd.DataFrame(rows, columns=["table", *COUNTS_COLUMNS]).set_index("table")


def last_run_table(facts: dict) -> pd.DataFrame:
    """The last run's log rows: table, operation, archived notebook, error."""
    return pd.DataFrame((facts.get("last_run") or {}).get("tables", []))


def failures_table(facts: dict) -> pd.DataFrame:
    """The ``ERROR`` rows of the last 24 hours (newest first)."""
    return pd.DataFrame(facts.get("failed_syncs", []))


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def history_frame(rows: list[tuple]) -> pd.DataFrame:
    """Log rows (table, sync_timestamp, operation, details) as one line per table per run.

    Columns: table, sync_timestamp, operation, run_id, mode, the six counts, rows_changed
    (inserted + updated + deactivated), duration_seconds, lag_hours (hours since the same
    table's previous successful sync; NaN for the first) and error.
    """
    recs = []
    for table, ts, op, d in rows:
        d = d or {}
        counts = d.get("counts") or {}
        rec = {"table": table, "sync_timestamp": ts, "operation": op, "run_id": d.get("run_id"),
               "mode": d.get("mode")}
        for c in COUNTS:
            v = counts.get(c)
            rec[c] = float(v) if isinstance(v, (int, float)) else float("nan")
        rec["duration_seconds"] = d.get("duration_seconds")
        rec["error"] = d.get("error")
        recs.append(rec)
    if not recs:
        return _empty(HISTORY_COLUMNS)
    df = pd.DataFrame(recs)
    df["sync_timestamp"] = pd.to_datetime(df["sync_timestamp"], utc=True)
    df["rows_changed"] = df[["inserted", "updated", "deactivated"]].sum(axis=1, min_count=1)
    df["duration_seconds"] = pd.to_numeric(df["duration_seconds"], errors="coerce")
    ok = df[df["operation"] == "SYNC"]
    prev = ok.groupby("table")["sync_timestamp"].shift(1)
    df["lag_hours"] = ((ok["sync_timestamp"] - prev).dt.total_seconds() / 3600).reindex(df.index)
    return df[HISTORY_COLUMNS].reset_index(drop=True)


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
    return {"status": "ok", "healthy": bool(facts.get("healthy")), "problems": facts.get("problems", []),
            "failed_24h": facts.get("failed_syncs_24h"), "runs": int(len(history)),
            "tables": tables, "text": render_block(facts)}


# ---- the notebook's plots ------------------------------------------------------------------------

def _successful(history: pd.DataFrame) -> pd.DataFrame:
    return history[history["operation"] == "SYNC"]


def _lines_per_table(runs: pd.DataFrame, column: str, ylabel: str, title: str):
    """A figure with one line of ``column`` over time per table: (fig, ax)."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(9, 3.5))
    for name, part in runs.groupby("table"):
        ax.plot(part["sync_timestamp"], part[column], marker="o", label=name)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    fig.autofmt_xdate()
    return fig, ax


def plot_rows_changed(history: pd.DataFrame, days: int):
    """Rows changed per run and table (a matplotlib figure); ``history`` from :func:`lag_history`."""
    ok = _successful(history)
    fig, ax = _lines_per_table(ok, "rows_changed", "rows changed", f"Rows changed per run, last {days} days")
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
        by = rejects.assign(label=rejects["table"].map(short_name) + ": " + rejects["rule"])
        by.set_index("label")["rows"].sort_values().plot(kind="barh", ax=ax)
        ax.set_xlabel("rejected rows")
    ax.set_title(f"Rejects by rule, last {days} days")
    fig.tight_layout()
    return fig
