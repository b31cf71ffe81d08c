"""The table's current validation state (trafico_lib.health.table_state): counted in the
database whatever the last run re-read, the same on the direct and the REST store.

Scenario on both stores: a first (full) run, a no-op incremental run that re-reads nothing, a
full run that re-reads the broken row, the broken row fixed and synced; a second broken row
deleted from the source stays rejected until a whole read no longer meets it. At each step the
state counts the active target rows, the warnings the rows carry, and the rejects that are
current; and the run's summary points at a reject row that names it."""
from __future__ import annotations

import io
import json

import pytest
from test_engine import ARRIBOS, insert, run, src, store_config  # noqa: F401 - fixtures

from trafico_lib.cli.output import format_summary
from trafico_lib.health import run_health_check, state_line, state_table, table_state
from trafico_lib.rules.suites import load_suite, suite_rules
from trafico_lib.stores import open_store
from trafico_lib.stores.pg.health import PostgresHealthReader
from trafico_lib.tables import TABLES

SPEC = TABLES["arribos"]
direct_and_rest = pytest.mark.parametrize("store_config", ["direct", "rest"], indirect=True)


def _state(cfg, conn) -> dict:
    """The state through the store's own health reader; over REST, also checked equal to the
    direct statement's (all but ``as_of``, the clock at each read)."""
    with open_store(cfg).health_reader() as reader:
        state = table_state(reader, SPEC, cfg)
    direct = table_state(PostgresHealthReader(conn), SPEC, cfg)
    assert {k: v for k, v in state.items() if k != "as_of"} == {k: v for k, v in direct.items() if k != "as_of"}
    return state


