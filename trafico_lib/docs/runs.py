"""What each table's last run did, as its log row says (``traficov2_sync_log``): the index's
"Last run … : re-read N, inserted …" line.

    logged = logged_counts(cfg, [("arribos", "20261206T100613-051b2c", saved_at), ...])
    logged[("arribos", "20261206T100613-051b2c")]   # {"read": 3, "inserted": 0, "updated": 2, ...}

Read through the store's health reader (both stores, the same statement), only when the health
facts say the database is reachable; whatever goes wrong is an empty answer (the index then says
the counts are not known), never an exception: a report must not fail a run.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Iterable
from datetime import UTC, datetime

from ..errors import one_line
from ..tables import get_table

log = logging.getLogger("trafico")

MAX_DAYS = 400  # a table whose last run is older than this shows no counts (the log is pruned anyway)


def days_back(saved: Iterable[str], now: datetime) -> int:
    """How many days of the log cover every ``saved`` time (ISO text), at least 1 (pure)."""
    oldest = now
    for text in saved:
        try:
            oldest = min(oldest, datetime.fromisoformat(str(text)).astimezone(UTC))
        except (TypeError, ValueError):
            continue
    return max(1, min(MAX_DAYS, math.ceil((now - oldest).total_seconds() / 86400) + 1))


def counts_by_run(rows: Iterable[tuple]) -> dict[tuple[str, str], dict]:
    """Log rows (target, time, operation, details) as {(table, run_id): counts + operation} (pure);
    the last row of a run wins."""
    names = {}
    out: dict[tuple[str, str], dict] = {}
    for target, _ts, op, details in rows:
        d = details or {}
        if not d.get("run_id"):
            continue
        if target not in names:
            try:
                names[target] = get_table(target).name
            except KeyError:
                names[target] = target
        out[(names[target], str(d["run_id"]))] = {**(d.get("counts") or {}), "operation": op,
                                                  "mode": d.get("mode"), "error": d.get("error")}
    return out


def logged_counts(cfg, wanted: list[tuple[str, str, str]]) -> dict[tuple[str, str], dict]:
    """The log's counts of the (table, run_id, saved_at) asked for; {} when not readable."""
    if not wanted:
        return {}
    try:
        from ..stores import open_store
        store = open_store(cfg)
        with store.health_reader() as reader:
            rows = reader.sync_log(days_back((w[2] for w in wanted), datetime.now(UTC)))
    except Exception as exc:  # noqa: BLE001 - the index then says the counts are unknown
        log.warning("Data Docs: the last runs' counts not read: %s", one_line(exc, getattr(cfg, "secrets", ())))
        return {}
    found = counts_by_run(rows)
    return {(t, r): found[(t, r)] for t, r, _ in wanted if (t, r) in found}
