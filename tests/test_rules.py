"""Validation step: the suites in expectations/, severities, config overrides, per-row outcome.

Frames here are in the normalized shape (what ``normalize_frame`` produces): text columns
object with str/None, dates as ``datetime.date``, Float64/Int64 numbers, a ``_row`` column.
GX runs for real (imported once, on the first ``validate``).
"""
from __future__ import annotations

import datetime as dt
import json
import shutil

import pandas as pd
import pytest

from trafico_lib.config import Config
from trafico_lib.rules import (
    RulesError, SuiteError, ValidationResult, build_gx_suite, check_digit, load_suite, validate,
)
from trafico_lib.rules.suites import EXPECTATIONS_DIR, known_expectation_types
from trafico_lib.tables import TABLES

from frames import normalized

ARRIBOS, PENDIENTE, REMISIONES, EXPO = (TABLES[t] for t in
                                        ("arribos", "pendiente_desconsolidar", "remisiones", "arribos_expo_ctns"))
OLD_BUSINESS_RULES = {  # the old trafico_config.json, as documented
    "container_validation": {"required_fields": ["Contenedor", "Booking"],
                             "container_format_regex": "^[A-Z]{4}[0-9]{7}$"},
    "booking_validation": {"required_fields": ["Booking", "Cliente"],
                           "booking_format_regex": "^[A-Z0-9]{8,12}$"},
}


def outcome(result: ValidationResult) -> dict:
    """_row -> ("valid", warnings) or ("rejected", reasons)."""
    out = {r: ("valid", w) for r, w in zip(result.valid["_row"], result.valid["validation_warnings"])}
    out.update({r: ("rejected", w) for r, w in zip(result.rejected["_row"], result.rejected["reasons"])})
    return out


def counts(result: ValidationResult) -> dict:
    return dict(zip(result.rule_counts["rule"], result.rule_counts["failed"]))


# ---- suites ------------------------------------------------------------------------------------

@pytest.mark.parametrize("table", list(TABLES))
def test_suite_files_are_gx_json_with_rule_meta(table):
    raw = json.loads((EXPECTATIONS_DIR / f"{table}.json").read_text(encoding="utf-8"))
    assert raw["name"] == table and raw["expectations"]
    for exp in raw["expectations"]:
        assert set(exp) <= {"type", "kwargs", "meta", "notes", "description"}
        assert exp["type"] in known_expectation_types()
        assert exp["meta"]["rule"] and exp["meta"]["severity"] in ("blocking", "warning")
    blocking = {e["meta"]["rule"] for e in raw["expectations"] if e["meta"]["severity"] == "blocking"}
    key = TABLES[table].key[0]
    assert blocking == {f"required_{key}", "key_parseable"}  # only the business key blocks by default
    assert load_suite(table)["overrides"] == []


def test_old_config_changes_nothing_in_the_default_suites(make_config):
    cfg = make_config({"business_rules": OLD_BUSINESS_RULES})
    for table in TABLES:
        plain, with_old = load_suite(table), load_suite(table, cfg)
        assert with_old["expectations"] == plain["expectations"], table


def _broken_suite(tmp_path, table, change):
    shutil.copytree(EXPECTATIONS_DIR, tmp_path / "exp")
    path = tmp_path / "exp" / f"{table}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data) if isinstance(data, dict) else data, encoding="utf-8")
    return tmp_path / "exp"


@pytest.mark.parametrize("change, message", [
    (lambda d: d["expectations"][2].update(type="expect_column_values_to_match_regexp"),
     "unknown expectation type 'expect_column_values_to_match_regexp'"),
    (lambda d: d["expectations"][2]["meta"].pop("rule"), "meta.rule is missing"),
    (lambda d: d["expectations"][3]["meta"].update(rule="key_parseable"), "rule name already used"),
    (lambda d: d["expectations"][0]["kwargs"].update(column="Container"), "'Container' is not a column"),
    (lambda d: d["expectations"][0]["meta"].update(severity="fatal"), "blocking or warning"),
    (lambda d: d["expectations"][2]["meta"].update(override="container_validation.regex"), "meta.override"),
])
def test_load_suite_refuses_a_suite_that_would_lose_a_rule(tmp_path, change, message):
    folder = _broken_suite(tmp_path, "arribos", change)
    with pytest.raises(SuiteError) as err:
        load_suite("arribos", directory=folder)
    text = str(err.value)
    assert message in text and "arribos.json" in text and "\n" not in text


