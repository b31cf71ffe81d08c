"""The health check's aggregates are written once (``stores/sql/health.py``): the direct path's
reader runs them on its connection, the REST store's calls the functions rendered from them.
One database, both readers, every question the check asks: the same answers, with more than
1,000 rows behind each list, so Supabase's row cap (a real PostgREST with ``db-max-rows``
1000) would show if a reader were cut by it."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest

from trafico_lib.sample import create_source_tables
from trafico_lib.stores.pg.health import PostgresHealthReader
from trafico_lib.stores.rest.store import RestStore

MANY = 1_300  # past the 1,000-row cap


@pytest.fixture
def filled(conn):
    """Sources, a target, the log, rejects, states and a lease, each past the cap; made before
    PostgREST starts, so it serves them without a schema reload."""
    create_source_tables(conn)
    conn.execute(f"""
        INSERT INTO remisiones ("Operacion", "Contenedor", fecha_modificacion)
        SELECT 'OP-' || (g % 700), CASE WHEN g % 9 = 0 THEN NULL ELSE 'C' || (g % 1100) END,
               '2026-11-29 10:00+00'::timestamptz + g * interval '1 minute'
          FROM generate_series(1, {MANY}) g;
        INSERT INTO traficov2_remisiones ("Operacion", sync_key, activo)
        SELECT 'OP-' || g, 'OP-' || g || '|C' || g, g % 7 <> 0 FROM generate_series(1, {MANY}) g;
        INSERT INTO traficov2_sync_log (table_name, operation, sync_timestamp, details)
        SELECT CASE WHEN g % 2 = 0 THEN 'traficov2_remisiones' ELSE 'traficov2_arribos' END,
               CASE WHEN g % 5 = 0 THEN 'ERROR' ELSE 'SYNC' END, now() - g * interval '1 minute',
               jsonb_build_object('run_id', 'run-' || (g / 3), 'notebook', 'runs/n' || g || '.ipynb',
                                  'error', CASE WHEN g % 5 = 0 THEN 'boom ' || g END, 'n', g)
          FROM generate_series(1, {MANY}) g;
        INSERT INTO traficov2_sync_rejects (run_id, table_name, sync_key, reasons, created_at)
        SELECT 'run-' || (g % 40), 'traficov2_remisiones', CASE WHEN g % 11 = 0 THEN NULL ELSE 'K' || g END,
               CASE WHEN g % 3 = 0 THEN '"not_null:Operacion"'::jsonb
                    ELSE jsonb_build_array('format:Contenedor', 'rule ' || (g % 4)) END,
               now() - g * interval '1 minute'
          FROM generate_series(1, {MANY}) g;
        INSERT INTO traficov2_sync_state (table_name, watermark, last_success_at, last_run_id, lease_run_id,
                                          lease_holder, lease_taken_at, lease_renewed_at, lease_expires_at)
        VALUES ('traficov2_remisiones', '2026-11-29 20:00+00', now() - interval '2 hours', 'run-1', NULL,
                NULL, NULL, NULL, NULL),
               ('traficov2_arribos', NULL, NULL, NULL, 'run-9', 'host:1', now() - interval '1 minute',
                now(), now() + interval '1 minute')""")
    return conn


def _answers(reader) -> dict:
    since = reader.states()["traficov2_remisiones"]["watermark"]
    keys = ["id", "Operacion", "Contenedor"]

    def groups(*args, **kw):
        frame = reader.source_key_groups(*args, **kw)
        return sorted(map(tuple, frame.astype(object).where(frame.notna(), None).values.tolist()),
                      key=lambda r: tuple("" if v is None else str(v) for v in r))
    return {
        "existing_tables": reader.existing_tables(["remisiones", "traficov2_remisiones", "no_such_table"]),
        "columns": reader.columns("remisiones"),
        "failed_syncs": reader.failed_syncs(24),
        "rejects_per_table": reader.rejects_per_table(24),
        "last_run": reader.last_run(),
        "states": reader.states(),
        "leases": reader.leases(),
        "sync_log": reader.sync_log(7),
        "rejects_by_rule": reader.rejects_by_rule(7),
        "groups_by_id": groups("remisiones", keys, changed_column="fecha_modificacion", since=since),
        "groups_by_operation": groups("remisiones", ["Operacion", "Contenedor"], changed_column="fecha_modificacion",
                                      since=since),
        "groups_no_change_column": groups("remisiones", ["Contenedor"]),
        "groups_no_key": groups("remisiones", []),
        "groups_empty_table": groups("arribos", ["Contenedor"]),
        "target_counts": reader.target_counts("traficov2_remisiones"),
        "active_keys": reader.active_keys("traficov2_remisiones", "sync_key"),
        "rejected_keys": reader.rejected_keys("traficov2_remisiones"),
    }


def test_the_direct_and_rest_readers_give_the_same_answers_past_the_row_cap(filled, postgrest):
    direct = _answers(PostgresHealthReader(filled))
    with RestStore(postgrest.url, postgrest.service_key).health_reader() as reader:
        assert abs(reader.now() - PostgresHealthReader(filled).now()) < timedelta(seconds=30)
        rest = _answers(reader)
    assert set(rest) == set(direct)
    for k in direct:
        assert rest[k] == direct[k], k
    # the lists behind the answers are past the cap, so a capped read would have differed
    assert len(direct["sync_log"]) > 1000 and len(direct["groups_by_id"]) == MANY
    assert len(direct["active_keys"]) > 1000 and len(direct["rejected_keys"]) > 1000
    assert direct["failed_syncs"][0] > 100 and len(direct["failed_syncs"][1]) == 20
    assert direct["target_counts"] == (MANY, MANY - MANY // 7)
    assert direct["rejects_per_table"] == {"traficov2_remisiones": MANY}
    assert {r[1] for r in direct["rejects_by_rule"]} == {"not_null:Operacion", "format:Contenedor",
                                                         "rule 0", "rule 1", "rule 2", "rule 3"}
    pending = [r[2] for r in direct["groups_by_operation"]]
    assert any(pending) and not all(pending)  # rows changed after the watermark, and rows before it
    assert direct["groups_no_key"] == [(False, MANY)]
    assert direct["groups_empty_table"] == []
    assert [x["target"] for x in direct["leases"]] == ["traficov2_arribos"]
    assert direct["last_run"]["run_id"] == "run-0" and len(direct["last_run"]["tables"]) == 2
    assert json.dumps(direct["sync_log"][0][3])  # details as the database holds them


def test_an_unreachable_supabase_project_is_one_line_of_the_block_and_exit_1(make_config, tmp_path, monkeypatch):
    """The REST store's project does not answer (nothing listens on its port: PostgREST
    stopped): the health check still prints its block, the connection ✗ with one line of
    reason and no traceback or key, and exits non-zero, as it does for a direct database that
    is down (tests/test_health.py)."""
    import io
    import socket

    import jwt

    from trafico_lib.health import run_health_check
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    key = jwt.encode({"role": "service_role", "iss": "supabase", "ref": "planted-SECRET-7f3a"}, "x" * 40,
                     algorithm="HS256")
    monkeypatch.setenv("SUPABASE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("SUPABASE_KEY", key)
    cfg = make_config({"audit_archive": {"path": str(tmp_path / "runs")}, "health": {"min_free_disk_mb": 0}})
    out = io.StringIO()
    code = run_health_check(cfg, out=out)
    text = out.getvalue()
    lines = text.splitlines()
    assert lines[:2] == ["=== System Health Check ===", "Database Connection: ✗"], text
    assert lines[2].startswith("  ") and f"127.0.0.1:{port}" in lines[2]  # the reason, on one line
    assert "Traceback" not in text and "planted-SECRET" not in text and key not in text
    assert "Table Row Counts:" not in lines and "Status: UNHEALTHY" in lines and code == 1
