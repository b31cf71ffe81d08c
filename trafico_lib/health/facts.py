"""Gathering the health facts: from the store (through its health reader), the SQL Server
probe and the disk. Every fact is defined in the package docstring (``trafico_lib.health``);
the accounting of keys is pure (:func:`normalized_keys`, :func:`account`).
"""
from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .. import clock
from ..config import Config
from ..errors import one_line
from ..interactive import is_interactive
from ..tables import SYSTEM_TABLES, TABLES, TableSpec

MISSING_SAMPLE = 10
FAILURE_HOURS = 24
_SLOT_KEY = re.compile(r"^(.*)\|\d+$")
ACCOUNT_FIELDS = ("source_keys", "unkeyed_rows", "duplicate_rows", "synced_keys", "rejected_keys", "pending_keys",
                  "missing_keys", "missing_sample", "extra_keys")


# ---- the database ------------------------------------------------------------------------------

def database_facts(reader, cfg: Config, facts: dict) -> None:
    """The facts that need the database, added to ``facts`` (``reader``: a HealthReader)."""
    now = reader.now()
    facts["database"]["now"] = now
    present = reader.existing_tables(SYSTEM_TABLES)
    missing = [t for t in SYSTEM_TABLES if t not in present]
    facts["schema_ok"] = not missing
    facts["schema_missing"] = missing
    if missing:
        return
    facts.update(failure_facts(reader))
    facts["last_run"] = last_run_facts(reader, cfg)
    facts["last_archived"] = last_archived_facts(reader, cfg)
    facts["leases"] = lease_facts(reader.leases(), now)
    states = reader.states()
    facts["tables"] = []
    for spec in TABLES.values():
        state = states.get(spec.target, {})
        try:
            facts["tables"].append(table_facts(reader, cfg, spec, state, now))
        except Exception as exc:  # one table's query failing (timeout, permissions) spoils only its line
            facts["tables"].append(failed_table(cfg, spec, state, now, one_line(exc, cfg.secrets)))


def failure_facts(reader, *, hours: int = FAILURE_HOURS) -> dict:
    """ERROR rows and rejects of the last ``hours`` (database clock), in total and per table."""
    failed, listed = reader.failed_syncs(hours)
    rejects = reader.rejects_per_table(hours)
    return {"failed_syncs_24h": failed, "failed_syncs": listed,
            "rejects_24h": int(sum(rejects.values())), "rejects_24h_by_table": rejects}


def lease_facts(leases: list[dict], now: datetime) -> list[dict]:
    """The tables a REST run holds (pure): table (short name), target, run_id, holder, since
    (taken_at), renewed_at, renewed_seconds_ago (database clock), expires_at, and ``stale``:
    past its expiry, which a live run never lets happen (it renews its lease while it works),
    so its run is gone and the next run takes the table over."""
    names = {spec.target: spec.name for spec in TABLES.values()}
    return [{"table": names.get(x["target"], x["target"]), "target": x["target"], "run_id": x["run_id"],
             "holder": x["holder"], "since": x["taken_at"], "renewed_at": x["renewed_at"],
             "renewed_seconds_ago": None if x["renewed_at"] is None else round((now - x["renewed_at"]).total_seconds()),
             "expires_at": x["expires_at"], "stale": x["expires_at"] is None or x["expires_at"] <= now}
            for x in leases]


def rendering(cfg: Config, notebook: str | None) -> str | None:
    """An archived notebook as people should open it: its HTML rendering when there is one,
    else the ``.ipynb``; relative to the configuration's folder (:meth:`Config.shown`)."""
    if not notebook or is_interactive(notebook):  # run by hand in JupyterLab: nothing archived
        return None
    html = cfg.resolve(notebook).with_suffix(".html")
    return cfg.shown(html if html.is_file() else notebook)


def last_run_facts(reader, cfg: Config) -> dict | None:
    """The latest run in the log: its id, time, tables with status and archived notebooks
    (``notebook`` as logged, ``archive_paths`` the renderings to open: see :func:`rendering`),
    and ``interactive``: the notebooks of it run by hand in JupyterLab (not archived), as logged."""
    run = reader.last_run()
    if run is None:
        return None
    tables = [{**t, "rendering": rendering(cfg, t["notebook"])} for t in run["tables"]]
    archive = list(dict.fromkeys(t["rendering"] for t in tables if t["rendering"]))
    interactive = list(dict.fromkeys(t["notebook"] for t in tables if is_interactive(t["notebook"])))
    return {**run, "tables": tables, "archive_paths": archive, "interactive": interactive}


