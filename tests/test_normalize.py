"""Normalization rules on live-format values, and whole frames for every registered table."""
from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from trafico_lib.normalize import (
    PLACEHOLDERS, NormalizeResult, value_changes, clean_text, clean_value, normalize_booking,
    normalize_container, normalize_frame, normalize_operacion, parse_dates, parse_integers,
    parse_numbers, parse_times,
)
from trafico_lib.tables import DATE, INTEGER, NUMERIC, TABLES, TEXT, TIME

RUN = date(2026, 6, 15)


def obj(*values) -> pd.Series:
    return pd.Series(list(values), dtype=object)


# ---- text --------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["-", "", "   ", "nan", "NaN", "None", "null", ":0", ": 0", "  : 0   ",
                                 " :  00 ", None, float("nan"), pd.NA])
def test_placeholders_are_none(raw):
    assert clean_value(raw) is None


@pytest.mark.parametrize("raw,clean", [("  ACME SA  ", "ACME SA"), ("0", "0"), ("00123", "00123"),
                                       ("10:00", "10:00"), ("-1", "-1"), ("a - b", "a - b"), (7, "7")])
def test_real_values_are_trimmed_not_dropped(raw, clean):
    assert clean_value(raw) == clean


def test_placeholder_set_has_the_documented_spellings():
    assert {"-", "", "nan", "NaN", "None", "null", ":0", ": 0"} <= PLACEHOLDERS


def test_clean_text_is_object_dtype_with_none():
    out = clean_text(pd.Series([" a ", "-", None, "  : 0   "]))  # pandas 3 str dtype input
    assert out.dtype == object
    assert out.tolist() == ["a", None, None, None]


def test_containers():
    out = normalize_container(obj("MSCU-123456-6", "msku 123456 6", "-", " TGHU 1234567 ", None, "  ", "--"))
    assert out.tolist() == ["MSCU1234566", "MSKU1234566", None, "TGHU1234567", None, None, None]
    assert out.dtype == object


def test_bookings_keep_slash_and_dash():
    out = normalize_booking(obj(" bk 123/45-a ", "MAEU 2345678", "-", "ebkg01234567"))
    assert out.tolist() == ["BK123/45-A", "MAEU2345678", None, "EBKG01234567"]


def test_operacion_inner_blanks_removed():
    assert normalize_operacion(obj(" 37644-1-1 ", "37644 - 1 - 2", "-")).tolist() == ["37644-1-1", "37644-1-2", None]


# ---- dates -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,run,expected", [
    ("28/12", date(2027, 1, 2), date(2026, 12, 28)),   # seen just after new year: last year
    ("02/01", date(2026, 12, 28), date(2027, 1, 2)),   # seen just before new year: next year
    ("15/06", date(2026, 6, 1), date(2026, 6, 15)),
    ("1/3", date(2026, 6, 1), date(2026, 3, 1)),       # day-first, single digits
    ("29/02", date(2027, 6, 1), date(2028, 2, 29)),    # only a leap year has it: the nearest one
])
def test_day_month_gets_the_year_nearest_the_run_date(raw, run, expected):
    values, bad = parse_dates(obj(raw), run)
    assert values[0] == expected and not bad[0]


@pytest.mark.parametrize("raw,expected", [
    ("05/11/2026", date(2026, 11, 5)), ("05/11/26", date(2026, 11, 5)), ("2026-11-05", date(2026, 11, 5)),
    ("05-11-26 14:30", date(2026, 11, 5)), ("05-11-2026", date(2026, 11, 5)),
    ("2026-11-05 14:30", date(2026, 11, 5)), ("2026-11-05 14:30:59", date(2026, 11, 5)),
    ("2026-11-05T14:30:59.123+00:00", date(2026, 11, 5)), (" 05/11/2026 ", date(2026, 11, 5)),
    ("01/02/2026", date(2026, 2, 1)),  # day-first, never month-first
])
def test_dates_with_year(raw, expected):
    values, bad = parse_dates(obj(raw), RUN)
    assert values[0] == expected and not bad[0]


