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

from ...engine.stage import float_text

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
    if isinstance(v, (float, np.floating)):  # a whole float as an integer: an integer column reads it
        return float_text(np.array([v], dtype="float64"))[0]
    return str(v)


def _number_text(s: pd.Series) -> np.ndarray:
    """Numbers as text: integers as they are; floats by ``engine.stage.float_text``, a whole one
    without its ``.0`` (an integer column pandas made float by a missing value must still read
    as an integer: ``1.0`` is not valid input for ``integer`` or ``bigint``); missing values are
    replaced by the caller."""
    if pd.api.types.is_float_dtype(s.dtype):
        values = s.to_numpy(dtype="float64", na_value=np.nan)
        present = ~np.isnan(values)
        out = np.full(len(values), NULL, dtype=object)
        out[present] = float_text(values[present])
        return out
    return s.astype(object).astype(str).to_numpy(dtype=object)  # repr, as psycopg dumps numbers


def column_text(s: pd.Series, *, escape: bool = True) -> np.ndarray:
    """One column as COPY text values (an object array of str, ``\\N`` where missing).
    ``escape=False`` leaves tabs, newlines and backslashes in text as they are (for a payload
    that is checked whole afterwards, see :func:`copy_payload`)."""
    return _column(s, escape)[0]


def _column(s: pd.Series, escape: bool) -> tuple[np.ndarray, int]:
    """(the column's COPY text values, how many are missing)."""
    dtype = s.dtype
    if not (pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_numeric_dtype(dtype)
            or isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype)):
        values = s.to_numpy(dtype=object)
        if pd.api.types.infer_dtype(values, skipna=False) == "string":  # text, nothing missing: as is
            return (_escaped(values) if escape else values), 0
        missing = pd.isna(values)
        n_missing = int(missing.sum())
        present = _as_text(values[~missing] if n_missing else values)
        if escape:
            present = _escaped(present)
        if not n_missing:
            return present, 0
        out = np.full(len(values), NULL, dtype=object)
        out[~missing] = present
        return out, n_missing
    missing = s.isna().to_numpy()
    n_missing = int(missing.sum())
    if pd.api.types.is_bool_dtype(dtype):
        out = np.where(s.to_numpy(dtype=bool, na_value=False), "t", "f").astype(object)
    elif isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        utc = s.dt.tz_convert("UTC").dt.tz_localize(None) if isinstance(dtype, pd.DatetimeTZDtype) else s
        out = np.datetime_as_string(utc.to_numpy(dtype="datetime64[us]"), unit="us").astype(object)
        if isinstance(dtype, pd.DatetimeTZDtype):
            out = out + "Z"
    else:
        out = _number_text(s)
    if n_missing:
        out = out.copy()
        out[missing] = NULL
    return out, n_missing


def _escaped(texts: np.ndarray) -> np.ndarray:
    """Text with COPY's escapes, only where a tab, newline, carriage return or backslash is."""
    if _SPECIAL.search("".join(texts)):
        return np.array([t.translate(_ESCAPE) for t in texts], dtype=object)
    return texts


def copy_payload(frame: pd.DataFrame, columns: Iterable[str]) -> bytes:
    """The frame's ``columns`` as COPY text-format lines (UTF-8), in the frame's row order.

    The lines are built unescaped first and checked whole: when the tabs and newlines between
    values and the backslashes of the missing values' ``\\N`` are all it holds (nearly always),
    no value needed escaping and the payload is right as it is; otherwise it is built again
    with every column escaped."""
    if not len(frame):
        return b""
    columns = list(columns)
    built = [_column(frame[c], False) for c in columns]
    text = _lines([t for t, _ in built])
    rows, nulls = len(frame), sum(n for _, n in built)
    if (text.count("\t") != rows * (len(columns) - 1) or text.count("\n") != rows
            or text.count("\\") != nulls or "\r" in text):
        text = _lines([column_text(frame[c]) for c in columns])
    return text.encode("utf-8")


def _lines(texts: list[np.ndarray]) -> str:
    return "\n".join(["\t".join(row) for row in zip(*texts)]) + "\n"