def last_archived_facts(reader, cfg: Config) -> dict | None:
    """When the last change was archived: the newest run whose notebook the archive keeps (a run
    that changed, rejected or failed something; one that changed nothing is its log row), its id,
    time and ``archive_paths`` (the renderings to open, :func:`rendering`); None when none yet."""
    run = reader.last_archived()
    if run is None:
        return None
    tables = [{**t, "rendering": rendering(cfg, t["notebook"])} for t in run["tables"]]
    return {**run, "tables": tables,
            "archive_paths": list(dict.fromkeys(t["rendering"] for t in tables if t["rendering"]))}


# ---- keys: the "accounts for every source row" comparison ---------------------------------------

def key_parts(spec: TableSpec, cfg: Config) -> tuple[list[str], list[str]]:
    """(required, optional) key columns the comparison uses: a slot table compares its groups."""
    from ..engine.stage import key_columns
    if spec.slots is not None:
        return list(spec.account_key), []
    return key_columns(spec, cfg.table(spec.name).key)


def compared_on(spec: TableSpec, cfg: Config) -> str:
    """What the comparison counts, in words: ``distinct bookings``, ``distinct Operacion + Contenedor``."""
    if spec.slots is not None:
        return f"distinct {spec.slots.group.lower()}s"
    required, optional = key_parts(spec, cfg)
    return "distinct " + " + ".join(required + optional)


def normalized_keys(frame: pd.DataFrame, spec: TableSpec, cfg: Config, run_date: date | None = None) -> pd.Series:
    """The business key of each raw source row as the pipeline builds it (None: no key); pure."""
    from ..engine.stage import build_sync_key
    from ..normalize import normalize_column
    required, optional = key_parts(spec, cfg)
    run_date = run_date or clock.today()  # the sync's run date: the display zone's (clock.py)
    typed = pd.DataFrame(index=frame.index)
    for c in required + optional:
        raw = frame[c] if c in frame.columns else pd.Series([None] * len(frame), index=frame.index, dtype=object)
        typed[c] = normalize_column(raw, c, spec.type_of(c), run_date)[0]
    if spec.slots is not None:
        group = typed[spec.slots.group]
        return group.astype(object).where(group.notna(), None)
    return build_sync_key(typed, spec, cfg.table(spec.name).key)


def slot_groups(spec: TableSpec, keys: set) -> set:
    """Reject keys as the comparison counts them: a slot's ``group|sequence`` is its group (pure)."""
    if spec.slots is None:
        return keys
    return {(m.group(1) if (m := _SLOT_KEY.match(k)) else k) for k in keys}


def account(source: pd.DataFrame, target_keys: set, rejected_keys: set) -> dict:
    """Compare source keys with the target (pure).

    ``source`` has columns ``key`` (None for unkeyed rows), ``pending`` (bool) and
    optionally ``n`` (how many source rows the line stands for, default 1). Returns the
    counts shown by the check and a sample of the missing keys.
    """
    n = source["n"] if "n" in source.columns else pd.Series(1, index=source.index)
    has_key = source["key"].notna()
    keyed = source[has_key]
    keys = set(keyed["key"])
    pending = set(keyed.loc[keyed["pending"].astype(bool), "key"])
    synced = keys & target_keys
    rejected = (keys & rejected_keys) - synced
    waiting = (pending - synced) - rejected
    missing = sorted(keys - synced - rejected - waiting)
    return {
        "source_keys": len(keys), "unkeyed_rows": int(n[~has_key].sum()),
        # keyed rows beyond one per key: merged into their key's one target row (rows = keys + these + unkeyed)
        "duplicate_rows": int(n[has_key].sum()) - len(keys),
        "synced_keys": len(synced), "rejected_keys": len(rejected), "pending_keys": len(waiting),
        "missing_keys": len(missing), "missing_sample": missing[:MISSING_SAMPLE],
        "extra_keys": len(target_keys - keys),
    }


