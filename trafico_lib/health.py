"""The health check (DESIGN §8): facts about the sync, the old block, JSON, an exit code.

    facts = gather_facts(cfg)          # one dict, JSON-able: everything the check knows
    print(render_block(facts))         # the old block (=== System Health Check === ...)
    code = facts["exit_code"]          # 0 healthy, 1 unhealthy, 2 bad configuration

``run_health_check(cfg, as_json=...)`` does the three for ``--health-check``. The notebook
calls the same functions, plus :func:`lag_history` and :func:`rejects_by_rule` for charts.

What each fact means
--------------------
* **Database Connection**: a connection (``database.connect_timeout_seconds``) and
  ``SELECT now()``. A database that cannot be reached is ``✗`` with one line of reason and
  exit 1, quickly; the other facts that need it are then absent. Every later query runs
  read-only under a statement timeout, so the check never hangs and never writes.
* **Failed Syncs (24h)**: ``ERROR`` rows of ``traficov2_sync_log`` in the last 24 hours of the
  database clock; unhealthy above ``health.max_failed_syncs_24h``.
* **Table Row Counts**: each source table's row count (``missing ✗`` when it does not exist)
  and each target's active row count, with ``✓`` when the target *accounts for every source
  row*. That comparison is on **distinct normalized business keys**, not raw counts, because
  duplicate source rows (the same container twice) collapse to one target row: the source's
  key columns are normalized with the pipeline's own rules (:mod:`trafico_lib.normalize`,
  :func:`trafico_lib.engine.stage.build_sync_key`, the config's ``key`` override), and each
  source key must be an active target key, or a rejected key (any reject row still retained
  for the table: an incremental run by change timestamp does not re-read, so does not
  re-reject, a row that stayed broken), or legitimately pending (its source row changed
  after the stored watermark, so the next incremental run will read it). Source rows whose
  key is empty map to no target key: counted as ``unkeyed`` (they are in the rejects) and
  left out. The difference shown with ``✗`` is the number of source keys in none of the three.
  **Expo** (``arribos_expo_ctns``) compares **distinct bookings**: a source row with
  ``Cantidad`` N stands for N slots and the target holds one row per slot, but the slot
  count of a booking may legitimately exceed the source demand (slots holding a container or
  manual data are never removed) and a booking's rows merge into one set of slots, so a
  demand sum would raise false alarms; "every source booking has active slots or was
  rejected" is exact. Active target keys absent from the source (deactivated by the next
  full run) are reported as ``extra``, a warning, not a failure.
* **Sync Lag (hours)**: hours since each target's last successful sync
  (``traficov2_sync_state.last_success_at``, database clock); ``Never synced`` when none.
  Unhealthy above ``health.max_lag_hours``, or never synced.
* Added: rejects in the last 24 h; the last run (its id, tables and archived notebooks);
  SQL Server reachability when ``sql_server.enabled`` (a warning when unreachable, a
  configuration error when no server is configured); free disk where the archive and the
  embedded database live (with psutil; a warning under ``health.min_free_disk_mb``).

Exit codes: 0 healthy; 1 unhealthy (database down, schema missing, failed syncs over the
threshold, a count mismatch or missing table, lag over the threshold or never synced);
2 bad configuration. Disabled tables (``sync_settings.<t>.enabled = false``) are listed
but never make the check unhealthy. Warnings (disk, SQL Server, extra keys) never change
the exit code.
"""
from __future__ import annotations

import json
import re
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from .config import Config, ConfigError, load_config
from .tables import SYSTEM_TABLES, TABLES, TableSpec

EXIT_HEALTHY, EXIT_UNHEALTHY, EXIT_CONFIG = 0, 1, 2
OK, BAD, WARN = "✓", "✗", "⚠"
STATEMENT_TIMEOUT_SECONDS = 60
MISSING_SAMPLE = 10
_SLOT_KEY = re.compile(r"^(.*)\|\d+$")


# ---- connecting --------------------------------------------------------------------------------

def connect(cfg: Config):
    """(store, connection) for the check: autocommit, read-only, statement timeout.

    Raises :class:`trafico_lib.stores.StoreError` (one line, no secret) when the database
    cannot be reached or the embedded server cannot start.
    """
    from .stores import open_store
    store = open_store(cfg)
    conn = store.connect(autocommit=True)
    try:
        conn.execute("SET default_transaction_read_only = on")
        conn.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT_SECONDS}s'")
    except Exception:
        conn.close()
        raise
    return store, conn