def test_load_suite_refuses_malformed_json(tmp_path):
    shutil.copytree(EXPECTATIONS_DIR, tmp_path / "exp")
    (tmp_path / "exp" / "remisiones.json").write_text('{"name": "remisiones", "expectations": [', encoding="utf-8")
    with pytest.raises(SuiteError, match=r"remisiones.json: broken JSON at line 1"):
        load_suite("remisiones", directory=tmp_path / "exp")


def test_gx_refusing_an_expectation_is_an_error_not_a_log_line():
    suite = load_suite("arribos_expo_ctns")
    suite["expectations"][-1]["kwargs"]["mostly"] = 5  # GX only accepts 0..1 and would drop it
    with pytest.raises(SuiteError, match=r"arribos_expo_ctns.json: expectation 7 \(cantidad_positive\): GX refused"):
        build_gx_suite(suite)
    assert len(build_gx_suite(load_suite("arribos_expo_ctns")).expectations) == 7


# ---- severities on live-format rows ---------------------------------------------------------------

def test_arribos_rules_and_severities():
    rows = [
        dict(Fecha=dt.date(2026, 11, 28), Contenedor="MSCU1234566", Booking="EBKG12345678", Cliente="ACME SA"),
        dict(Contenedor="CSQU3054384", Booking="EBKG12345678", Cliente="ACME SA"),  # check digit typo
        dict(Contenedor="TCNU7200794", Booking=None, Cliente=None),                 # desk has no booking yet
        dict(Contenedor="GYOU4047990", Booking="238/2026-A", Cliente="ACME SA"),    # unusual booking
        dict(Contenedor=None, Booking="EBKG12345678", Cliente="ACME SA"),           # no key
        dict(Contenedor="MSC/U12", Booking="EBKG1", Cliente="ACME SA"),              # key not parseable
        dict(Contenedor="ABC", Booking=None, Cliente="X"),                          # too short to be a key
        dict(Contenedor="MSCU123456", Booking="EBKG12345678", Cliente="ACME SA"),  # 10 chars: usable key
    ]
    res = validate(normalized(ARRIBOS, rows), ARRIBOS, Config())
    assert outcome(res) == {
        2: ("valid", []),
        3: ("valid", ["container_check_digit"]),
        4: ("valid", ["required_Booking", "required_Cliente"]),
        5: ("valid", ["booking_format"]),
        6: ("rejected", ["required_Contenedor"]),
        7: ("rejected", ["key_parseable", "booking_format", "container_check_digit", "container_format"]),
        8: ("rejected", ["key_parseable", "container_check_digit", "container_format", "required_Booking"]),
        9: ("valid", ["container_check_digit", "container_format"]),
    }
    assert counts(res) == {"required_Contenedor": 1, "key_parseable": 2, "container_format": 3,
                           "container_check_digit": 4, "required_Booking": 2, "required_Cliente": 1,
                           "booking_format": 2}
    assert list(res.rule_counts.columns) == ["rule", "severity", "column", "expectation_type", "failed"]
    sev = dict(zip(res.rule_counts["rule"], res.rule_counts["severity"]))
    assert sev["container_check_digit"] == "warning" and sev["key_parseable"] == "blocking"


def test_pendiente_container_rules():
    rows = [dict(Contenedor="CSQU3054383", Cantidad=3), dict(Contenedor="CSQA3054383"),
            dict(Contenedor="csqu3054383"), dict(Contenedor=None, Cliente="X")]
    res = validate(normalized(PENDIENTE, rows), PENDIENTE, Config())
    assert outcome(res) == {
        2: ("valid", []),
        3: ("valid", ["container_check_digit"]),  # category A: not ISO, but a usable key
        4: ("rejected", ["key_parseable", "container_check_digit", "container_format"]),
        5: ("rejected", ["required_Contenedor"]),
    }