def keyed_source(frame: pd.DataFrame, spec: TableSpec, cfg: Config, run_date: date) -> pd.DataFrame:
    """The raw key groups as :func:`account` takes them: ``key``, ``pending``, ``n`` (pure)."""
    if not len(frame):
        return pd.DataFrame({"key": pd.Series([], dtype=object), "pending": pd.Series([], dtype=bool),
                             "n": pd.Series([], dtype="int64")})
    return pd.DataFrame({"key": normalized_keys(frame, spec, cfg, run_date),
                         "pending": frame["pending"].astype(bool), "n": frame["n"].astype("int64")})


# ---- one table ----------------------------------------------------------------------------------

def source_facts(reader, cfg: Config, spec: TableSpec, watermark: datetime | None) -> tuple[pd.DataFrame, dict]:
    """Raw key columns of the source plus ``pending`` and ``n``, and facts about the source."""
    settings = cfg.table(spec.name)
    required, optional = key_parts(spec, cfg)
    wanted = required + optional
    if settings.source == "csv":
        from ..sources.csv import CsvError, read_table_csv
        info: dict[str, Any] = {"kind": "csv", "name": spec.source, "path": str(cfg.csv_path(spec.csv_file_key))}
        try:
            frame = read_table_csv(cfg, spec)
        except CsvError as exc:
            return pd.DataFrame(), {**info, "exists": False, "rows": None, "error": str(exc)}
        frame = frame[[c for c in wanted if c in frame.columns]].copy()
        frame["pending"] = False
        frame["n"] = 1
        return frame, {**info, "exists": True, "rows": len(frame)}
    from ..engine.extract import SourceMissing, detect_updated_column
    info = {"kind": "database", "name": spec.source}
    cols = reader.columns(spec.source)
    if not cols:
        return pd.DataFrame(), {**info, "exists": False, "rows": None, "error": "table does not exist"}
    try:
        upd = detect_updated_column(cols, settings.updated_column)
    except SourceMissing as exc:
        upd, info["error"] = None, str(exc)
    # one line per distinct raw key: the database collapses the duplicates, Python normalizes
    groups = reader.source_key_groups(spec.source, [c for c in wanted if c in cols], changed_column=upd,
                                      since=watermark)
    frame = groups.reindex(columns=[*wanted, "pending", "n"]).astype(object)
    frame = frame.where(frame.notna(), None)
    return frame, {**info, "exists": True, "rows": int(frame["n"].sum()) if len(frame) else 0,
                   "updated_column": upd}


def target_facts(reader, spec: TableSpec, exists: bool) -> tuple[set, dict]:
    """Active keys of the target (its slot groups for a slot table) and its row counts."""
    if not exists:
        return set(), {"name": spec.target, "exists": False, "rows": None, "active_rows": None}
    total, active = reader.target_counts(spec.target)
    keys = reader.active_keys(spec.target, spec.slots.group if spec.slots is not None else "sync_key")
    return keys, {"name": spec.target, "exists": True, "rows": total, "active_rows": active}


def table_facts(reader, cfg: Config, spec: TableSpec, state: dict, now: datetime) -> dict:
    """Counts, key comparison and lag of one table."""
    out: dict[str, Any] = {"table": spec.name, "enabled": cfg.table(spec.name).enabled,
                           "compared_on": compared_on(spec, cfg)}
    frame, src = source_facts(reader, cfg, spec, state.get("watermark"))
    target_keys, tgt = target_facts(reader, spec, bool(reader.existing_tables([spec.target])))
    out["source"], out["target"] = src, tgt
    out["counts_ok"] = False
    out.update(dict.fromkeys(ACCOUNT_FIELDS))
    if src["exists"] and tgt["exists"]:
        acc = account(keyed_source(frame, spec, cfg, clock.local(now).date()), target_keys,
                      slot_groups(spec, reader.rejected_keys(spec.target)))
        out.update(acc)
        out["counts_ok"] = acc["missing_keys"] == 0
    out.update(lag_facts(cfg, state, now))
    if tgt["exists"]:
        try:
            out["state"] = table_state(reader, spec, cfg)
        except Exception as exc:  # an older schema (no step 015), a broken suite: the counts above still stand
            out["state"], out["state_error"] = None, one_line(exc, cfg.secrets)
    return out


