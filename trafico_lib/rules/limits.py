"""Limits a value must keep for its row to be written at all (docs/architecture.md §4 step 3).

Not format rules but what the database and the slot expansion can take, so they are always
blocking and run whether or not the table's suite is enabled:

* ``key_too_long``: the business key is longer than :data:`~trafico_lib.tables.MAX_KEY_CHARS`
  characters. The key is indexed (unique), and an index entry has a size limit: before, one
  10,000-character key failed the whole table on every run (``index row requires 10016 bytes``).
* ``quantity_above_max`` / ``quantity_negative``: a slot table's quantity (expo ``Cantidad``)
  above the table's ``max_quantity`` (default 500), or below zero. The row is rejected whole,
  never truncated: 20000 would make 19,998 slots, 10**9 would exhaust memory, and -5 is no
  count of containers at all.

A slot table's quantity that cannot be read at all (``abc``) is blocking too (its
``parseable_`` rule, in ``validate``): read as missing it would count one slot and shrink the
booking.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..tables import MAX_KEY_CHARS, TableSpec
from ..values import is_missing

KEY_TOO_LONG = "key_too_long"
QUANTITY_ABOVE_MAX = "quantity_above_max"
QUANTITY_NEGATIVE = "quantity_negative"
SLOT_SUFFIX_CHARS = 11  # "|" and a slot number (``Booking|Secuencia``)


def key_length(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    """Characters of each row's key: its parts' text joined by one separator each."""
    total = np.zeros(len(frame), dtype=np.int64)
    for c in columns:
        if c in frame.columns:
            values = frame[c].to_numpy(dtype=object)
            total += np.fromiter((0 if is_missing(v) else len(str(v)) for v in values), dtype=np.int64, count=len(values))
    return total + max(len(columns) - 1, 0)


def limit_failures(frame: pd.DataFrame, spec: TableSpec, keys: list[str], *,
                   max_quantity: int) -> dict[str, np.ndarray]:
    """{rule: row positions} of the rows breaking a limit (only rules some row breaks)."""
    out: dict[str, np.ndarray] = {}
    parts = list(dict.fromkeys([*keys, *spec.key_optional]))
    suffix = SLOT_SUFFIX_CHARS if spec.slots else 0
    long_keys = np.flatnonzero(key_length(frame, parts) + suffix > MAX_KEY_CHARS)
    if len(long_keys):
        out[KEY_TOO_LONG] = long_keys
    if spec.slots and spec.slots.quantity in frame.columns:
        q = pd.to_numeric(frame[spec.slots.quantity], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        above, below = np.flatnonzero(q > max_quantity), np.flatnonzero(q < 0)
        if len(above):
            out[QUANTITY_ABOVE_MAX] = above
        if len(below):
            out[QUANTITY_NEGATIVE] = below
    return out