def test_remisiones_operacion_is_the_key_and_container_rules_apply_where_present():
    rows = [
        dict(Operacion="37644-1-1", Contenedor="MSCU1234566", Booking="EBKG12345678", Cliente="A"),
        dict(Operacion="37644-1-2", Contenedor=None, Booking="EBKG12345678", Cliente="A"),
        dict(Operacion="37644-1-3", Contenedor="MSCU1234567", Booking="EBKG12345678", Cliente="A"),
        dict(Operacion="37644/1", Contenedor="MSCU1234566", Booking="EBKG12345678", Cliente="A"),
        dict(Operacion=None, Booking="EBKG12345678", Cliente="A"),
        dict(Operacion="  ", Booking="EBKG12345678", Cliente="A"),  # blank counts as missing
    ]
    res = validate(normalized(REMISIONES, rows), REMISIONES, Config())
    assert outcome(res) == {
        2: ("valid", []),
        3: ("valid", []),
        4: ("valid", ["container_check_digit"]),
        5: ("rejected", ["key_parseable"]),
        6: ("rejected", ["required_Operacion"]),
        7: ("rejected", ["required_Operacion"]),
    }


def test_expo_pending_slots_and_cantidad():
    rows = [
        dict(Booking="EBKG12345678", Cliente="A", Cantidad=3, Contenedor=None),       # pending slots: normal
        dict(Booking="EBKG12345678", Cliente="A", Cantidad=1, Contenedor="MSCU1234566"),
        dict(Booking="EBKG12345678", Cliente="A", Cantidad=0, Contenedor=None),
        dict(Booking="EBKG12345678", Cliente="A", Cantidad=1, Contenedor="MSCU1234560"),
        dict(Booking="238/2026", Cliente=None, Cantidad=2),
        dict(Booking=None, Cliente="A", Cantidad=2),
        dict(Booking="BK|7", Cliente="A", Cantidad=1),
    ]
    res = validate(normalized(EXPO, rows), EXPO, Config())
    assert outcome(res) == {
        2: ("valid", []),
        3: ("valid", []),
        4: ("valid", ["cantidad_positive"]),
        5: ("valid", ["container_check_digit"]),
        6: ("valid", ["booking_format", "required_Cliente"]),
        7: ("rejected", ["required_Booking"]),
        8: ("rejected", ["key_parseable", "booking_format"]),
    }


def test_issues_become_parseable_rules_blocking_only_on_the_key():
    rows = [dict(Contenedor="MSCU1234566", Booking="EBKG12345678", Cliente="A")] * 3
    frame = normalized(ARRIBOS, rows)
    issues = pd.DataFrame({"row": [2, 3, 3], "column": ["Peso", "Fecha", "Contenedor"],
                           "value": ["1,2,3", "31/02", "??"], "problem": ["number", "date", "container"]})
    res = validate(frame, ARRIBOS, Config(), issues=issues)
    assert outcome(res) == {
        2: ("valid", ["parseable_Peso"]),
        3: ("rejected", ["parseable_Contenedor", "parseable_Fecha"]),
        4: ("valid", []),
    }
    row = res.rule_counts.set_index("rule").loc["parseable_Contenedor"]
    assert (row["severity"], row["expectation_type"], row["failed"]) == ("blocking", "normalize", 1)


def test_rows_keep_index_meta_columns_and_order():
    rows = [dict(Contenedor=c, Booking="EBKG12345678", Cliente="A")
            for c in ("MSCU1234566", None, "CSQU3054384", "TCNU7200794")]
    frame = normalized(ARRIBOS, rows, index=[40, 7, 7, 12])  # any index, even duplicated
    frame["_source_id"] = ["a", "b", "c", "d"]
    res = validate(frame, ARRIBOS, Config())
    assert list(res.valid.index) == [40, 7, 12] and list(res.rejected.index) == [7]
    assert list(res.valid["_source_id"]) == ["a", "c", "d"]
    assert list(res.valid.columns) == [*frame.columns, "validation_warnings"]
    assert list(res.rejected.columns) == [*frame.columns, "reasons"]
    assert res.valid["Peso"].dtype == "Float64"


# ---- config overrides -------------------------------------------------------------------------

LIVE_LIKE = [
    dict(Contenedor="MSCU1234566", Booking="EBKG12345678", Cliente="ACME SA", Terminal="TRP"),
    dict(Contenedor="CSQU3054384", Booking=None, Cliente="ACME SA"),
    dict(Contenedor="TCNU720079", Booking="238/2026", Cliente=None),
    dict(Contenedor="GYOU4047990", Booking="EBKG12345678", Cliente="ACME SA", Terminal="EXOLGAN"),
]


