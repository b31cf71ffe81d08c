"""ValidationTotals: a source validated chunk by chunk gives the whole run's one result.

Each test validates the same frame whole and in chunks (``frame.iloc`` ranges, ``_row``
continuing across chunks as a real source read gives it) with the real ``validate`` and
real GX, and compares the totals with the whole run's result.
"""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from trafico_lib.config import Config
from trafico_lib.docs.results import save_validation, stored_validations
from trafico_lib.rules import load_suite, validate
from trafico_lib.rules.totals import ValidationTotals
from trafico_lib.tables import TABLES

import frames

ARRIBOS = TABLES["arribos"]
GOOD = ["MSCU1234566", "GYOU4047990", "CSQU3054383"]          # valid ISO 6346
BAD_DIGIT = ["CSQU3054384", "MSCU1234567", "GYOU4047991"]     # check digit wrong


def normalized(spec, rows: list[dict]) -> pd.DataFrame:
    """A frame shaped like normalize_frame's output, ``_row`` 1..N (a database read)."""
    return frames.normalized(spec, rows, first_row=1)


def arribos_rows() -> list[dict]:
    """45 rows breaking blocking and warning rules, spread over the whole frame."""
    rows = []
    for i in range(45):
        row = dict(Fecha=dt.date(2026, 11, 28), Contenedor=GOOD[i % 3], Booking="EBKG12345678",
                   Cliente="ACME SA", Peso=1000.0 + i)
        if i % 2:
            row["Contenedor"] = BAD_DIGIT[i % 3]        # with MSC/U12: 22 check-digit warnings (over 20)
        if i in (4, 17, 40):
            row["Contenedor"] = None                     # blocking: required_Contenedor
        if i in (8, 33):
            row["Contenedor"] = "MSC/U12"                # blocking: key_parseable (+ warnings)
        if i in (5, 6, 20):
            row["Booking"] = None                        # warning: required_Booking
        if i in (7, 31, 32, 44):
            row["Booking"] = "238/2026-A"                # warning: booking_format
        if i in (2, 30):
            row["Cliente"] = None                        # warning: required_Cliente
        rows.append(row)
    return rows


def chunked(frame: pd.DataFrame, bounds: list[int], spec, cfg, issues=None) -> ValidationTotals:
    totals = ValidationTotals()
    edges = [0, *bounds, len(frame)]
    for start, stop in zip(edges, edges[1:]):
        totals.add(validate(frame.iloc[start:stop], spec, cfg, issues=issues))
    return totals


def by_rule(rules: list[dict]) -> dict[str, dict]:
    return {r["rule"]: r for r in rules}


def assert_same_summary(totals: ValidationTotals, whole) -> None:
    got, want = totals.to_json(), json.loads(json.dumps(whole.to_json()))
    assert json.loads(json.dumps(got)) == got  # JSON-able as is
    assert list(got) == list(want)
    assert {**got, "rules": by_rule(got["rules"])} == {**want, "rules": by_rule(want["rules"])}
    for r in want["rules"]:
        if r["failed"] < 20:
            assert len(r["failing_keys"]) == r["failed"]
    assert (totals.rows, totals.valid, totals.rejected) == (want["rows"], want["valid"], want["rejected"])


def gx_by_rule(gx: dict) -> dict[str, dict]:
    return {r["expectation_config"]["meta"]["rule"]: r for r in gx["results"]}


def assert_same_gx(totals: ValidationTotals, whole) -> None:
    got, want = totals.gx_result, whole.gx_result.to_json_dict()
    assert json.loads(json.dumps(got)) == got
    assert got["success"] == want["success"] and got["suite_name"] == want["suite_name"]
    assert got["statistics"] == want["statistics"]
    assert [r["expectation_config"] for r in got["results"]] == [r["expectation_config"] for r in want["results"]]
    mine, theirs = gx_by_rule(got), gx_by_rule(want)
    assert list(mine) == list(theirs)
    for rule, w in theirs.items():
        g = mine[rule]
        assert g["success"] == w["success"], rule
        assert set(g["result"]) == set(w["result"]), rule
        for k, v in w["result"].items():
            if k.endswith("_percent") or k.startswith("unexpected_percent"):
                assert g["result"][k] == (None if v is None else pytest.approx(v)), (rule, k)
            else:
                assert g["result"][k] == v, (rule, k)


