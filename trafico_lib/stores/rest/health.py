"""What the health check reads, through Supabase's REST API: the
:class:`~trafico_lib.stores.base.HealthReader` of the REST store.

The same facts as the direct path's reader, in the same shapes, by the same statements: each
aggregate is a function (``traficov2_health_*``, schema step 014) whose body is the statement
the direct path runs (``stores/sql/health.py``), answering with one JSON array, so
Supabase's 1,000-row cap never cuts it. Ages are measured against the database's clock
(``traficov2_now()``), never this machine's. Only reads.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd

from ..sql import health as h
from .client import api_time


class RestHealthReader:
    def __init__(self, store):
        self.store, self.client = store, store.client

    def _rpc(self, name: str, params: dict[str, Any], what: str) -> Any:
        return self.client.call_rpc(name, params, what=f"health check: {what}")

    def _rows(self, what: str, what_for: str, **params) -> list[dict]:
        """The rows of the health function ``what`` (its parameters ``p_<name>``)."""
        return self._rpc(h.function_name(what), {f"p_{k}": v for k, v in params.items()}, what_for) or []

    # ---- the database and its schema ------------------------------------------------------

    def now(self) -> datetime:
        return api_time(self._rpc("traficov2_now", {}, "the database clock"))

    def existing_tables(self, names: Iterable[str]) -> set[str]:
        return set(names) & set(self.store.tables())

    def columns(self, table: str) -> list[str]:
        return self.store.columns(table)

    # ---- the system tables ----------------------------------------------------------------

    def failed_syncs(self, hours: int) -> tuple[int, list[dict]]:
        return h.failed_syncs(self._rows("failed_syncs", "reading failed syncs", hours=int(hours),
                                         listed=h.FAILED_SYNCS_LISTED), api_time)

    def rejects_per_table(self, hours: int) -> dict[str, int]:
        return h.rejects_per_table(self._rows("rejects_per_table", "counting rejects", hours=int(hours)))

    def last_run(self) -> dict | None:
        return h.last_run(self._rows("last_run", "reading the last run"), api_time)

    def last_archived(self) -> dict | None:
        return h.last_archived(self._rows("last_archived", "reading the last archived run"), api_time)

    def states(self) -> dict[str, dict]:
        return h.states(self._rows("states", "reading traficov2_sync_state"), api_time)

    def leases(self) -> list[dict]:
        return [h.lease_row(r["state"]) for r in self._rows("leases", "reading the leases")]

    def sync_log(self, days: int) -> list[tuple]:
        return h.sync_log(self._rows("sync_log", "reading traficov2_sync_log", days=int(days)), api_time)

    def rejects_by_rule(self, days: int) -> list[tuple]:
        return h.rejects_by_rule(self._rows("rejects_by_rule", "counting rejects by rule", days=int(days)), api_time)

    # ---- one table ------------------------------------------------------------------------

    def source_key_groups(self, table: str, columns: list[str], *, changed_column: str | None = None,
                          since: datetime | None = None) -> pd.DataFrame:
        both = bool(changed_column) and since is not None
        rows = self._rows("source_key_groups", f"reading {table}'s keys", table=table, columns=list(columns),
                          changed_column=changed_column if both else None,
                          since=since.isoformat() if both and since is not None else None)
        return h.key_groups(rows, columns)

    def target_counts(self, table: str) -> tuple[int, int]:
        row = self._rows("target_counts", f"counting {table}", table=table)[0]
        return int(row["total"]), int(row["active"])

    def active_keys(self, table: str, column: str) -> set:
        return {r["key"] for r in self._rows("active_keys", f"reading {table}'s keys", table=table, column=column)}

    def rejected_keys(self, table: str) -> set[str]:
        return {r["sync_key"] for r in self._rows("rejected_keys", f"reading {table}'s rejected keys",
                                                  table_name=table)}

    def table_state(self, table: str, keys: list[str], columns: dict[str, str], listed: int = h.STATE_LISTED) -> dict:
        row = self._rows("table_state", f"reading {table}'s current state", table=table, keys=list(keys),
                         columns=columns, listed=int(listed))[0]
        return h.state_answer(row["state"], api_time)
