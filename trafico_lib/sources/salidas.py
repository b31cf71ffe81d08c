"""The exit records' shape: one rule for every reader (SQL Server and the ``salidas`` CSV).

The old tool read ``contenedor, fecha_egr, validada`` (``DEPOFIS.DASSA.Salidas``); tables
matched by operation number also need ``orden_ing, suborden, renglon``. The exit time is
``fecha_egr``. A record set without that column (trafico's earlier ``salidas`` exports) has its
exit time in ``validada``; otherwise ``validada`` is validation info whatever its type (a flag,
text, a number, NULL, even a timestamp).
"""
from __future__ import annotations

from collections.abc import Iterable

KEY_PARTS = ("orden_ing", "suborden", "renglon")
CONTAINER = "contenedor"
EXIT_TIME = "fecha_egr"
VALIDATION = "validada"
KNOWN_COLUMNS = (*KEY_PARTS, CONTAINER, EXIT_TIME, VALIDATION)


def by_lower(columns: Iterable) -> dict[str, str]:
    """Column names by their trimmed lower-case spelling (exit records come in any case)."""
    return {str(c).strip().lower(): c for c in columns}


def time_column(columns: Iterable) -> str | None:
    """The column holding the exit time, spelled as in ``columns``: ``fecha_egr``, else
    ``validada``, else None (the records cannot say when anything left)."""
    names = by_lower(columns)
    for name in (EXIT_TIME, VALIDATION):
        if name in names:
            return names[name]
    return None