# ---- the table's current validation state ---------------------------------------------------------

def state_keys(spec: TableSpec, cfg: Config | None = None) -> list[str]:
    """The columns a failing row is listed by: the business key (a slot table's with its slot)."""
    from ..engine.stage import key_columns
    required, optional = key_columns(spec, cfg.table(spec.name).key if cfg is not None else None)
    slot = [spec.slots.sequence] if spec.slots is not None else []
    return list(dict.fromkeys([*required, *optional, *slot]))


def _rule_columns(spec: TableSpec, rules: list[dict]) -> dict[str, str]:
    """rule -> the column whose value a failing row lists: the suite's, and the columns'
    ``required_``/``parseable_``/``readable_`` rules named by convention."""
    from ..rules.suites import parseable_rule, readable_rule, required_rule
    out = {f(c): c for c in spec.column_names for f in (required_rule, parseable_rule, readable_rule)}
    out.update({r["rule"]: r["column"] for r in rules if r.get("column")})
    return out


def _row_line(v: Any) -> Any:
    """A reject's line (``_row``, stored as text) as the validation step lists it: a number."""
    return int(v) if isinstance(v, str) and v.isdigit() else v


def _other_severity(rule: str, spec: TableSpec, cfg: Config | None, keys: list[str]) -> str:
    """The severity of a stored rule the suite does not declare: normalization's and the limits'
    (rules/validate.py): unreadable bytes, an unparseable key or quantity, a limit: blocking."""
    from ..rules.suites import BLOCKING, WARNING, rule_severity
    column = rule.removeprefix("parseable_") if rule.startswith("parseable_") else None
    quantity = spec.slots.quantity if spec.slots is not None else None
    if rule.startswith("readable_") or (column is not None and column in [*keys, quantity]):
        default = BLOCKING
    elif column is not None:
        default = WARNING
    else:
        default = BLOCKING  # the limits (key_too_long, quantity_*) are always blocking
    return rule_severity(rule, default, cfg)


def state_of(raw: dict, rules: list[dict], listed: int) -> dict:
    """A reader's :meth:`table_state` answer in the shape the views show (pure): ``rules`` (the
    suite's, then the stored rules it does not declare, each with ``severity`` and ``column``)
    each with ``failed`` = ``in_target`` (active rows tagged) + ``rejected`` (current rejects
    that broke it) and its first ``listed`` failing rows (target rows first)."""
    in_target, rejected = raw.get("in_target") or {}, raw.get("rejected") or {}
    out_rules = []
    for r in rules:
        t, x = in_target.get(r["rule"]) or {}, rejected.get(r["rule"]) or {}
        failing = [{"row": None, "key": f.get("key") or {}, "value": f.get("value")} for f in t.get("failing_rows", [])]
        failing += [{"row": _row_line(f.get("row")), "key": f.get("key") or {}, "value": f.get("value")}
                    for f in x.get("failing_rows", [])]
        n_t, n_x = int(t.get("failed", 0)), int(x.get("failed", 0))
        out_rules.append({"rule": r["rule"], "severity": r["severity"], "column": r.get("column"),
                          "failed": n_t + n_x, "in_target": n_t, "rejected": n_x, "failing_rows": failing[:listed]})
    return {"rows": int(raw["rows"]), "warned_rows": int(raw["warned_rows"]), "rejected_rows": int(raw["rejected_rows"]),
            "as_of": raw["as_of"], "read_whole_run_id": raw.get("read_whole_run_id"),
            "read_whole_at": raw.get("read_whole_at"), "rules": out_rules}


