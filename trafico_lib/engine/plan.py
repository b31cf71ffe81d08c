"""What a merge would do and what it did: store-agnostic results of plan and apply.

Every store computes these inside its database (the merge rule lives in SQL, once per
store kind); the pipeline, the notebooks and the command line only read them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import pandas as pd

from ..counts import plural


@dataclass
class Plan:
    """What a run would write (shown by notebooks; the dry-run's whole output)."""
    table: str
    inserts: pd.DataFrame
    updates: pd.DataFrame          # sync_key, field, old, new
    deactivations: pd.DataFrame    # sync_key
    unchanged: int
    counts: dict = field(default_factory=dict)
    adopted: pd.DataFrame | None = None  # id, sync_key, adopted: the old rows the plan's adoption keyed or deactivated

    def summary(self) -> str:
        c = self.counts
        changes = len(self.updates)
        return (f"{self.table}: {c.get('inserted', 0)} to insert, {c.get('updated', 0)} to update "
                f"({plural(changes, 'field change')}), {c.get('unchanged', 0)} unchanged, "
                f"{c.get('deactivated', 0)} to deactivate")


# Rows a plan lists per kind (its counts are always exact), on either store.
PLAN_ROWS = 1000


@dataclass
class MergeOutcome:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    rejects: list[dict] = field(default_factory=list)  # {sync_key, reasons, raw_row}
    batches: int = 0
    left: int = 0                         # rows the desk edited while the merge wrote: left for the next run
    left_since: datetime | None = None    # the earliest source change time among them
    run_seconds: float | None = None      # as the run's log row records them: from the run's start,
    write_seconds: float | None = None    # and the writes under the table's lock, to the log row
    recorded: dict[str, int] | None = None  # rejects and duplicates recorded now (not only marked seen again)

    def leave(self, rows: int, since: datetime | None) -> None:
        """``rows`` more were left alone (the desk edited them meanwhile), the earliest having
        changed in the source at ``since``."""
        self.left += rows
        if since is not None and (self.left_since is None or since < self.left_since):
            self.left_since = since


def rejects_json(rejects: list[dict]) -> list[tuple]:
    """(sync_key or None, reasons JSON, raw row JSON) per reject, ready for the rejects table."""
    return [(r["sync_key"] if isinstance(r.get("sync_key"), str) and r["sync_key"] else None,
             json.dumps(r["reasons"], ensure_ascii=False),
             json.dumps(r["raw_row"], ensure_ascii=False, default=str)) for r in rejects]