# ---- whole run == chunks -------------------------------------------------------------------------

def test_chunks_sum_to_the_whole_run():
    frame = normalized(ARRIBOS, arribos_rows())
    # issues only in some chunks: the parseable_* rules show up mid-run
    issues = pd.DataFrame({"row": [20, 38, 42], "column": ["Peso", "Fecha", "Contenedor"],
                           "value": ["x", "32/13", "?"], "problem": ["number", "date", "text"]})
    cfg = Config()
    whole = validate(frame, ARRIBOS, cfg, issues=issues)
    totals = chunked(frame, [13, 30], ARRIBOS, cfg, issues=issues)

    assert totals and not totals.empty and totals.chunks == 3
    summary = totals.to_json()
    assert summary["rows"] == 45 and summary["rejected"] == 6 and summary["success"] is False
    assert summary["gx_success"] is False
    assert_same_summary(totals, whole)
    rules = by_rule(summary["rules"])
    assert rules["container_check_digit"]["failed"] == 22 and len(rules["container_check_digit"]["failing_keys"]) == 20
    assert rules["parseable_Contenedor"]["severity"] == "blocking"
    assert set(rules["required_Contenedor"]["failing_keys"]) == {"row 5", "row 18", "row 41"}
    # first appearance: the suite's rules, then the issue rules in the chunk order they appeared
    assert [r["rule"] for r in summary["rules"]][-3:] == ["parseable_Peso", "parseable_Contenedor", "parseable_Fecha"]
    assert_same_gx(totals, whole)


def test_the_sample_source_in_chunks_of_50_rows(make_config):
    from trafico_lib.normalize import normalize_frame
    from trafico_lib.sources.csv import read_table_csv
    cfg = make_config()
    norm = normalize_frame(read_table_csv(cfg, ARRIBOS), ARRIBOS, dt.date(2026, 11, 29))
    frame = norm.frame
    assert len(frame) > 100 and frame["_row"].is_monotonic_increasing
    whole = validate(frame, ARRIBOS, cfg, issues=norm.issues)
    totals = chunked(frame, list(range(50, len(frame), 50)), ARRIBOS, cfg, issues=norm.issues)
    assert any(r["failed"] for r in whole.to_json()["rules"])
    assert_same_summary(totals, whole)
    assert_same_gx(totals, whole)


def test_mostly_is_judged_on_the_whole_run_not_per_chunk():
    suite = load_suite("arribos")
    for e in suite["expectations"]:
        if e["meta"]["rule"] == "container_check_digit":
            e["kwargs"]["mostly"] = 0.7
    rows = [dict(Contenedor=GOOD[0], Booking="EBKG12345678", Cliente="A") for _ in range(20)]
    for i in (0, 1, 2, 3, 4, 5):  # 6 of the first 10 bad: that chunk fails, the run (6/20) passes
        rows[i]["Contenedor"] = BAD_DIGIT[0]
    frame = normalized(ARRIBOS, rows)
    whole = validate(frame, ARRIBOS, Config(), suite=suite)
    totals, chunk_success = ValidationTotals(), []
    for part in (frame.iloc[:10], frame.iloc[10:]):
        val = validate(part, ARRIBOS, Config(), suite=suite)
        chunk_success.append(gx_by_rule(val.gx_result.to_json_dict())["container_check_digit"]["success"])
        totals.add(val)
    assert chunk_success == [False, True]
    assert gx_by_rule(whole.gx_result.to_json_dict())["container_check_digit"]["success"] is True
    assert_same_gx(totals, whole)


# ---- edges --------------------------------------------------------------------------------------

def test_validation_disabled(make_config):
    cfg = make_config({"sync_settings": {"arribos": {"validation_enabled": False}}})
    frame = normalized(ARRIBOS, arribos_rows())
    whole = validate(frame, ARRIBOS, cfg)
    totals = chunked(frame, [15, 30], ARRIBOS, cfg)
    assert whole.gx_result is None and totals.gx_result is None
    summary = totals.to_json()
    assert summary["validation_enabled"] is False and summary["gx_success"] is None
    assert {r["rule"] for r in summary["rules"]} == {"required_Contenedor", "key_parseable"}
    assert_same_summary(totals, whole)