def _exists(conn, name: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = %s",
        (name,)).fetchone()
    return row is not None


def _now(conn) -> datetime:
    return conn.execute("SELECT now()").fetchone()[0]


# ---- system-table facts ------------------------------------------------------------------------

def failure_facts(conn, *, hours: int = 24) -> dict:
    """ERROR rows and rejects of the last ``hours`` (database clock), in total and per table."""
    since = f"{int(hours)} hours"
    errors = conn.execute(
        "SELECT table_name, sync_timestamp, details->>'run_id', details->>'error' FROM traficov2_sync_log "
        "WHERE operation = 'ERROR' AND sync_timestamp > now() - %s::interval "
        "ORDER BY sync_timestamp DESC, id DESC", (since,)).fetchall()
    rejects = conn.execute(
        "SELECT table_name, count(*) FROM traficov2_sync_rejects WHERE created_at > now() - %s::interval "
        "GROUP BY table_name ORDER BY table_name", (since,)).fetchall()
    return {
        "failed_syncs_24h": len(errors),
        "failed_syncs": [{"table": t, "sync_timestamp": ts, "run_id": rid, "error": err}
                         for t, ts, rid, err in errors[:20]],
        "rejects_24h": int(sum(n for _, n in rejects)),
        "rejects_24h_by_table": {t: int(n) for t, n in rejects},
    }