def table_state(reader, spec: TableSpec, cfg: Config | None = None, *, listed: int | None = None) -> dict:
    """The table's current validation state, counted in the database whatever the last run
    re-read (``reader``: a store's health reader; the package docstring defines each number)::

        {"rows": 156, "warned_rows": 114, "rejected_rows": 1, "as_of": datetime,
         "rules": [{"rule": "required_Booking", "severity": "warning", "column": "Booking",
                    "failed": 114, "in_target": 114, "rejected": 0,
                    "failing_rows": [{"row": None, "key": {"Contenedor": "ANDU1388619"}, "value": None}, ...]},
                   ...]}

    ``rules``: every rule of the table's suite (the configuration's business rules applied),
    ``failed`` 0 for the clean ones, then any rule the stored rows carry that the suite does not
    declare (``parseable_<column>``, ``readable_<column>``, the limits)."""
    from ..rules.suites import load_suite, suite_rules
    from ..stores.sql.health import STATE_LISTED
    listed = STATE_LISTED if listed is None else listed
    keys = state_keys(spec, cfg)
    rules = [{"rule": r["rule"], "severity": r["severity"], "column": r["column"]}
             for r in suite_rules(load_suite(spec.name, cfg))]
    columns = _rule_columns(spec, rules)
    raw = reader.table_state(spec.target, keys, columns, listed)
    declared = {r["rule"] for r in rules}
    stored = sorted((set(raw.get("in_target") or {}) | set(raw.get("rejected") or {})) - declared)
    for rule in stored:
        severity = "warning" if rule in (raw.get("in_target") or {}) else _other_severity(rule, spec, cfg, keys)
        rules.append({"rule": rule, "severity": severity, "column": columns.get(rule)})
    return state_of(raw, rules, listed)


def lag_facts(cfg: Config, state: dict, now: datetime) -> dict:
    """Hours since the last successful sync (or since a running watch last found the source
    unchanged after it, ``checked_at``), and whether that is within the threshold (pure).

    A watermark ahead of the database clock (``now``, past ``FUTURE_SKEW``) makes every
    incremental read by change time read nothing: the lag is then unknown (None), not the
    hours since a run that read nothing, and not within the threshold."""
    from ..engine.extract import FUTURE_SKEW
    last, wm = state.get("last_success_at"), state.get("watermark")
    ahead = wm is not None and wm > now + FUTURE_SKEW
    # a running watch found the source unchanged since that success (``checked_at``, step 017)
    checked = state.get("checked_at")
    since = max(last, checked) if last is not None and checked is not None else last
    lag = None if since is None or ahead else round((now - since).total_seconds() / 3600, 2)
    return {"last_success_at": last, "last_run_id": state.get("last_run_id"), "lag_hours": lag,
            "watermark": wm, "watermark_ahead": ahead,
            "lag_ok": lag is not None and lag <= cfg.health.max_lag_hours}


def failed_table(cfg: Config, spec: TableSpec, state: dict, now: datetime, error: str) -> dict:
    """The line of a table whose queries failed: the error, and the lag from the state (pure)."""
    return {"table": spec.name, "enabled": cfg.table(spec.name).enabled, "error": error, "counts_ok": False,
            "source": {"name": spec.source, "exists": False, "rows": None, "error": error},
            "target": {"name": spec.target, "exists": False, "rows": None, "active_rows": None},
            **lag_facts(cfg, state, now)}


# ---- outside the database ----------------------------------------------------------------------

def sqlserver_facts(cfg: Config) -> dict:
    """Reachability of the exits database (only when enabled): a connection, then closed."""
    if not cfg.sql_server.enabled:
        return {"enabled": False}
    from ..sources import sqlserver
    try:
        sqlserver.connection_string(cfg)
    except sqlserver.SqlServerUnavailable as exc:  # no driver installed: the machine's, not the config's
        return {"enabled": True, "ok": False, "config_error": not isinstance(exc, sqlserver.NoDriver),
                "error": str(exc)}
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
    places = [("archive", cfg.resolve(cfg.audit_archive.path))]
    if not cfg.database_url:
        places.append(("database", cfg.resolve(cfg.database.embedded_path)))
    out: list[dict[str, Any]] = []
    for what, path in places:
        try:
            free = psutil.disk_usage(str(_existing(path))).free // (1024 * 1024)
        except OSError as exc:
            out.append({"what": what, "path": cfg.shown(path), "free_mb": None, "ok": False, "error": str(exc)})
            continue
        out.append({"what": what, "path": cfg.shown(path), "free_mb": int(free),
                    "ok": free >= cfg.health.min_free_disk_mb})
    return out
