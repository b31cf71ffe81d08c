"""The layer-0 helpers every layer shares: is a value missing (values.is_missing, and
text_or_none which adds blank text), a value's plain JSON form (values.plain), a path as
printed (paths.shown_path). Each case below is one an earlier copy handled: dropping it from
the shared function would change what some caller writes or prints."""
from __future__ import annotations

import datetime as dt
import importlib
import json
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trafico_lib.paths import shown_path
from trafico_lib.values import is_missing, plain, text_or_none

ROOT = Path(__file__).resolve().parent.parent

MISSING = [
    None, pd.NA, pd.NaT, float("nan"),
    np.float64("nan"),                       # a pandas float column's cell
    np.float32("nan"),                       # normalize's numpy-float branch
    np.datetime64("NaT"), np.timedelta64("NaT"),  # normalize's numpy NaT branch
    Decimal("NaN"),                          # expo's pd.isna caught it (a driver's NUMERIC 'NaN')
]
PRESENT = [
    "", " ", "nan", "None", "-",             # text is never missing here: placeholders are normalize's rule
    0, 0.0, -0.0, False, float("inf"), np.int64(0), np.float32(0), Decimal("0"),
    dt.date(2026, 11, 28), pd.Timestamp("2026-11-28"), np.datetime64("2026-11-28"), dt.time(0, 0),
    [], {}, (), set(), [None], {"a": None},  # containers: expo's list/dict/tuple/set guard
    np.array([np.nan, np.nan]),              # pd.isna would answer an array: expo caught the error
]


@pytest.mark.parametrize("v", MISSING, ids=repr)
def test_is_missing_for_every_kind_of_no_value(v):
    assert is_missing(v) is True


@pytest.mark.parametrize("v", PRESENT, ids=repr)
def test_is_missing_never_for_a_value_text_or_container(v):
    assert is_missing(v) is False


@pytest.mark.parametrize("v, want", [
    (None, None), (float("nan"), None), (pd.NaT, None), (pd.NA, None),
    ("", None), ("   ", None), ("\t\n", None),     # what text_or_none adds: blank text is missing
    ("  MSKU1234565 ", "MSKU1234565"), (37644, "37644"), (0, "0"), (False, "False"),
    ("nan", "nan"),                                # a placeholder is still text (normalize.clean_value's rule)
])
def test_text_or_none_trims_and_adds_blank_text_as_missing(v, want):
    assert text_or_none(v) == want


@pytest.mark.parametrize("v", MISSING, ids=repr)
def test_plain_writes_every_missing_value_as_null(v):
    assert plain(v) is None and plain(v, iso=False) is None


@pytest.mark.parametrize("v, want, kind", [
    (np.int64(7), 7, int), (np.int32(-3), -3, int), (np.bool_(True), True, bool),
    (np.float64(1.5), 1.5, float), (np.float32(0.5), 0.5, float), (np.str_("x"), "x", str),
    ("text", "text", str), (True, True, bool), (12, 12, int), (2.25, 2.25, float),
    (float("inf"), float("inf"), float),
])
def test_plain_numpy_scalars_become_python_values(v, want, kind):
    got = plain(v)
    assert got == want and type(got) is kind


def test_plain_times_iso_8601_or_as_python_prints_them():
    ts = pd.Timestamp("2026-11-28 10:15:00")
    aware = dt.datetime(2026, 11, 28, 10, 15, tzinfo=dt.timezone.utc)
    # validation results, Data Docs records, the health JSON: ISO 8601
    assert plain(ts) == "2026-11-28T10:15:00"
    assert plain(aware) == "2026-11-28T10:15:00+00:00"
    assert plain(dt.date(2026, 11, 28)) == "2026-11-28"
    assert plain(dt.time(9, 50)) == "09:50:00"
    # a reject's raw row on the direct path: as json.dumps(default=str) writes the log rows
    for v in (ts, aware, ts.to_pydatetime(), dt.date(2026, 11, 28), dt.time(9, 50)):
        assert plain(v, iso=False) == str(v) == json.loads(json.dumps(v, default=str))
    assert plain(ts, iso=False) == "2026-11-28 10:15:00"


def test_plain_other_objects_as_text_and_collections_as_lists():
    assert plain(Decimal("1.50")) == "1.50" and plain(Decimal("1.50"), iso=False) == "1.50"
    assert plain(Path("runs") / "x.html") == str(Path("runs") / "x.html")
    assert plain(dt.timedelta(hours=1)) == "1:00:00"
    assert plain((1, "a")) == [1, "a"] and sorted(plain({2, 1})) == [1, 2] and plain(frozenset()) == []
    assert plain([1, None]) == [1, None] and plain({"a": 1}) == {"a": 1}


def test_plain_as_a_json_default_makes_numpy_and_pandas_values_json():
    doc = {"n": np.int64(3), "ok": np.bool_(False), "at": pd.Timestamp("2026-01-02 03:04:05"),
           "tags": {"x"}, "na": pd.NA, "nat": pd.NaT, "dec": Decimal("2.5"), "f32": np.float32(2)}
    assert json.loads(json.dumps(doc, default=plain)) == {
        "n": 3, "ok": False, "at": "2026-01-02T03:04:05", "tags": ["x"], "na": None, "nat": None,
        "dec": "2.5", "f32": 2.0}


# ---- shown_path --------------------------------------------------------------------------

def test_shown_path_relative_under_the_current_folder_else_as_given(tmp_path, monkeypatch):
    project = tmp_path / "project"
    (project / "runs").mkdir(parents=True)
    monkeypatch.chdir(project)
    assert shown_path(None) is None
    assert shown_path(project / "runs" / "a.html") == str(Path("runs") / "a.html")
    assert shown_path(str(project / "runs")) == "runs"
    assert shown_path("runs/../runs/b.html") == str(Path("runs") / "b.html")  # relative: resolved first
    outside = tmp_path / "elsewhere" / "c.html"
    assert shown_path(outside) == str(outside)
    assert shown_path(project) == "."


def test_shown_path_is_one_function_for_the_command_lines_runner_and_retention():
    modules = [importlib.import_module(f"trafico_lib.{m}")
               for m in ("cli.output", "cli.commands", "cli.docs", "runner.runs", "runner.execute", "retention")]
    assert all(m.shown_path is shown_path for m in modules)


def test_retention_prints_its_folders_as_shown_path_does(tmp_path, monkeypatch):
    from trafico_lib.retention import PruneResult
    monkeypatch.chdir(tmp_path)
    res = PruneResult(cutoff=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc), days_to_keep=90, dry_run=True,
                      archive_root=str(tmp_path / "runs"), dry_run_root="/elsewhere/runs-dry")
    assert res.summary().endswith("under runs and /elsewhere/runs-dry (dry runs)")


# ---- written once ------------------------------------------------------------------------

def _library_hits(pattern: str) -> list[str]:
    rx = re.compile(pattern)
    return sorted(str(p.relative_to(ROOT)) for p in (ROOT / "trafico_lib").rglob("*.py")
                  if rx.search(p.read_text(encoding="utf-8")))


def test_each_helper_is_written_once_in_the_library():
    assert _library_hits(r"is pd\.NaT|is pd\.NA\b") == ["trafico_lib/values.py"]
    assert _library_hits(r"relative_to\(Path\.cwd\(\)") == ["trafico_lib/paths.py"]
    assert _library_hits(r"def (_?missing|_is_missing|_shown|_plain|_py)\(") == []
