"""One cell's value, whatever produced it (a CSV read, a database driver, pandas, numpy): is
it missing, its text, its plain JSON form. Pure, layer 0: every layer above asks these
questions the same way (docs/architecture.md §2)."""
from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

_OTHER_NAN = (np.floating, np.datetime64, np.timedelta64, Decimal)  # what pd.isna answers for


def is_missing(v: Any) -> bool:
    """True for *no value*: None, ``pd.NA``, ``pd.NaT``, a NaN float (Python's or numpy's, any
    width), a numpy ``NaT`` (datetime64/timedelta64) and ``Decimal('NaN')``. Text is never
    missing here (an empty or placeholder text is the caller's rule: :func:`text_or_none`,
    ``normalize.clean_value``); nor is a list, dict, tuple or set."""
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float):  # numpy's float64 too
        return math.isnan(v)
    if isinstance(v, _OTHER_NAN):
        return bool(pd.isna(v))
    return False


def text_or_none(v: Any) -> str | None:
    """A value as text with its outer blanks trimmed; None when missing (:func:`is_missing`)
    and, what this adds, when the text is empty or only blanks."""
    if is_missing(v):
        return None
    return str(v).strip() or None


def plain(value: Any, *, iso: bool = True) -> Any:
    """One value as the plain value JSON holds (pure; also a ``json.dumps`` ``default=``).

    Missing (:func:`is_missing`) → None; numpy scalars → Python's; None, bool, int, float,
    str, list and dict as they are; sets, frozensets and tuples → lists; dates, times and
    timestamps → ISO 8601 text (``2026-11-28T10:15:00``), or with ``iso=False`` as Python
    prints them (``2026-11-28 10:15:00``: the form ``json.dumps(default=str)`` writes in the
    log and reject rows); anything else (a Decimal, a path) → its text.
    """
    if is_missing(value):
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (str, bool, int, float, list, dict)):
        return value
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if iso and hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
