"""The verdict (pure): problems, warnings and the exit code, from the facts alone."""
from __future__ import annotations

from ..config import Config
from .render import when_text

EXIT_HEALTHY, EXIT_UNHEALTHY, EXIT_CONFIG = 0, 1, 2
STATUS = {EXIT_HEALTHY: "healthy", EXIT_UNHEALTHY: "unhealthy", EXIT_CONFIG: "bad configuration"}


def assess(facts: dict, cfg: Config) -> tuple[list[str], list[str], int]:
    """(problems, warnings, exit code) from the facts; SQL Server configuration errors join
    ``facts["config_errors"]``."""
    problems: list[str] = []
    warnings: list[str] = []
    config_errors = list(facts.get("config_errors") or [])
    db = facts["database"]
    if not db["ok"]:
        problems.append(f"database unreachable: {db['error']}")
    elif facts.get("schema_error"):
        problems.append(facts["schema_error"])
    elif not facts.get("schema_ok", True):
        problems.append("schema missing (run --init-db): " + ", ".join(facts.get("schema_missing", [])))
    if facts.get("query_error"):
        problems.append(f"health query failed: {facts['query_error']}")
    failed = facts.get("failed_syncs_24h")
    if failed is not None and failed > cfg.health.max_failed_syncs_24h:
        problems.append(f"{failed} failed sync(s) in 24h (max {cfg.health.max_failed_syncs_24h})")
    for t in facts.get("tables") or []:
        table_problems, table_warnings = assess_table(t, cfg)
        problems += table_problems
        warnings += table_warnings
    for x in facts.get("leases") or []:
        if x["stale"]:
            warnings.append(f"{x['target']}: the lease of run {x['run_id']} ({x['holder']}) is stale (no longer "
                            "renewed): that run died; the next run takes the table over")
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


def assess_table(t: dict, cfg: Config) -> tuple[list[str], list[str]]:
    """(problems, warnings) of one table's line; a disabled table has none."""
    problems: list[str] = []
    warnings: list[str] = []
    if not t["enabled"]:
        return problems, warnings
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
    elif t.get("watermark_ahead"):
        problems.append(f"{name} watermark {when_text(t['watermark'])} is ahead of the database clock: incremental "
                        "runs read nothing newer (its next run sets it back)")
    elif not t["lag_ok"]:
        problems.append(f"{name} lag {t['lag_hours']}h over {cfg.health.max_lag_hours:g}h")
    return problems, warnings


def verdict(facts: dict, cfg: Config) -> dict:
    """The facts' verdict as the keys the check adds: problems, warnings, exit_code, healthy, status."""
    problems, warnings, code = assess(facts, cfg)
    return {"problems": problems, "warnings": warnings, "exit_code": code, "healthy": code == EXIT_HEALTHY,
            "status": STATUS[code]}