def test_bad_and_empty_dates():
    values, bad = parse_dates(obj("31/02/2026", "mañana", "13/13", "05/11/2026 25:00", "-", None, ""), RUN)
    assert values.tolist() == [None] * 7
    assert bad.tolist() == [True, True, True, True, False, False, False]
    assert values.dtype == object and bad.dtype == bool


def test_dates_already_typed_pass_through():
    values, bad = parse_dates(obj(date(2026, 1, 2), datetime(2026, 1, 3, 10, 0)), RUN)
    assert values.tolist() == [date(2026, 1, 2), date(2026, 1, 3)] and not bad.any()


# ---- times -------------------------------------------------------------------------------

@pytest.mark.parametrize("raw,expected", [
    ("0700 ", time(7, 0)), ("8:00 ", time(8, 0)), ("8", time(8, 0)), ("07:30:00", time(7, 30)),
    ("730", time(7, 30)), ("23:59", time(23, 59)), ("8.30", time(8, 30)), ("8 hs", time(8, 0)),
    ("14:32:05", time(14, 32, 5)), ("2:15 PM", time(14, 15)), ("2026-11-28 14:32:00", time(14, 32)),
])
def test_times(raw, expected):
    values, bad = parse_times(obj(raw))
    assert values[0] == expected and not bad[0]


def test_bad_and_empty_times():
    values, bad = parse_times(obj("24:00", "7:60", "07000", "tarde", "  : 0   ", "-", None))
    assert values.tolist() == [None] * 7
    assert bad.tolist() == [True, True, True, True, False, False, False]


# ---- numbers -----------------------------------------------------------------------------

@pytest.mark.parametrize("raw,expected", [
    ("1429.0", 1429.0), ("1.429,5", 1429.5), ("1,5", 1.5), ("1429", 1429.0), ("-3,25", -3.25),
    ("1.429.500", 1429500.0), ("1,429.5", 1429.5), ("1 429,5", 1429.5), (",5", 0.5),
    ("12.500", 12.5),  # ambiguous d.ddd alone in its column: a decimal point (see module doc)
])
def test_numbers(raw, expected):
    values, bad = parse_numbers(obj(raw))
    assert values.dtype == "Float64"
    assert values[0] == expected and not bad[0]


def test_ambiguous_dot_is_thousands_in_a_decimal_comma_column():
    values, bad = parse_numbers(obj("12.500", "1.429,5", "3"))
    assert values.tolist() == [12500.0, 1429.5, 3.0] and not bad.any()
    # the same text in a decimal-point column stays a decimal
    assert parse_numbers(obj("12.500", "1429.0"))[0].tolist() == [12.5, 1429.0]


def test_bad_and_empty_numbers():
    values, bad = parse_numbers(obj("1.2.3", "abc", "1,2,3", "12kg", "  : 0   ", "nan", "-", None))
    assert values.isna().all()
    assert bad.tolist() == [True, True, True, True, False, False, False, False]


def test_numbers_from_a_driver_pass_through():
    values, bad = parse_numbers(obj(Decimal("1429.50"), 3, 2.5))
    assert values.tolist() == [1429.5, 3.0, 2.5] and not bad.any()


def test_integers():
    values, bad = parse_integers(obj("3", "3.0", "3,0", " 12 ", "2.5", "x", "-", "99999999999", None))
    assert values.dtype == "Int64"
    assert values.tolist()[:4] == [3, 3, 3, 12]
    assert values[4:].isna().all()
    assert bad.tolist() == [False, False, False, False, True, True, False, True, False]


# ---- whole frames --------------------------------------------------------------------------

