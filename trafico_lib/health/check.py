"""The whole check: gather the facts, add the verdict, print the block or JSON (``--health-check``)."""
from __future__ import annotations

import sys
from datetime import datetime, UTC
from pathlib import Path
from typing import Any, TextIO

from ..config import Config, load_config
from ..errors import ConfigError, SchemaMissing, StoreUnavailable, one_line
from .assess import EXIT_CONFIG, verdict
from .facts import database_facts, disk_facts, sqlserver_facts
from .render import render_block, to_json


def gather_facts(cfg: Config | str | Path | None) -> dict:
    """Everything the health check knows, as one JSON-able dict (see the package docstring).

    ``cfg`` may be a loaded Config or a config path (None: the default file); a config that
    does not load gives ``exit_code`` 2 with the reason in ``config_errors``.
    """
    checked = datetime.now(UTC)
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
        "archive_root": cfg.shown(cfg.resolve(cfg.audit_archive.path)),
        "config_errors": [],
    }
    _from_the_store(cfg, facts)
    facts["sql_server"] = sqlserver_facts(cfg)
    facts["disk"] = disk_facts(cfg)
    facts.update(verdict(facts, cfg))
    return facts


def _from_the_store(cfg: Config, facts: dict) -> None:
    """``database`` (reachable or why not) and, when reachable, the facts read through the store."""
    from ..stores import open_store
    store = None
    try:
        store = open_store(cfg)
        with store.health_reader() as reader:
            facts["database"] = {"ok": True, "name": store.name, "error": None}
            try:
                database_facts(reader, cfg, facts)
            except Exception as exc:  # a query failed midway (timeout, permissions): one line
                facts["query_error"] = one_line(exc, cfg.secrets)
    except StoreUnavailable as exc:  # either store unreachable, or the embedded server cannot start: one line
        facts["database"] = {"ok": False, "name": None, "error": " ".join(str(exc).split())}
    except SchemaMissing as exc:  # reachable (a Supabase project checks its schema first): what to run, in the block
        facts["database"] = {"ok": True, "name": store.name if store is not None else None, "error": None}
        facts.update(schema_ok=False, schema_missing=[], schema_error=one_line(exc, cfg.secrets))


def run_health_check(cfg: Config | str | Path | None, as_json: bool = False, *, out: TextIO | None = None) -> int:
    """``--health-check``: print the block (or JSON) and return the exit code."""
    out = out or sys.stdout
    facts = gather_facts(cfg)
    print(to_json(facts) if as_json else render_block(facts), file=out)
    return facts["exit_code"]