def test_old_config_on_live_like_data_loses_no_row_with_a_usable_key(make_config):
    cfg = make_config({"business_rules": OLD_BUSINESS_RULES})
    rows = LIVE_LIKE * 5 + [dict(Contenedor=None, Booking="X"), dict(Contenedor="-?", Cliente="A")]
    res = validate(normalized(ARRIBOS, rows), ARRIBOS, cfg)
    assert len(res.valid) == 20
    assert sorted(res.rejected["_row"]) == [22, 23]
    assert all(set(r) & {"required_Contenedor", "key_parseable"} for r in res.rejected["reasons"])


def test_config_severity_makes_the_check_digit_blocking(make_config):
    cfg = make_config({"business_rules": {"severity": {"container_check_digit": "blocking"}}})
    res = validate(normalized(ARRIBOS, LIVE_LIKE), ARRIBOS, cfg)
    assert sorted(res.rejected["_row"]) == [3, 4]
    assert res.rejected.set_index("_row").loc[3, "reasons"] == ["container_check_digit", "required_Booking"]


def test_config_regexes_override_the_suite(make_config):
    cfg = make_config({"business_rules": {
        "container_validation": {"container_format_regex": "^[A-Z]{4}[0-9]{6,7}$"},
        "booking_validation": {"booking_format_regex": "^[A-Z0-9/]{8,12}$"},
    }})
    suite = load_suite("arribos", cfg)
    assert any("business_rules.container_validation.container_format_regex" in n for n in suite["overrides"])
    res = validate(normalized(ARRIBOS, LIVE_LIKE), ARRIBOS, cfg)
    assert outcome(res)[4] == ("valid", ["container_check_digit", "required_Cliente"])
    # without the override the same rows warn on both formats
    plain = outcome(validate(normalized(ARRIBOS, LIVE_LIKE), ARRIBOS, Config()))[4]
    assert plain == ("valid", ["booking_format", "container_check_digit", "container_format", "required_Cliente"])


def test_config_required_fields_replace_the_groups_fields(make_config):
    cfg = make_config({"business_rules": {
        "container_validation": {"required_fields": ["Contenedor", "Terminal"]},
        "booking_validation": {"required_fields": ["Booking"]},
    }})
    rules = [e["meta"]["rule"] for e in load_suite("arribos", cfg)["expectations"]]
    assert "required_Cliente" not in rules and "required_Terminal" in rules and "required_Booking" in rules
    res = validate(normalized(ARRIBOS, LIVE_LIKE), ARRIBOS, cfg)
    assert outcome(res)[2] == ("valid", [])
    assert outcome(res)[3] == ("valid", ["container_check_digit", "required_Booking", "required_Terminal"])
    # expo: Contenedor is not required by container_validation (pending slots)
    expo_rules = [e["meta"]["rule"] for e in load_suite("arribos_expo_ctns", cfg)["expectations"]]
    assert "required_Contenedor" not in expo_rules and "required_Cliente" not in expo_rules


def test_the_key_stays_blocking_where_it_is_the_key(make_config):
    cfg = make_config({"business_rules": {"severity": {"required_Booking": "blocking"}}})
    res = validate(normalized(ARRIBOS, LIVE_LIKE), ARRIBOS, cfg)
    assert sorted(res.rejected["_row"]) == [3]  # arribos now rejects a missing booking
    cfg = make_config({"business_rules": {"severity": {"required_Booking": "warning"}}})
    suite = load_suite("arribos_expo_ctns", cfg)
    assert suite["expectations"][0]["meta"] == {"rule": "required_Booking", "severity": "blocking"}
    assert any("stays blocking" in n for n in suite["overrides"])


def test_unknown_rule_in_config_severity_is_an_error():
    # load_config rejects it first (test_config); a config built in code still meets this check
    cfg = Config.model_validate({"business_rules": {"severity": {"container_chek_digit": "blocking"}}})
    with pytest.raises(SuiteError, match=r"business_rules.severity: unknown rule 'container_chek_digit'"):
        load_suite("arribos", cfg)