LIVE_VALUES = {
    TEXT: ["  ACME  ", "-", "Logística Río", "x"],
    DATE: ["28/12", "05-11-26 14:30", "nope", "  : 0   "],
    TIME: ["0700 ", "8:00 ", "99:99", ""],
    NUMERIC: ["1.429,5", "1429.0", "kg", "nan"],
    INTEGER: ["3", "3,0", "2.5", None],
}
EXPECTED = {
    TEXT: ["ACME", None, "Logística Río", "x"],
    DATE: [date(2026, 12, 28), date(2026, 11, 5), None, None],
    TIME: [time(7, 0), time(8, 0), None, None],
}
PROBLEMS = {DATE: "unparseable date", TIME: "unparseable time", NUMERIC: "unparseable number",
            INTEGER: "not a whole number"}
DTYPES = {TEXT: object, DATE: object, TIME: object, NUMERIC: "Float64", INTEGER: "Int64"}


@pytest.mark.parametrize("name", list(TABLES))
def test_normalize_frame_for_each_table(name):
    spec = TABLES[name]
    index = pd.Index([10, 11, 12, 13])
    raw = {}
    for col in spec.column_names:
        type_ = spec.type_of(col)
        if col == "Contenedor":
            raw[col] = ["MSCU-123456-6", "msku 123456 6", "-", None]
        elif col == "Booking":
            raw[col] = [" bk 12/3 ", "-", "a-1", None]
        elif col == "Operacion":
            raw[col] = ["37644 -1-1", "1-1-2", "-", None]
        else:
            raw[col] = LIVE_VALUES[type_]
    df = pd.DataFrame(raw, index=index)  # pandas 3 str columns, like a real source frame
    df["ignored"] = "x"
    df.insert(0, "_row", [2, 3, 4, 5])
    result = normalize_frame(df, spec, run_date=date(2027, 1, 2))
    assert isinstance(result, NormalizeResult)
    frame = result.frame
    assert list(frame.columns) == spec.column_names + ["_row"]
    assert frame.index.equals(index)
    assert frame["_row"].tolist() == [2, 3, 4, 5]

    expected_issues = []
    for col in spec.column_names:
        type_ = spec.type_of(col)
        assert frame[col].dtype == DTYPES[type_], col
        if col == "Contenedor":
            assert frame[col].tolist() == ["MSCU1234566", "MSKU1234566", None, None]
        elif col == "Booking":
            assert frame[col].tolist() == ["BK12/3", None, "A-1", None]
        elif col == "Operacion":
            assert frame[col].tolist() == ["37644-1-1", "1-1-2", None, None]
        elif type_ == NUMERIC:
            assert frame[col].iloc[:2].tolist() == [1429.5, 1429.0] and frame[col].iloc[2:].isna().all()
        elif type_ == INTEGER:
            assert frame[col].iloc[:2].tolist() == [3, 3] and frame[col].iloc[2:].isna().all()
        else:
            assert frame[col].tolist() == EXPECTED[type_], col
        if type_ in PROBLEMS:
            expected_issues.append((4, col, LIVE_VALUES[type_][2], PROBLEMS[type_]))  # its _row, not its index

    issues = result.issues
    assert list(issues.columns) == ["row", "column", "value", "problem"]
    assert sorted(map(tuple, issues.itertuples(index=False))) == sorted(expected_issues)


def test_normalize_frame_adds_missing_columns_and_keeps_meta():
    spec = TABLES["pendiente_desconsolidar"]
    df = pd.DataFrame({"Contenedor": ["msku 123456 6"], "_source_id": [41], "_source_updated_at": ["t"]})
    result = normalize_frame(df, spec, RUN)
    assert list(result.frame.columns) == spec.column_names + ["_source_id", "_source_updated_at"]
    assert result.frame.loc[0, "Contenedor"] == "MSKU1234566"
    assert result.frame.loc[0, "Cliente"] is None
    assert result.frame["Cantidad"].dtype == "Int64" and result.frame["Cantidad"].isna().all()
    assert result.frame["Entrega"].dtype == object
    assert result.issues.empty and list(result.issues.columns) == ["row", "column", "value", "problem"]