def _check(cfg, as_json: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    code = run_health_check(cfg, as_json=as_json, out=out)
    return code, out.getvalue()


def _stored(conn) -> tuple[int, dict[str, int]]:
    """Active target rows, and per warning rule the active rows carrying it, as stored."""
    rows = conn.execute("SELECT count(*) FROM traficov2_arribos WHERE activo").fetchone()[0]
    warned = dict(conn.execute(
        "SELECT w, count(*) FROM traficov2_arribos t, jsonb_array_elements_text(t.validation_warnings) w "
        "WHERE t.activo GROUP BY w").fetchall())
    return rows, warned


def _rule(state: dict, name: str) -> dict:
    return next(r for r in state["rules"] if r["rule"] == name)


def _check_against_stored(state: dict, conn) -> None:
    rows, warned = _stored(conn)
    assert state["rows"] == rows
    for rule, n in warned.items():
        assert _rule(state, rule)["in_target"] == n, rule
    assert all(r["in_target"] == warned.get(r["rule"], 0) for r in state["rules"])
    assert state["warned_rows"] == conn.execute(
        "SELECT count(*) FROM traficov2_arribos WHERE activo AND jsonb_array_length(validation_warnings) > 0"
    ).fetchone()[0]


def _rejects(conn) -> list[tuple]:
    return conn.execute("SELECT run_id, last_run_id, sync_key, raw_row->>'Cliente' FROM traficov2_sync_rejects "
                        "ORDER BY id").fetchall()


@direct_and_rest
def test_state_counts_the_table_now_whatever_the_last_run_reread(src, store_config):  # noqa: F811
    cfg = store_config({"database": {"lookback_minutes": 0}})
    insert(src, "arribos", [*ARRIBOS, {"Contenedor": "-", "Cliente": "Sin contenedor"}])
    src.execute("UPDATE arribos SET updated_at = now() - interval '1 day'")
    src.execute("""UPDATE arribos SET updated_at = now() - interval '2 days' WHERE "Cliente" = 'Sin contenedor'""")

    first = run(cfg, mode="full")
    assert first.counts["inserted"] == 3 and first.counts["rejected"] == 1
    state = _state(cfg, src)
    _check_against_stored(state, src)
    assert state["rows"] == 3 and state["rejected_rows"] == 1 and state["warned_rows"] == 3
    # every rule of the suite, in its order, clean ones at 0
    assert [r["rule"] for r in state["rules"]][:len(suite_rules(load_suite("arribos", cfg)))] == [
        r["rule"] for r in suite_rules(load_suite("arribos", cfg))]
    assert _rule(state, "container_format")["failed"] == 0
    key_rule = _rule(state, "required_Contenedor")
    assert (key_rule["severity"], key_rule["failed"], key_rule["in_target"], key_rule["rejected"]) == (
        "blocking", 1, 0, 1)
    assert key_rule["failing_rows"] == [{"row": 4, "key": {"Contenedor": None}, "value": None}]
    booking = _rule(state, "required_Booking")
    assert (booking["failed"], booking["in_target"], booking["rejected"]) == (4, 3, 1)  # the reject has none either
    assert [f["key"]["Contenedor"] for f in booking["failing_rows"]] == ["CSQU3054383", "MSCU1234566", "TCNU7200794",
                                                                         None]
    shown = state_table(state)  # the sync notebook's last cell
    assert shown.loc["required_Contenedor", "first failing"] == "row 4" and shown.loc["container_format",
                                                                                      "failing now"] == 0
    assert state_line(state).startswith("the table now: 3 rows, 3 with warnings, 1 source row rejected (at ")
    assert [r[:2] for r in _rejects(src)] == [(first.run_id, first.run_id)]
    # the health check carries the same state (JSON), and its block's lines add up
    code, text = _check(cfg, as_json=True)
    facts = json.loads(text)
    arribos = next(t for t in facts["tables"] if t["table"] == "arribos")
    assert {k: arribos["state"][k] for k in ("rows", "warned_rows", "rejected_rows")} == {
        "rows": 3, "warned_rows": 3, "rejected_rows": 1}
    assert len(arribos["state"]["rules"]) == len(state["rules"])
    block = _check(cfg)[1].splitlines()
    assert "  arribos: 4 ✓ (3 distinct Contenedor, 1 row without key)" in block
    assert "  traficov2_arribos: 3 ✓ (3 with warnings, 1 source row rejected)" in block

    # a no-op incremental run re-reads nothing: the table and its reject are as they were
    second = run(cfg, mode="incremental")
    assert second.counts["read"] == 0 and second.counts["rejected"] == 0
    again = _state(cfg, src)
    _check_against_stored(again, src)
    assert {k: v for k, v in again.items() if k != "as_of"} == {k: v for k, v in state.items() if k != "as_of"}

    # a full run re-reads the broken row: the same reject, not recorded twice, marked seen by this run,
    # so the summary's "see traficov2_sync_rejects, last_run_id = this run" holds
    third = run(cfg, mode="full", skip_unchanged=False)  # (unchanged since the first: else its log row only)
    assert third.counts["rejected"] == 1
    assert [r[:2] for r in _rejects(src)] == [(first.run_id, third.run_id)]
    summary = format_summary([third.to_dict()], store="x", run_id=third.run_id)
    assert "rejected 1 (see traficov2_sync_rejects, last_run_id = this run)" in summary
    assert _state(cfg, src)["rejected_rows"] == 1

    # the row fixed and synced by an incremental run: no longer rejected
    src.execute("""UPDATE arribos SET "Contenedor" = 'GYOU4047990', updated_at = now()
                   WHERE "Cliente" = 'Sin contenedor'""")
    fourth = run(cfg, mode="incremental")
    assert fourth.counts["inserted"] == 1
    fixed = _state(cfg, src)
    _check_against_stored(fixed, src)
    assert fixed["rows"] == 4 and fixed["rejected_rows"] == 0 and _rule(fixed, "required_Contenedor")["failed"] == 0

    # a broken row deleted from the source: an incremental run does not know, a whole read does
    insert(src, "arribos", [{"Contenedor": "-", "Cliente": "Otra sin contenedor"}])
    run(cfg, mode="incremental")
    assert _state(cfg, src)["rejected_rows"] == 1
    src.execute("""DELETE FROM arribos WHERE "Cliente" = 'Otra sin contenedor'""")
    run(cfg, mode="incremental")
    assert _state(cfg, src)["rejected_rows"] == 1
    run(cfg, mode="full")
    gone = _state(cfg, src)
    assert gone["rejected_rows"] == 0 and gone["rows"] == 4


@direct_and_rest
def test_a_duplicate_seen_again_is_marked_with_the_run_that_saw_it(src, store_config):  # noqa: F811
    cfg = store_config()
    insert(src, "arribos", [ARRIBOS[0], {**ARRIBOS[0], "Cliente": "Otro"}])
    first = run(cfg, mode="full")
    second = run(cfg, mode="full", skip_unchanged=False)  # (unchanged: else its log row only, pipeline/probe.py)
    assert first.counts["duplicates"] == second.counts["duplicates"] == 1
    rows = src.execute("SELECT run_id, last_run_id FROM traficov2_sync_changes WHERE field = 'duplicate'").fetchall()
    assert rows == [(first.run_id, second.run_id)]
    summary = format_summary([second.to_dict()], store="x", run_id=second.run_id)
    assert "all in traficov2_sync_changes (field 'duplicate', last_run_id = this run)" in summary