def test_validation_disabled_keeps_only_the_key_checks(make_config):
    cfg = make_config({"sync_settings": {"arribos": {"validation_enabled": False}}})
    rows = LIVE_LIKE + [dict(Contenedor=None), dict(Contenedor="MSC/U1")]
    issues = pd.DataFrame({"row": [2], "column": ["Peso"], "value": ["x"], "problem": ["number"]})
    res = validate(normalized(ARRIBOS, rows), ARRIBOS, cfg, issues=issues)
    assert res.gx_result is None and not res.to_json()["validation_enabled"]
    assert outcome(res) == {2: ("valid", ["parseable_Peso"]), 3: ("valid", []), 4: ("valid", []),
                            5: ("valid", []), 6: ("rejected", ["required_Contenedor"]),
                            7: ("rejected", ["key_parseable"])}
    assert set(res.rule_counts["rule"]) == {"required_Contenedor", "key_parseable", "parseable_Peso"}


# ---- results kept per run -------------------------------------------------------------------------

def test_results_summary_and_gx_result_for_data_docs():
    rows = [dict(Contenedor=f"MSCU{n:06d}0", Booking="EBKG12345678", Cliente="A") for n in range(30)]
    rows[0]["Contenedor"] = "MSCU1234566"
    res = validate(normalized(ARRIBOS, rows), ARRIBOS, Config())
    summary = json.loads(json.dumps(res.to_json()))
    assert summary["suite"] == "arribos" and summary["rows"] == 30 and summary["rejected"] == 0
    assert summary["success"] is False and summary["gx_success"] is False
    digit = next(r for r in summary["rules"] if r["rule"] == "container_check_digit")
    wrong = [r["Contenedor"] for r in rows if check_digit(r["Contenedor"]) != int(r["Contenedor"][-1])]
    assert digit["failed"] == len(wrong) > 20 and digit["failing_keys"] == wrong[:20]
    gx = res.gx_result
    assert gx.success is False and len(gx.results) == 7
    r = next(x for x in gx.results if x.expectation_config.meta["rule"] == "container_check_digit")
    assert r.result["unexpected_count"] == len(wrong) and "unexpected_list" not in r.result
    assert r.result["partial_unexpected_index_list"][0] == 3  # the _row, not a position
    assert json.dumps(gx.to_json_dict())


def test_frame_without_a_checked_column_is_a_clear_error():
    frame = normalized(ARRIBOS, [dict(Contenedor="MSCU1234566")]).drop(columns=["Cliente"])
    with pytest.raises(RulesError, match=r"arribos: the frame lacks column\(s\) Cliente"):
        validate(frame, ARRIBOS, Config())


def test_empty_frame():
    res = validate(normalized(EXPO, []), EXPO, Config())
    assert len(res.valid) == 0 and len(res.rejected) == 0 and res.success
    assert "validation_warnings" in res.valid.columns


def test_table_level_expectation_is_counted_but_tags_no_row():
    suite = load_suite("pendiente_desconsolidar")
    suite["expectations"].append({"type": "expect_table_row_count_to_be_between",
                                  "kwargs": {"min_value": 5}, "meta": {"rule": "enough_rows", "severity": "blocking"}})
    res = validate(normalized(PENDIENTE, [dict(Contenedor="MSCU1234566")]), PENDIENTE, Config(), suite=suite)
    assert counts(res)["enough_rows"] == 1 and len(res.valid) == 1 and res.rejected.empty


def test_issue_rows_match_the_index_when_there_is_no_row_column():
    frame = normalized(PENDIENTE, [dict(Contenedor="MSCU1234566")] * 2, index=[5, 9]).drop(columns=["_row"])
    issues = pd.DataFrame({"row": [9], "column": ["Entrega"], "value": ["32/13"], "problem": ["date"]})
    res = validate(frame, PENDIENTE, Config(), issues=issues)
    assert res.valid["validation_warnings"].to_dict() == {5: [], 9: ["parseable_Entrega"]}


def test_a_broken_suite_is_configuration_and_a_failed_validation_is_a_failed_sync():
    from trafico_lib.errors import EXIT_FAILED, EXIT_USAGE, SyncFailed, UsageError, exit_code
    assert issubclass(SuiteError, UsageError) and exit_code(SuiteError("x.json: broken")) == EXIT_USAGE
    assert issubclass(RulesError, SyncFailed) and exit_code(RulesError("arribos: no rows")) == EXIT_FAILED