def test_zero_chunks():
    totals = ValidationTotals()
    assert not totals and totals.empty and totals.chunks == 0
    assert (totals.rows, totals.valid, totals.rejected) == (0, 0, 0)
    assert totals.gx_result is None
    summary = totals.to_json()
    assert summary == {"table": "", "suite": "", "validation_enabled": True, "success": True, "gx_success": None,
                       "rows": 0, "valid": 0, "rejected": 0, "with_warnings": 0, "overrides": [], "rules": []}
    assert list(summary) == list(validate(normalized(ARRIBOS, []), ARRIBOS, Config()).to_json())
    assert ValidationTotals(table="arribos", suite="arribos").to_json()["table"] == "arribos"


def test_empty_chunks_add_nothing_but_their_presence():
    frame = normalized(ARRIBOS, arribos_rows())
    whole = validate(frame, ARRIBOS, Config())
    totals = ValidationTotals()
    for part in (frame.iloc[:0], frame, frame.iloc[45:]):
        totals.add(validate(part, ARRIBOS, Config()))
    assert totals.chunks == 3
    assert_same_summary(totals, whole)
    assert_same_gx(totals, whole)


def test_memory_stays_bounded_and_lists_are_capped():
    frame = normalized(ARRIBOS, arribos_rows())
    val = validate(frame, ARRIBOS, Config())
    totals = ValidationTotals()
    for _ in range(4):
        totals.add(val)

    def walk(obj):
        yield obj
        if isinstance(obj, dict):
            for k, v in obj.items():
                yield from walk(k)
                yield from walk(v)
        elif isinstance(obj, (list, tuple, set)):
            for v in obj:
                yield from walk(v)
        elif hasattr(obj, "__dict__"):
            for v in vars(obj).values():
                yield from walk(v)

    kinds = {type(o) for o in walk(vars(totals))}
    assert not kinds & {pd.DataFrame, pd.Series, np.ndarray}
    assert all(t.__module__ == "builtins" for t in kinds), kinds  # plain JSON-like data only

    assert totals.rows == 4 * 45
    digit = by_rule(totals.to_json()["rules"])["container_check_digit"]
    assert digit["failed"] == 4 * 22 and digit["failing_keys"] == by_rule(val.to_json()["rules"])["container_check_digit"]["failing_keys"]
    res = gx_by_rule(totals.gx_result)["container_check_digit"]["result"]
    assert res["unexpected_count"] == 4 * 22 and res["element_count"] == 4 * 45 and res["missing_count"] == 4 * 3
    assert len(res["partial_unexpected_list"]) == len(res["partial_unexpected_index_list"]) == 20
    once = gx_by_rule(val.gx_result.to_json_dict())["container_check_digit"]["result"]
    assert res["partial_unexpected_counts"] == [{"value": c["value"], "count": 4 * c["count"]}
                                                for c in once["partial_unexpected_counts"]]
    assert res["unexpected_percent"] == pytest.approx(once["unexpected_percent"])


def test_a_chunk_of_another_table_is_refused():
    totals = ValidationTotals()
    totals.add(validate(normalized(ARRIBOS, arribos_rows()[:3]), ARRIBOS, Config()))
    pend = TABLES["pendiente_desconsolidar"]
    with pytest.raises(ValueError, match="arribos"):
        totals.add(validate(normalized(pend, [dict(Contenedor=GOOD[0])]), pend, Config()))
    assert totals.chunks == 1


# ---- stored for Data Docs ---------------------------------------------------------------------------

def test_saved_totals_read_back_with_the_summed_counts(make_config, tmp_path):
    cfg = make_config({"runner": {"reports_dir": str(tmp_path / "reports")}})
    frame = normalized(ARRIBOS, arribos_rows())
    whole = validate(frame, ARRIBOS, cfg)
    totals = chunked(frame, [10, 25], ARRIBOS, cfg)
    path = save_validation(cfg, "arribos", "run1", totals.to_json(), gx_result=totals.gx_result)
    assert path.is_file()
    [stored] = stored_validations(cfg, "arribos")
    assert stored["run_id"] == "run1"
    assert stored["summary"] == totals.to_json()
    want = whole.to_json()
    for k in ("rows", "valid", "rejected", "with_warnings", "success"):
        assert stored["summary"][k] == want[k], k
    assert by_rule(stored["summary"]["rules"])["container_check_digit"]["failed"] == 22
    assert stored["gx_result"] == totals.gx_result
    assert stored["gx_result"]["statistics"] == whole.gx_result.to_json_dict()["statistics"]
