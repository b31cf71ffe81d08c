"""What the health check reads, through Supabase's REST API: the
:class:`~trafico_lib.stores.base.HealthReader` of the REST store.

The same facts as the direct path's reader (``stores/pg/health.py``), in the same shapes:
rows are read in keyset pages (never cut by Supabase's 1,000-row cap), counts are asked with
``count=exact`` where no row is needed, the rest is grouped here. Ages are measured against
the database's clock (``traficov2_now()``), never this machine's. Only reads.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Iterable

import pandas as pd

from ..pg.health import FAILED_SYNCS_LISTED, LEASE_COLUMNS, lease_row
from .client import api_time
from .pages import pages



class RestHealthReader:
    def __init__(self, store):
        self.store, self.client = store, store.client

    def _call(self, request, what: str):
        return self.client.call(request, what=f"health check: {what}")

    def _rows(self, table: str, columns: list[str], *, key: str = "id", where=None, as_text=()) -> list[dict]:
        return [r for page in pages(self.client, table, columns, key=key, where=where, as_text=as_text,
                                    page_size=self.store.page_size, what=f"health check: reading {table}")
                for r in page]

    def _count(self, table: str, where=None) -> int:
        return self.store.count_rows(table, where, what=f"health check: counting {table}")

    # ---- the database and its schema ------------------------------------------------------

    def now(self) -> datetime:
        return api_time(self._call(lambda: self.client.rpc("traficov2_now", {}).execute().data, "the database clock"))

    def existing_tables(self, names: Iterable[str]) -> set[str]:
        return set(names) & set(self.store.tables())

    def columns(self, table: str) -> list[str]:
        return self.store.columns(table)

    def _since(self, **delta) -> str:
        return (self.now() - timedelta(**delta)).isoformat()

    # ---- the system tables ----------------------------------------------------------------

    def failed_syncs(self, hours: int) -> tuple[int, list[dict]]:
        since = self._since(hours=int(hours))

        def errors(q):
            return q.eq("operation", "ERROR").gt("sync_timestamp", since)
        n = self._count("traficov2_sync_log", errors)
        rows = self._call(lambda: errors(self.client.table("traficov2_sync_log")
                                         .select("table_name,sync_timestamp,details,id"))
                          .order("sync_timestamp", desc=True).order("id", desc=True)
                          .limit(FAILED_SYNCS_LISTED).execute().data, "reading failed syncs")
        return n, [{"table": r["table_name"], "sync_timestamp": api_time(r["sync_timestamp"]),
                    "run_id": _text((r["details"] or {}).get("run_id")),
                    "error": _text((r["details"] or {}).get("error"))} for r in rows]

    def rejects_per_table(self, hours: int) -> dict[str, int]:
        since = self._since(hours=int(hours))
        rows = self._rows("traficov2_sync_rejects", ["table_name"], where=lambda q: q.gt("created_at", since))
        return dict(sorted(Counter(r["table_name"] for r in rows).items()))

    def last_run(self) -> dict | None:
        newest = self._call(lambda: self.client.table("traficov2_sync_log").select("details,sync_timestamp,id")
                            .not_.is_("details->>run_id", "null").order("sync_timestamp", desc=True)
                            .order("id", desc=True).limit(1).execute().data, "reading the last run")
        if not newest:
            return None
        run_id = newest[0]["details"]["run_id"]
        rows = self._rows("traficov2_sync_log", ["table_name", "operation", "details"],
                          where=lambda q: q.eq("details->>run_id", run_id))
        return {"run_id": run_id, "sync_timestamp": api_time(newest[0]["sync_timestamp"]),
                "tables": [{"table": r["table_name"], "operation": r["operation"],
                            "notebook": _text((r["details"] or {}).get("notebook")),
                            "error": _text((r["details"] or {}).get("error"))} for r in rows]}

    def states(self) -> dict[str, dict]:
        rows = self._rows("traficov2_sync_state", ["table_name", "watermark", "last_success_at", "last_run_id"],
                          key="table_name")
        return {r["table_name"]: {"watermark": api_time(r["watermark"]), "last_success_at": api_time(r["last_success_at"]),
                                  "last_run_id": r["last_run_id"]} for r in rows}

    def leases(self) -> list[dict]:
        rows = self._rows("traficov2_sync_state", ["table_name", *LEASE_COLUMNS], key="table_name",
                          where=lambda q: q.not_.is_("lease_run_id", "null"))
        return [lease_row(r) for r in rows]

    def sync_log(self, days: int) -> list[tuple]:
        since = self._since(days=int(days))
        rows = self._rows("traficov2_sync_log", ["table_name", "sync_timestamp", "operation", "details"],
                          where=lambda q: q.gt("sync_timestamp", since).in_("operation", ["SYNC", "ERROR"]))
        rows.sort(key=lambda r: (r["table_name"], api_time(r["sync_timestamp"]), r["id"]))
        return [(r["table_name"], api_time(r["sync_timestamp"]), r["operation"], r["details"]) for r in rows]

    def rejects_by_rule(self, days: int) -> list[tuple]:
        since = self._since(days=int(days))
        rows = self._rows("traficov2_sync_rejects", ["table_name", "reasons", "sync_key", "run_id", "created_at"],
                          where=lambda q: q.gt("created_at", since))
        groups: dict[tuple, list[dict]] = defaultdict(list)
        for r in rows:
            reasons = r["reasons"]
            for reason in (reasons if isinstance(reasons, list) else [reasons]):
                groups[(r["table_name"], reason if isinstance(reason, str) else _text(reason))].append(r)
        out = [(t, rule, len(g), len({x["sync_key"] for x in g if x["sync_key"] is not None}),
                len({x["run_id"] for x in g}), max(api_time(x["created_at"]) for x in g)) for (t, rule), g in groups.items()]
        return sorted(out, key=lambda x: (-x[2], x[0], x[1] or ""))

    # ---- one table ------------------------------------------------------------------------

    def source_key_groups(self, table: str, columns: list[str], *, changed_column: str | None = None,
                          since: datetime | None = None) -> pd.DataFrame:
        wanted = [*columns, *([changed_column] if changed_column and since is not None else [])]
        rows = self._rows(table, wanted, as_text=columns)
        groups: dict[tuple, list] = {}
        for r in rows:
            key = tuple(r[c] for c in columns)
            pending = bool(changed_column and since is not None and r[changed_column] is not None
                           and api_time(r[changed_column]) > since)
            g = groups.setdefault(key, [False, 0])
            g[0] = g[0] or pending
            g[1] += 1
        return pd.DataFrame([[*k, p, n] for k, (p, n) in groups.items()], columns=[*columns, "pending", "n"],
                            dtype=object)

    def target_counts(self, table: str) -> tuple[int, int]:
        return self._count(table), self._count(table, lambda q: q.eq("activo", True))

    def active_keys(self, table: str, column: str) -> set:
        rows = self._rows(table, [column], where=lambda q: q.eq("activo", True).not_.is_(column, "null"))
        return {r[column] for r in rows}

    def rejected_keys(self, table: str) -> set[str]:
        rows = self._rows("traficov2_sync_rejects", ["sync_key"],
                          where=lambda q: q.eq("table_name", table).not_.is_("sync_key", "null"))
        return {r["sync_key"] for r in rows}


def _text(value):
    """A JSON value as ``details->>'x'`` gives it: text, or None."""
    if value is None or isinstance(value, str):
        return value
    import json
    return json.dumps(value, ensure_ascii=False)
