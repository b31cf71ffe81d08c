"""The staging's COPY payload: every kind of value a staged frame holds arrives in PostgreSQL
exactly as a row-by-row ``write_row`` (psycopg's own dumpers) puts it there — text with
tabs, newlines, backslashes and accents, empty text (not NULL), every kind of missing value,
dates, times, timestamps, numbers and booleans."""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from trafico_lib.stores.sql.copytext import copy_payload

TEXTS = ["plain", "", "tab\there", "new\nline", "cr\rreturn", "back\\slash", "\\N", "Ñandú €", "  spaced  ",
         None, "quote\"d", "a,b;c"]


def _frame() -> pd.DataFrame:
    n = len(TEXTS)
    return pd.DataFrame({
        "t_obj": pd.Series(TEXTS, dtype=object),
        "t_str": pd.Series([t or "" for t in TEXTS], dtype="str"),
        "d": pd.Series([date(2026, 11, 1 + i) if i % 4 else None for i in range(n)], dtype=object),
        "tm": pd.Series([time(i, 30) if i % 3 else None for i in range(n)], dtype=object),
        "ts": pd.Series(pd.to_datetime([datetime(2026, 10, 1, 12, 0, i, 123456, tzinfo=timezone.utc)
                                        if i % 5 else None for i in range(n)], utc=True)),
        "num": pd.array([1429.0, 12.5, None, 0.1, -3.0, 1e-7, 123456789.25, None, 7.0, 0.0, 2.5, 3.75],
                        dtype="Float64"),
        "flt": np.array([1.5, np.nan, 3.0, 0.2, 5.0, 6.0, 7.0, 8.0, np.nan, 10.0, 11.0, 12.0]),
        "num_obj": pd.Series([Decimal("1.10"), None, 3, 4.5, None, 6, 7, 8, 9, 10, 11, 12], dtype=object),
        "b": np.array([True, False] * 6),
        "i": pd.array([1, None, 3, 4, 5, 6, 7, 8, 9, 10, 11, 2**40], dtype="Int64"),
        "mixed": pd.Series(["text", 5, date(2026, 1, 2), None, np.nan, pd.NA, pd.NaT, "x", 1.5, True, "", "z"],
                           dtype=object),
    })


DDL = ("t_obj text, t_str text, d date, tm time, ts timestamptz, num numeric, flt double precision, "
       "num_obj numeric, b boolean, i bigint, mixed text")


def _py(v):
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v.item() if hasattr(v, "item") and not isinstance(v, (str, bytes)) else v


@pytest.mark.parametrize("rows", [None, 0])
def test_payload_lands_as_write_row_does(conn, rows):
    frame = _frame() if rows is None else _frame().head(rows)
    cols = list(frame.columns)
    conn.execute(f"CREATE TEMP TABLE by_rows ({DDL}); CREATE TEMP TABLE by_payload ({DDL})")
    with conn.cursor() as cur, cur.copy("COPY by_rows FROM STDIN") as cp:
        for row in frame.itertuples(index=False):
            cp.write_row([_py(v) for v in row])
    with conn.cursor() as cur, cur.copy("COPY by_payload FROM STDIN") as cp:
        cp.write(copy_payload(frame, cols))
    a = conn.execute("SELECT * FROM by_rows ORDER BY t_str, d").fetchall()
    b = conn.execute("SELECT * FROM by_payload ORDER BY t_str, d").fetchall()
    assert len(b) == len(frame)
    assert a == b
    if len(frame):  # spot checks: nothing was lost to escaping or to NULL
        texts = [r[0] for r in conn.execute("SELECT t_obj FROM by_payload").fetchall()]
        assert sorted(texts, key=str) == sorted(TEXTS, key=str)
        assert conn.execute("SELECT count(*) FROM by_payload WHERE t_str = ''").fetchone()[0] == 2


@pytest.mark.parametrize("special", ["tab\there", "new\nline", "cr\rreturn", "back\\slash", "\\N", "\\", "end\\"])
def test_one_special_value_among_plain_ones_and_missing_ones(conn, special):
    """The payload is built unescaped and checked whole: one value needing an escape (a lone
    ``\\N`` text included, which must not turn into NULL) must still land exactly."""
    frame = pd.DataFrame({"a": pd.Series(["x", special, None, "y"], dtype=object),
                          "b": pd.Series(["p", "q", "r", None], dtype=object)})
    conn.execute("CREATE TEMP TABLE one (a text, b text)")
    with conn.cursor() as cur, cur.copy("COPY one FROM STDIN") as cp:
        cp.write(copy_payload(frame, ["a", "b"]))
    assert conn.execute("SELECT a, b FROM one ORDER BY b NULLS LAST").fetchall() == [
        ("x", "p"), (special, "q"), (None, "r"), ("y", None)]


def test_live_data_whole_floats_land_in_integer_columns(conn):
    """An integer column pandas made float (a missing value among integers, or a concat) is
    written as integers: ``1.0`` is not input ``integer`` or ``bigint`` accept (issue 21: the
    expo table failed every run with ``invalid input syntax for type bigint: "1.0"``). Both the
    COPY payload and the REST store's JSON rows (``column_text``) are built here."""
    from trafico_lib.stores.sql.copytext import column_text
    frame = pd.DataFrame({
        "f": np.array([1.0, np.nan, 8.0, float(2 ** 40), -5.0]),
        "nullable": pd.array([1.0, None, 8.0, 3.0, 0.0], dtype="Float64"),
        "obj": pd.Series([1.0, None, 3, np.float64(4.0), 0], dtype=object),
    })
    conn.execute("CREATE TEMP TABLE ints (f bigint, nullable integer, obj integer)")
    with conn.cursor() as cur, cur.copy("COPY ints FROM STDIN") as cp:
        cp.write(copy_payload(frame, list(frame.columns)))
    assert conn.execute("SELECT f, nullable, obj FROM ints").fetchall() == [
        (1, 1, 1), (None, None, None), (8, 8, 3), (2 ** 40, 3, 4), (-5, 0, 0)]
    assert column_text(frame["f"]).tolist() == ["1", "\\N", "8", str(2 ** 40), "-5"]
    assert column_text(pd.Series([0.5, 1e-7, 12.25])).tolist() == ["0.5", "1e-07", "12.25"]  # fractions as before
