"""A frame as one payload of COPY's text format, built a column at a time.

Sending rows one by one (``Copy.write_row``) costs a Python call and a dumper per value: at a
million rows that is most of a sync's time. Here each column becomes text with vectorized
operations (values of other types than text are converted once per distinct value), the
rare value holding a tab, newline, carriage return or backslash is escaped, a missing value
is ``\\N``, and the lines are joined once. PostgreSQL parses the text with the staging
table's own column types, so it rounds and checks exactly as it did for ``write_row``.
"""
from __future__ import annotations

import re
from typing import Iterable

import numpy as np
import pandas as pd

NULL = "\\N"
_SPECIAL = re.compile(r"[\\\t\n\r]")
_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _as_text(values: np.ndarray) -> np.ndarray:
    """Present values as text: text as is, anything else through ``str`` once per distinct value
    (dates, times, numbers in object columns repeat a lot)."""
    if pd.api.types.infer_dtype(values, skipna=False) in ("string", "empty"):
        return values
    codes, uniques = pd.factorize(values)
    texts = np.array([_text(v) for v in uniques], dtype=object)
    return texts.take(codes)


def _text(v) -> str:
    if type(v) is str:
        return v
    if isinstance(v, (bool, np.bool_)):
        return "t" if v else "f"  # as psycopg dumps a bool
    return str(v)


def _number_text(s: pd.Series) -> np.ndarray:
    return s.astype(object).astype(str).to_numpy(dtype=object)  # repr, as psycopg dumps numbers


def column_text(s: pd.Series) -> np.ndarray:
    """One column as COPY text values (an object array of str, ``\\N`` where missing)."""
    missing = s.isna().to_numpy()
    dtype = s.dtype
    if pd.api.types.is_bool_dtype(dtype):
        out = np.where(s.to_numpy(dtype=bool, na_value=False), "t", "f").astype(object)
    elif isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        utc = s.dt.tz_convert("UTC").dt.tz_localize(None) if isinstance(dtype, pd.DatetimeTZDtype) else s
        out = np.datetime_as_string(utc.to_numpy(dtype="datetime64[us]"), unit="us").astype(object)
        if isinstance(dtype, pd.DatetimeTZDtype):
            out = out + "Z"
    elif pd.api.types.is_numeric_dtype(dtype):
        out = _number_text(s)
    else:
        values = s.to_numpy(dtype=object, na_value=None)
        present = _as_text(values[~missing] if missing.any() else values)
        if _SPECIAL.search("".join(present)):
            present = np.array([t.translate(_ESCAPE) for t in present], dtype=object)
        if not missing.any():
            return present
        out = np.full(len(values), NULL, dtype=object)
        out[~missing] = present
        return out
    if missing.any():
        out = out.copy()
        out[missing] = NULL
    return out


def copy_payload(frame: pd.DataFrame, columns: Iterable[str]) -> bytes:
    """The frame's ``columns`` as COPY text-format lines (UTF-8), in the frame's row order."""
    if not len(frame):
        return b""
    texts = [column_text(frame[c]) for c in columns]
    return ("\n".join(["\t".join(row) for row in zip(*texts)]) + "\n").encode("utf-8")
