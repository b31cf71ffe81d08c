"""A source's probe: what a run needs to know, before it pays for reading, to tell that the
source table has not changed since the table's last run (docs/architecture.md §5).

Three numbers computed inside the database over every row of the source, none of the rows sent
(``stores/sql/probe.py``; over REST the schema's function rendered from the same statement):
how many rows, the newest change time (when the source has a change-time column), and an
order-free hash aggregate of every row's text, so an insert, an update or a delete each change
it. Equal probes: the source holds the same rows as when the first was taken. A source the
database cannot probe (a CSV file, SQL Server) has none: such a table always runs.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True)
class SourceProbe:
    rows: int                      # the source's row count
    changed_max: datetime | None   # its newest change time (None: no change-time column, or no rows)
    digest: str                    # the sum of every row's 64-bit text hash (decimal text)

    def to_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "changed_max": self.changed_max.isoformat() if self.changed_max else None,
                "digest": self.digest}

    @classmethod
    def from_values(cls, rows: Any, changed_max: Any, digest: Any) -> SourceProbe:
        """From the statement's three values as a store reads them (a time as a datetime or its
        ISO text, as the REST API sends it), in UTC: equal probes compare equal whatever the store."""
        when = datetime.fromisoformat(changed_max) if isinstance(changed_max, str) else changed_max
        return cls(int(rows or 0), when.astimezone(UTC) if when is not None else None, str(digest))
