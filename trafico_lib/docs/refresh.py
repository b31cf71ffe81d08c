"""The Data Docs site rebuilt at the end of every sync and health run, so the morning report
is never older than the last run.

    refresh_docs(cfg, run_id=run_id, command="sync")   # the CLI's and the runner's sync / health

A report is not the run: whatever goes wrong here (a full disk, a database gone for the health
facts) is one warning line in the log, never an exception, and the run's exit code stays what
the run decided. Dry runs write nothing, so their callers do not call this.
"""
from __future__ import annotations

import logging
from pathlib import Path

from ..errors import one_line

log = logging.getLogger("trafico")


def refresh_docs(cfg, *, run_id: str | None = None, facts: dict | None = None,
                 command: str | None = None) -> Path | None:
    """Rebuild the site with the health facts (gathered here when not given); the index's path,
    or None when it could not be built (after logging one warning line)."""
    from .site import build_docs
    if facts is None:
        try:
            from ..health import gather_facts
            facts = gather_facts(cfg)
        except Exception as exc:  # noqa: BLE001 - the site is built without the health block
            log.warning("Data Docs: health facts not gathered: %s", one_line(exc, getattr(cfg, "secrets", ())))
            facts = None
    try:
        index = build_docs(cfg, facts=facts, run_id=run_id, command=command)
    except Exception as exc:  # noqa: BLE001 - a report that cannot be built must not fail the run
        log.warning("Data Docs not rebuilt: %s", one_line(exc, getattr(cfg, "secrets", ())))
        return None
    log.info("Data Docs: %s", cfg.shown(index))
    return index