def test_container_is_not_given_booking_rules():
    spec = TABLES["arribos"]
    df = pd.DataFrame({"Contenedor": ["MSCU-123456-6"], "Booking": ["BK-1 / 2"]})
    frame = normalize_frame(df, spec, RUN).frame
    assert frame.loc[0, "Contenedor"] == "MSCU1234566"
    assert frame.loc[0, "Booking"] == "BK-1/2"


def test_value_changes_lists_each_distinct_change_with_its_row_count():
    before = pd.DataFrame({"Contenedor": ["MSCU-123456-6", "msku 123456 6", "MSCU-123456-6", "ABCU1234560 "],
                           "Peso": ["1.429,5", "-", "1.429,5", "10"]})
    after = pd.DataFrame({"Contenedor": ["MSCU1234566", "MSKU1234566", "MSCU1234566", "ABCU1234560"],
                          "Peso": pd.array([1429.5, None, 1429.5, 10.0], dtype="Float64")})
    out = value_changes(before, after, ["Contenedor", "Peso"])
    rows = [tuple(r) for r in out.itertuples(index=False)]
    assert rows == [("Contenedor", "'MSCU-123456-6'", "MSCU1234566", 2),
                    ("Contenedor", "'msku 123456 6'", "MSKU1234566", 1),
                    ("Peso", "'1.429,5'", "1429.5", 2),
                    ("Peso", "'-'", None, 1)]  # '10' -> 10.0 and a trimmed blank are not changes
    assert value_changes(before, before, ["Contenedor"]).empty
    assert value_changes(before, after)["column"].unique().tolist() == ["Contenedor", "Peso"]

def test_normalize_frame_100k_rows_is_fast():
    """The full-size bar is 1M rows well under a minute; 100k rows must take a few seconds at most."""
    import time as clock
    spec = TABLES["arribos"]
    n = 100_000
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 999_999, n)
    df = pd.DataFrame({
        "Fecha": [f"{d:02d}/{m:02d}" for d, m in zip(rng.integers(1, 29, n), rng.integers(1, 13, n))],
        "Terminal": rng.choice(["TRP ", "EXOLGAN", "  BACTSSA"], n),
        "Turno": rng.choice(["0700 ", "8:00 ", "13:30", "-"], n),
        "Contenedor": [f"MSCU-{i:06d}-{i % 10}" for i in ids],
        "Cliente": rng.choice(["Logística Río", "ACME SA  ", "-"], n),
        "Booking": [f"bk {i}" for i in ids],
        "TLAT": "x", "Tipo CNT": "40HC", "Dimension": "40", "Oper.": "IMPO", "Tiempo": "1",
        "Estado": rng.choice(["", "  : 0   ", "09:50 Realizado"], n),
        "Peso": [f"{i // 1000}.{i % 1000:03d},5" for i in ids],
        "Peligrosa": "NO", "Chofer": "",
    })
    start = clock.perf_counter()
    result = normalize_frame(df, spec, RUN)
    elapsed = clock.perf_counter() - start
    print(f"normalize_frame arribos 100k rows: {elapsed:.2f}s")
    assert result.issues.empty
    assert result.frame["Peso"].dtype == "Float64"
    assert elapsed < 6


def test_value_changes_on_a_normalized_frame():
    spec = TABLES["arribos"]
    before = pd.DataFrame({"Fecha": ["2026-12-28", "28/12"], "Contenedor": ["MSCU1234566 ", "msku 123456 6"],
                           "Peso": ["1429.0", "1.429,5"], "Turno": ["07:00", "0700 "], "Cliente": ["-", " A "]})
    after = normalize_frame(before, spec, date(2027, 1, 2)).frame
    got = {(r.column, r.before, r.after) for r in value_changes(before, after).itertuples(index=False)}
    assert got == {("Cliente", "'-'", None), ("Fecha", "'28/12'", "2026-12-28"), ("Turno", "'0700 '", "07:00"), ("Contenedor", "'msku 123456 6'", "MSKU1234566"),
                   ("Peso", "'1.429,5'", "1429.5")}