def last_run_facts(conn) -> dict | None:
    """The latest run in the log: its id, time, tables with status and archived notebooks."""
    row = conn.execute(
        "SELECT details->>'run_id', sync_timestamp FROM traficov2_sync_log "
        "WHERE details ? 'run_id' ORDER BY sync_timestamp DESC, id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    run_id, at = row
    rows = conn.execute(
        "SELECT table_name, operation, details->>'notebook', details->>'error' FROM traficov2_sync_log "
        "WHERE details->>'run_id' = %s ORDER BY id", (run_id,)).fetchall()
    tables = [{"table": t, "operation": op, "notebook": nb, "error": err} for t, op, nb, err in rows]
    archive = list(dict.fromkeys(t["notebook"] for t in tables if t["notebook"]))
    return {"run_id": run_id, "sync_timestamp": at, "tables": tables, "archive_paths": archive}


def read_states(conn) -> dict[str, dict]:
    rows = conn.execute(
        "SELECT table_name, watermark, last_success_at, last_run_id FROM traficov2_sync_state").fetchall()
    return {t: {"watermark": w, "last_success_at": s, "last_run_id": r} for t, w, s, r in rows}


# ---- keys: the "accounts for every source row" comparison ---------------------------------------

def is_expo(spec: TableSpec) -> bool:
    return bool(spec.extra_target_columns)


def key_parts(spec: TableSpec, cfg: Config) -> tuple[list[str], list[str]]:
    """(required, optional) key columns the comparison uses: expo compares bookings."""
    from .engine.stage import key_columns
    if is_expo(spec):
        return ["Booking"], []
    return key_columns(spec, cfg.table(spec.name).key)


def normalized_keys(frame: pd.DataFrame, spec: TableSpec, cfg: Config, run_date: date | None = None) -> pd.Series:
    """The business key of each raw source row as the pipeline builds it (None: no key)."""
    from .engine.stage import build_sync_key
    from .normalize import normalize_column
    required, optional = key_parts(spec, cfg)
    run_date = run_date or date.today()
    typed = pd.DataFrame(index=frame.index)
    for c in required + optional:
        raw = frame[c] if c in frame.columns else pd.Series([None] * len(frame), index=frame.index, dtype=object)
        typed[c] = normalize_column(raw, c, spec.type_of(c), run_date)[0]
    if is_expo(spec):
        return typed["Booking"].astype(object).where(typed["Booking"].notna(), None)
    return build_sync_key(typed, spec, cfg.table(spec.name).key)


def account(source: pd.DataFrame, target_keys: set, rejected_keys: set) -> dict:
    """Compare source keys with the target (pure).

    ``source`` has columns ``key`` (None for unkeyed rows), ``pending`` (bool) and
    optionally ``n`` (how many source rows the line stands for, default 1). Returns the
    counts shown by the check and a sample of the missing keys.
    """
    n = source["n"] if "n" in source.columns else pd.Series(1, index=source.index)
    keyed = source[source["key"].notna()]
    keys = set(keyed["key"])
    pending = set(keyed.loc[keyed["pending"].astype(bool), "key"])
    synced = keys & target_keys
    rejected = (keys & rejected_keys) - synced
    waiting = (pending - synced) - rejected
    missing = sorted(keys - synced - rejected - waiting)
    return {
        "source_keys": len(keys), "unkeyed_rows": int(n[source["key"].isna()].sum()),
        "synced_keys": len(synced), "rejected_keys": len(rejected), "pending_keys": len(waiting),
        "missing_keys": len(missing), "missing_sample": missing[:MISSING_SAMPLE],
        "extra_keys": len(target_keys - keys),
    }


_ACCOUNT_KEYS = ("source_keys", "unkeyed_rows", "synced_keys", "rejected_keys", "pending_keys", "missing_keys",
                 "missing_sample", "extra_keys")


def _source_frame(conn, cfg: Config, spec: TableSpec, watermark: datetime | None) -> tuple[pd.DataFrame, dict]:
    """Raw key columns of the source plus a ``pending`` flag, and facts about the source."""
    from psycopg import sql
    settings = cfg.table(spec.name)
    required, optional = key_parts(spec, cfg)
    wanted = required + optional
    if settings.source == "csv":
        from .sources.csv import CsvError, read_table_csv
        path = cfg.csv_path(spec.csv_file_key)
        info = {"kind": "csv", "name": spec.source, "path": str(path)}
        try:
            frame = read_table_csv(cfg, spec)
        except CsvError as exc:
            return pd.DataFrame(), {**info, "exists": False, "rows": None, "error": str(exc)}
        frame = frame[[c for c in wanted if c in frame.columns]].copy()
        frame["pending"] = False
        frame["n"] = 1
        return frame, {**info, "exists": True, "rows": len(frame)}
    from .engine.extract import SourceMissing, detect_updated_column, source_columns
    info = {"kind": "database", "name": spec.source}
    cols = source_columns(conn, spec.source)
    if not cols:
        return pd.DataFrame(), {**info, "exists": False, "rows": None, "error": "table does not exist"}
    try:
        upd = detect_updated_column(cols, settings.updated_column)
    except SourceMissing as exc:
        upd, info["error"] = None, str(exc)
    select = [sql.SQL("{}::text").format(sql.Identifier(c)) if c in cols else sql.SQL("NULL::text")
              for c in wanted]
    if upd and watermark is not None:
        select.append(sql.SQL("coalesce({} > %s, false)").format(sql.Identifier(upd)))
        params: tuple = (watermark,)
    else:
        select.append(sql.SQL("false"))
        params = ()
    # one line per distinct raw key: the database collapses the duplicates, Python normalizes
    query = sql.SQL("SELECT {keys}, bool_or({pending}), count(*) FROM {src} GROUP BY {group}").format(
        keys=sql.SQL(", ").join(select[:-1]), pending=select[-1], src=sql.Identifier(spec.source),
        group=sql.SQL(", ").join(sql.SQL(str(i)) for i in range(1, len(wanted) + 1)))
    rows = conn.execute(query, params).fetchall()
    frame = pd.DataFrame(rows, columns=[*wanted, "pending", "n"], dtype=object)
    return frame, {**info, "exists": True, "rows": int(frame["n"].sum()) if len(frame) else 0,
                   "updated_column": upd}


def _target_facts(conn, spec: TableSpec) -> tuple[set, dict]:
    from psycopg import sql
    if not _exists(conn, spec.target):
        return set(), {"name": spec.target, "exists": False, "rows": None, "active_rows": None}
    col = sql.Identifier("Booking") if is_expo(spec) else sql.Identifier("sync_key")
    total, active = conn.execute(sql.SQL("SELECT count(*), count(*) FILTER (WHERE activo) FROM {}").format(
        sql.Identifier(spec.target))).fetchone()
    keys = {r[0] for r in conn.execute(sql.SQL("SELECT DISTINCT {} FROM {} WHERE activo AND {} IS NOT NULL").format(
        col, sql.Identifier(spec.target), col)) }
    return keys, {"name": spec.target, "exists": True, "rows": int(total), "active_rows": int(active)}


def _rejected_keys(conn, spec: TableSpec) -> set:
    rows = conn.execute("SELECT DISTINCT sync_key FROM traficov2_sync_rejects "
                        "WHERE table_name = %s AND sync_key IS NOT NULL", (spec.target,)).fetchall()
    keys = {r[0] for r in rows}
    if is_expo(spec):  # apply-time rejects carry Booking|Secuencia; validation rejects the Booking
        keys = {(m.group(1) if (m := _SLOT_KEY.match(k)) else k) for k in keys}
    return keys


def table_facts(conn, cfg: Config, spec: TableSpec, state: dict, now: datetime) -> dict:
    """Counts, key comparison and lag of one table."""
    settings = cfg.table(spec.name)
    out: dict[str, Any] = {"table": spec.name, "enabled": settings.enabled,
                           "compared_on": "distinct bookings" if is_expo(spec) else
                           "distinct " + " + ".join(key_parts(spec, cfg)[0] + key_parts(spec, cfg)[1])}
    frame, src = _source_frame(conn, cfg, spec, state.get("watermark"))
    target_keys, tgt = _target_facts(conn, spec)
    out["source"], out["target"] = src, tgt
    out["counts_ok"] = False
    out.update(dict.fromkeys(_ACCOUNT_KEYS))
    if src["exists"] and tgt["exists"]:
        source = pd.DataFrame({"key": normalized_keys(frame, spec, cfg, now.date()),
                               "pending": frame["pending"].astype(bool), "n": frame["n"].astype("int64")}) \
            if len(frame) else pd.DataFrame({"key": pd.Series([], dtype=object),
                                             "pending": pd.Series([], dtype=bool), "n": pd.Series([], dtype="int64")})
        acc = account(source, target_keys, _rejected_keys(conn, spec))
        out.update(acc)
        out["counts_ok"] = acc["missing_keys"] == 0
    out.update(lag_facts(cfg, state, now))
    return out


def lag_facts(cfg: Config, state: dict, now: datetime) -> dict:
    """Hours since the last successful sync, and whether that is within the threshold."""
    last = state.get("last_success_at")
    lag = None if last is None else round((now - last).total_seconds() / 3600, 2)
    return {"last_success_at": last, "last_run_id": state.get("last_run_id"), "lag_hours": lag,
            "lag_ok": lag is not None and lag <= cfg.health.max_lag_hours}


# ---- outside the database ----------------------------------------------------------------------

def sqlserver_facts(cfg: Config) -> dict:
    """Reachability of the exits database (only when enabled): a connection, then closed."""
    if not cfg.sql_server.enabled:
        return {"enabled": False}
    from .sources import sqlserver
    try:
        sqlserver.connection_string(cfg)
    except sqlserver.SqlServerUnavailable as exc:
        return {"enabled": True, "ok": False, "config_error": True, "error": str(exc)}
    try:
        conn = sqlserver.connect(cfg)
    except sqlserver.SqlServerUnavailable as exc:
        return {"enabled": True, "ok": False, "config_error": False, "error": str(exc)}
    try:
        conn.close()
    except Exception:  # noqa: BLE001 - closing a probe connection cannot matter
        pass
    return {"enabled": True, "ok": True, "config_error": False, "error": None}


def _existing(path: Path) -> Path:
    p = path.resolve()
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def disk_facts(cfg: Config) -> list[dict] | None:
    """Free disk where the archive and the embedded database live; None without psutil."""
    try:
        import psutil
    except ImportError:
        return None
    places = [("archive", cfg.resolve(cfg.archival.archive_path))]
    if not cfg.database_url:
        places.append(("database", cfg.resolve(cfg.database.embedded_path)))
    out = []
    for what, path in places:
        try:
            free = psutil.disk_usage(str(_existing(path))).free // (1024 * 1024)
        except OSError as exc:
            out.append({"what": what, "path": str(path), "free_mb": None, "ok": False, "error": str(exc)})
            continue
        out.append({"what": what, "path": str(path), "free_mb": int(free),
                    "ok": free >= cfg.health.min_free_disk_mb})
    return out


# ---- the whole picture ---------------------------------------------------------------------------

def assess(facts: dict, cfg: Config) -> tuple[list[str], list[str], int]:
    """(problems, warnings, exit code) from the facts (pure)."""
    problems: list[str] = []
    warnings: list[str] = []
    config_errors = list(facts.get("config_errors") or [])
    db = facts["database"]
    if not db["ok"]:
        problems.append(f"database unreachable: {db['error']}")
    elif not facts.get("schema_ok", True):
        problems.append("schema missing (run --init-db): " + ", ".join(facts.get("schema_missing", [])))
    if facts.get("query_error"):
        problems.append(f"health query failed: {facts['query_error']}")
    failed = facts.get("failed_syncs_24h")
    if failed is not None and failed > cfg.health.max_failed_syncs_24h:
        problems.append(f"{failed} failed sync(s) in 24h (max {cfg.health.max_failed_syncs_24h})")
    for t in facts.get("tables") or []:
        if not t["enabled"]:
            continue
        name = t["target"]["name"]
        if t.get("error"):
            problems.append(f"{t['table']}: {t['error']}")
        else:
            if not t["source"]["exists"]:
                problems.append(f"source {t['source']['name']} missing")
            if not t["target"]["exists"]:
                problems.append(f"target {name} missing")
            if t["source"]["exists"] and t["target"]["exists"] and not t["counts_ok"]:
                problems.append(f"{name} lacks {t['missing_keys']} of {t['source_keys']} source keys")
        if t.get("extra_keys"):
            warnings.append(f"{name} has {t['extra_keys']} active key(s) no longer in the source "
                            "(a full run deactivates them)")
        if t["last_success_at"] is None:
            problems.append(f"{name} never synced")
        elif not t["lag_ok"]:
            problems.append(f"{name} lag {t['lag_hours']}h over {cfg.health.max_lag_hours:g}h")
    ss = facts.get("sql_server") or {}
    if ss.get("enabled") and not ss.get("ok"):
        (config_errors if ss.get("config_error") else warnings).append(f"SQL Server: {ss['error']}")
    for d in facts.get("disk") or []:
        if not d["ok"]:
            warnings.append(f"low disk for the {d['what']} ({d['path']}): "
                            + (f"{d['free_mb']} MB free, want {cfg.health.min_free_disk_mb} MB"
                               if d.get("free_mb") is not None else d.get("error", "unknown")))
    code = EXIT_CONFIG if config_errors else (EXIT_UNHEALTHY if problems else EXIT_HEALTHY)
    facts["config_errors"] = config_errors
    return problems, warnings, code


def gather_facts(cfg: Config | str | Path | None) -> dict:
    """Everything the health check knows, as one JSON-able dict (see the module docstring).

    ``cfg`` may be a loaded Config or a config path (None: the default file); a config that
    does not load gives ``exit_code`` 2 with the reason in ``config_errors``.
    """
    checked = datetime.now(timezone.utc)
    if not isinstance(cfg, Config):
        try:
            cfg = load_config(cfg)
        except ConfigError as exc:
            return {"checked_at": checked, "healthy": False, "status": "bad configuration", "exit_code": EXIT_CONFIG,
                    "config_errors": [str(exc)], "problems": [], "warnings": [],
                    "database": {"ok": False, "name": None, "error": "configuration not loaded"}}
    facts: dict[str, Any] = {
        "checked_at": checked,
        "thresholds": {"max_lag_hours": cfg.health.max_lag_hours,
                       "max_failed_syncs_24h": cfg.health.max_failed_syncs_24h,
                       "min_free_disk_mb": cfg.health.min_free_disk_mb},
        "archive_root": str(cfg.resolve(cfg.archival.archive_path)),
        "config_errors": [],
    }
    facts["database"], conn = _database(cfg)
    if conn is not None:
        try:
            _database_facts(conn, cfg, facts)
        except Exception as exc:  # a query failed midway (timeout, permissions): one line
            facts["query_error"] = _one_line(exc)
        finally:
            conn.close()
    facts["sql_server"] = sqlserver_facts(cfg)
    facts["disk"] = disk_facts(cfg)
    problems, warnings, code = assess(facts, cfg)
    facts.update(problems=problems, warnings=warnings, exit_code=code, healthy=code == EXIT_HEALTHY,
                 status={EXIT_HEALTHY: "healthy", EXIT_UNHEALTHY: "unhealthy", EXIT_CONFIG: "bad configuration"}[code])
    return facts


def _database(cfg: Config):
    from .stores import StoreError
    try:
        store, conn = connect(cfg)
    except StoreError as exc:
        return {"ok": False, "name": None, "error": " ".join(str(exc).split())}, None
    return {"ok": True, "name": store.name, "error": None}, conn


def _database_facts(conn, cfg: Config, facts: dict) -> None:
    now = _now(conn)
    facts["database"]["now"] = now
    missing = [t for t in SYSTEM_TABLES if not _exists(conn, t)]
    facts["schema_ok"] = not missing
    facts["schema_missing"] = missing
    if missing:
        return
    facts.update(failure_facts(conn))
    facts["last_run"] = last_run_facts(conn)
    states = read_states(conn)
    facts["tables"] = []
    for spec in TABLES.values():
        try:
            facts["tables"].append(table_facts(conn, cfg, spec, states.get(spec.target, {}), now))
        except Exception as exc:  # one table's query failing (timeout, permissions) spoils only its line
            facts["tables"].append(_failed_table(cfg, spec, states.get(spec.target, {}), now, _one_line(exc)))


def _failed_table(cfg: Config, spec: TableSpec, state: dict, now: datetime, error: str) -> dict:
    return {"table": spec.name, "enabled": cfg.table(spec.name).enabled, "error": error, "counts_ok": False,
            "source": {"name": spec.source, "exists": False, "rows": None, "error": error},
            "target": {"name": spec.target, "exists": False, "rows": None, "active_rows": None},
            **lag_facts(cfg, state, now)}


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# ---- rendering -----------------------------------------------------------------------------------

def _when(v: Any) -> str:
    if isinstance(v, datetime):
        return v.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return str(v)


def _extras(t: dict) -> str:
    bits = [f"{t[k]} {label}" for k, label in (("rejected_keys", "rejected"), ("pending_keys", "pending"),
                                               ("unkeyed_rows", "without key")) if t.get(k)]
    return f" ({', '.join(bits)})" if bits else ""


def render_block(facts: dict) -> str:
    """The old health block, line by line, plus the additions (pure)."""
    lines = ["=== System Health Check ==="]
    db = facts["database"]
    lines.append(f"Database Connection: {OK if db['ok'] else BAD}")
    if not db["ok"]:
        lines.append(f"  {db['error']}")
    elif not facts.get("schema_ok", True):
        lines.append(f"  schema missing: {', '.join(facts.get('schema_missing', []))} (run --init-db)")
    thr = facts.get("thresholds", {})
    if "failed_syncs_24h" in facts:
        n = facts["failed_syncs_24h"]
        over = n > thr.get("max_failed_syncs_24h", 0)
        lines.append(f"Failed Syncs (24h): {n}" + (f" {BAD} (max {thr.get('max_failed_syncs_24h', 0)})" if over else ""))
        for f in facts.get("failed_syncs", [])[:3]:
            lines.append(f"  {f['table']} at {_when(f['sync_timestamp'])}: {f['error'] or 'error'}")
        lines.append(f"Rejects (24h): {facts['rejects_24h']}")
    if facts.get("tables") is not None:
        lines.append("Table Row Counts:")
        for t in facts["tables"]:
            src, tgt = t["source"], t["target"]
            label = src["name"] + (f" (CSV {Path(src['path']).name})" if src.get("kind") == "csv" else "")
            if t.get("error"):
                lines.append(f"  {label}: {BAD} ({t['error']})")
                continue
            lines.append(f"  {label}: {src['rows']} {OK}" if src["exists"] else f"  {label}: missing {BAD}")
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
        lines.append("Sync Lag (hours):")
        for t in facts["tables"]:
            name = t["target"]["name"]
            if t["last_success_at"] is None:
                lines.append(f"  {name}: Never synced" + ("" if not t["enabled"] else f" {BAD}"))
            else:
                over = "" if t["lag_ok"] or not t["enabled"] else f" {BAD} (max {thr.get('max_lag_hours'):g}h)"
                lines.append(f"  {name}: {t['lag_hours']:.1f}h{over}")
    if "last_run" in facts:
        lr = facts["last_run"]
        if lr is None:
            lines.append("Last Run: none")
        else:
            lines.append(f"Last Run: {lr['run_id']} at {_when(lr['sync_timestamp'])}")
            lines.append("  archive: " + (", ".join(lr["archive_paths"]) if lr["archive_paths"]
                                          else "none (run without a notebook)"))
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


def to_json(facts: dict) -> str:
    """The facts as one JSON document (datetimes as ISO 8601)."""
    def default(v: Any) -> Any:
        if isinstance(v, datetime):
            return v.isoformat()
        if isinstance(v, (date, Path)):
            return str(v)
        return str(v)
    return json.dumps(facts, ensure_ascii=False, indent=2, default=default)


def run_health_check(cfg: Config | str | Path | None, as_json: bool = False, *, out: TextIO | None = None) -> int:
    """``--health-check``: print the block (or JSON) and return the exit code."""
    out = out or sys.stdout
    facts = gather_facts(cfg)
    print(to_json(facts) if as_json else render_block(facts), file=out)
    return facts["exit_code"]


# ---- for the health notebook ---------------------------------------------------------------------

_COUNTS = ["read", "inserted", "updated", "unchanged", "rejected", "deactivated"]


def lag_history(conn, days: int = 7) -> pd.DataFrame:
    """One row per table per run of the last ``days``: when, how it went, rows changed, lag.

    Columns: table, sync_timestamp, operation, run_id, mode, the six counts, rows_changed
    (inserted + updated + deactivated), duration_seconds, lag_hours (hours since the same
    table's previous successful sync; NaN for the first) and error.
    """
    rows = conn.execute(
        "SELECT table_name, sync_timestamp, operation, details FROM traficov2_sync_log "
        "WHERE sync_timestamp > now() - %s::interval AND operation IN ('SYNC', 'ERROR') "
        "ORDER BY table_name, sync_timestamp, id", (f"{int(days)} days",)).fetchall()
    recs = []
    for table, ts, op, d in rows:
        d = d or {}
        counts = d.get("counts") or {}
        rec = {"table": table, "sync_timestamp": ts, "operation": op, "run_id": d.get("run_id"),
               "mode": d.get("mode")}
        for c in _COUNTS:
            v = counts.get(c)
            rec[c] = float(v) if isinstance(v, (int, float)) else float("nan")
        rec["duration_seconds"] = d.get("duration_seconds")
        rec["error"] = d.get("error")
        recs.append(rec)
    cols = ["table", "sync_timestamp", "operation", "run_id", "mode", *_COUNTS, "rows_changed",
            "duration_seconds", "lag_hours", "error"]
    if not recs:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    df = pd.DataFrame(recs)
    df["sync_timestamp"] = pd.to_datetime(df["sync_timestamp"], utc=True)
    df["rows_changed"] = df[["inserted", "updated", "deactivated"]].sum(axis=1, min_count=1)
    df["duration_seconds"] = pd.to_numeric(df["duration_seconds"], errors="coerce")
    ok = df[df["operation"] == "SYNC"]
    prev = ok.groupby("table")["sync_timestamp"].shift(1)
    df["lag_hours"] = ((ok["sync_timestamp"] - prev).dt.total_seconds() / 3600).reindex(df.index)
    return df[cols].reset_index(drop=True)


def rejects_by_rule(conn, days: int = 7) -> pd.DataFrame:
    """Rejected rows of the last ``days`` per table and rule (a row counts once per rule it broke).

    Columns: table, rule, rows, distinct_keys, runs, last_seen; most rows first.
    """
    rows = conn.execute(
        "SELECT r.table_name, reason.value, count(*), count(DISTINCT r.sync_key), count(DISTINCT r.run_id), "
        "max(r.created_at) FROM traficov2_sync_rejects r "
        "CROSS JOIN LATERAL jsonb_array_elements_text(CASE jsonb_typeof(r.reasons) WHEN 'array' "
        "THEN r.reasons ELSE jsonb_build_array(r.reasons #>> '{}') END) AS reason(value) "
        "WHERE r.created_at > now() - %s::interval GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2",
        (f"{int(days)} days",)).fetchall()
    cols = ["table", "rule", "rows", "distinct_keys", "runs", "last_seen"]
    if not rows:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols})
    df = pd.DataFrame(rows, columns=cols)
    df["last_seen"] = pd.to_datetime(df["last_seen"], utc=True)
    return df
