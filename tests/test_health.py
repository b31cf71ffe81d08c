"""The health check against a real database: healthy and unhealthy states built by hand in
PostgreSQL, the printed block line by line, the JSON document, exit codes, the stopped
database, and one state produced by the real pipeline."""
from __future__ import annotations

import io
import json
import re
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from trafico_lib.cli import main
from trafico_lib.health import gather_facts, lag_history, rejects_by_rule, render_block, run_health_check
from trafico_lib.sample import create_source_tables
from trafico_lib.stores.pg.health import PostgresHealthReader

NOTEBOOK = "runs/2026/11/29/run-1_arribos.ipynb"


# ---- building states ----------------------------------------------------------------------------

def _insert(conn, table: str, rows: list[dict]) -> None:
    for row in rows:
        cols = ", ".join(f'"{c}"' for c in row)
        conn.execute(f'INSERT INTO "{table}" ({cols}) VALUES ({", ".join(["%s"] * len(row))})', list(row.values()))


def _synced(conn, target: str, *, hours_ago: float = 1.0, run_id: str = "run-1", notebook: str | None = NOTEBOOK):
    conn.execute("INSERT INTO traficov2_sync_state (table_name, watermark, last_success_at, last_run_id) "
                 "VALUES (%s, now(), now() - %s::interval, %s) ON CONFLICT (table_name) DO UPDATE SET "
                 "watermark = EXCLUDED.watermark, last_success_at = EXCLUDED.last_success_at",
                 (target, f"{hours_ago} hours", run_id))
    details = {"run_id": run_id, "mode": "full", "notebook": notebook, "duration_seconds": 1.5,
               "counts": {"read": 2, "inserted": 2, "updated": 0, "unchanged": 0, "rejected": 0, "deactivated": 0}}
    conn.execute("INSERT INTO traficov2_sync_log (table_name, operation, source_table, sync_timestamp, details) "
                 "VALUES (%s, 'SYNC', %s, now() - %s::interval, %s)",
                 (target, target.removeprefix("traficov2_"), f"{hours_ago} hours", json.dumps(details)))


def _healthy_state(conn) -> None:
    """Sources in the live formats and targets that account for every row; synced an hour ago."""
    create_source_tables(conn)
    _insert(conn, "arribos", [{"Contenedor": "MSCU-123456-6"}, {"Contenedor": "mscu 1234566 "},  # one key twice
                              {"Contenedor": "TGHU1234567"}, {"Contenedor": "-"}])          # and one without
    _insert(conn, "traficov2_arribos", [{"Contenedor": "MSCU1234566", "sync_key": "MSCU1234566"},
                                        {"Contenedor": "TGHU1234567", "sync_key": "TGHU1234567"}])
    _insert(conn, "pendiente_desconsolidar", [{"Contenedor": "ABCU1111111"}])
    _insert(conn, "traficov2_pendiente_desconsolidar", [{"Contenedor": "ABCU1111111", "sync_key": "ABCU1111111"}])
    _insert(conn, "remisiones", [{"Operacion": "37644-1-1", "Contenedor": "MSCU-123456-6"},
                                 {"Operacion": " 37645 -1-1", "Contenedor": ""}])
    _insert(conn, "traficov2_remisiones", [{"Operacion": "37644-1-1", "sync_key": "37644-1-1|MSCU1234566"},
                                           {"Operacion": "37645-1-1", "sync_key": "37645-1-1"}])
    _insert(conn, "arribos_expo_ctns", [{"Booking": "bk 001", "Cantidad": "3"},
                                        {"Booking": "BK002", "Contenedor": "TGHU1234567", "Cantidad": "1"}])
    _insert(conn, "traficov2_arribos_ctns_expo",
            [{"Booking": "BK001", "Secuencia": i, "Cantidad": 1, "sync_key": f"BK001|{i}"} for i in (1, 2, 3)]
            + [{"Booking": "BK002", "Secuencia": 1, "Cantidad": 1, "Contenedor": "TGHU1234567", "sync_key": "BK002|1"}])
    for t in ("traficov2_arribos", "traficov2_pendiente_desconsolidar", "traficov2_remisiones",
              "traficov2_arribos_ctns_expo"):
        _synced(conn, t)


@pytest.fixture
def cfg_for(make_config, tmp_path):
    def factory(db_url: str, **extra) -> object:
        data = {"audit_archive": {"path": str(tmp_path / "runs")}, "health": {"min_free_disk_mb": 0}}
        for k, v in extra.items():
            data[k] = {**data.get(k, {}), **v}
        return make_config(data, db_url=db_url)
    return factory


@pytest.fixture
def healthy(conn, db_url, cfg_for):
    _healthy_state(conn)
    return cfg_for(db_url)


def _check(cfg, as_json: bool = False) -> tuple[int, str]:
    out = io.StringIO()
    code = run_health_check(cfg, as_json=as_json, out=out)
    return code, out.getvalue()


# ---- healthy ----------------------------------------------------------------------------------

def test_healthy_block_line_by_line(healthy, tmp_path):
    code, text = _check(healthy)
    lines = text.splitlines()
    expected = [
        "=== System Health Check ===",
        "Database Connection: ✓",
        "Failed Syncs (24h): 0",
        "Rejects (24h): 0",
        "Table Row Counts:",
        # the source's rows add up: 4 = 2 keys + 1 duplicate + 1 without key; the target's line is its own
        "  arribos: 4 ✓ (2 distinct Contenedor, 1 duplicate row merged, 1 row without key)",
        "  traficov2_arribos: 2 ✓",
        "  pendiente_desconsolidar: 1 ✓ (1 distinct Contenedor)",
        "  traficov2_pendiente_desconsolidar: 1 ✓",
        "  remisiones: 2 ✓ (2 distinct Operacion + Contenedor)",
        "  traficov2_remisiones: 2 ✓",
        "  arribos_expo_ctns: 2 ✓ (2 distinct bookings)",
        "  traficov2_arribos_ctns_expo: 4 ✓",
        "Sync Lag (hours):",
        "  traficov2_arribos: 1.0h",
        "  traficov2_pendiente_desconsolidar: 1.0h",
        "  traficov2_remisiones: 1.0h",
        "  traficov2_arribos_ctns_expo: 1.0h",
    ]
    assert lines[:len(expected)] == expected
    store, *rest = lines[len(expected):]
    assert store.startswith("Store: PostgreSQL") and "@" not in store, store
    assert re.fullmatch(r"Last Run: run-1 at \d{4}-\d\d-\d\d \d\d:\d\d UTC", rest[0])
    assert rest[1] == f"  archive: {NOTEBOOK}"
    # the newest run whose notebook the archive keeps (a run that changed nothing is its log row)
    assert re.fullmatch(rf"Last change archived: \d{{4}}-\d\d-\d\d \d\d:\d\d UTC, run run-1, {re.escape(NOTEBOOK)}",
                        rest[2]), rest[2]
    assert rest[3] == "Free Disk (MB):"
    assert re.fullmatch(r"  archive \(runs\): \d+ ✓", rest[4])  # relative to the config file's folder
    assert rest[5:] == ["Status: HEALTHY"]
    assert code == 0


def test_json_document_has_the_same_facts(healthy):
    code, text = _check(healthy, as_json=True)
    doc = json.loads(text)  # one JSON document, nothing else printed
    assert code == 0 and doc["exit_code"] == 0 and doc["healthy"] is True and doc["status"] == "healthy"
    assert set(doc) >= {"checked_at", "thresholds", "database", "failed_syncs_24h", "rejects_24h", "tables",
                        "last_run", "sql_server", "disk", "problems", "warnings", "config_errors", "archive_root"}
    assert doc["database"]["ok"] is True and doc["database"]["error"] is None
    assert doc["thresholds"] == {"max_lag_hours": 24.0, "max_failed_syncs_24h": 0, "min_free_disk_mb": 0}
    assert doc["failed_syncs_24h"] == 0 and doc["rejects_24h"] == 0
    assert doc["last_run"]["run_id"] == "run-1" and doc["last_run"]["archive_paths"] == [NOTEBOOK]
    assert doc["sql_server"] == {"enabled": False}
    assert [d["what"] for d in doc["disk"]] == ["archive"]  # a database URL: no embedded data folder
    by = {t["table"]: t for t in doc["tables"]}
    assert list(by) == ["arribos", "pendiente_desconsolidar", "remisiones", "arribos_expo_ctns"]
    a = by["arribos"]
    assert a["source"] == {"kind": "database", "name": "arribos", "exists": True, "rows": 4,
                           "updated_column": "updated_at"}
    assert a["target"] == {"name": "traficov2_arribos", "exists": True, "rows": 2, "active_rows": 2}
    assert (a["source_keys"], a["unkeyed_rows"], a["synced_keys"], a["missing_keys"]) == (2, 1, 2, 0)
    assert a["counts_ok"] is True and a["lag_ok"] is True and 0.9 < a["lag_hours"] < 1.1
    assert a["last_run_id"] == "run-1"
    assert by["arribos_expo_ctns"]["compared_on"] == "distinct bookings"
    assert by["arribos_expo_ctns"]["source_keys"] == 2 and by["arribos_expo_ctns"]["target"]["active_rows"] == 4
    assert by["remisiones"]["compared_on"] == "distinct Operacion + Contenedor"


def test_cli_health_check_uses_the_same_check(healthy, capsys):
    assert main(["--health-check", "--config", healthy.source_path]) == 0
    assert capsys.readouterr().out.startswith("=== System Health Check ===\nDatabase Connection: ✓\n")
    assert main(["--health-check", "--json", "--config", healthy.source_path]) == 0
    assert json.loads(capsys.readouterr().out)["healthy"] is True


# ---- unhealthy ---------------------------------------------------------------------------------

def test_never_synced_table_is_unhealthy(healthy, conn):
    conn.execute("DELETE FROM traficov2_sync_state WHERE table_name = 'traficov2_remisiones'")
    code, text = _check(healthy)
    assert "  traficov2_remisiones: Never synced ✗" in text.splitlines()
    assert text.splitlines()[-2:] == ["Status: UNHEALTHY", "  - traficov2_remisiones never synced"]
    assert code == 1


def test_error_row_within_24h_counts_against_the_configured_maximum(healthy, conn, db_url, cfg_for):
    conn.execute("INSERT INTO traficov2_sync_log (table_name, operation, sync_timestamp, details) VALUES "
                 "('traficov2_arribos', 'ERROR', now() - interval '25 hours', '{\"error\": \"old\"}'), "
                 "('traficov2_arribos', 'ERROR', now() - interval '2 hours', "
                 "'{\"run_id\": \"run-0\", \"error\": \"cannot connect\"}')")
    code, text = _check(healthy)
    lines = text.splitlines()
    assert lines[2] == "Failed Syncs (24h): 1 ✗ (max 0)"  # the 25-hour-old one does not count
    assert re.fullmatch(r"  traficov2_arribos at .* UTC: cannot connect", lines[3])
    assert "  - 1 failed sync(s) in 24h (max 0)" in lines and code == 1
    code, text = _check(cfg_for(db_url, health={"max_failed_syncs_24h": 1}))
    assert "Failed Syncs (24h): 1" in text.splitlines() and code == 0


def test_target_missing_rows_shows_the_difference(healthy, conn):
    conn.execute("DELETE FROM traficov2_arribos WHERE sync_key = 'TGHU1234567'")
    code, text = _check(healthy)
    assert "  traficov2_arribos: 1 ✗ (missing 1 of 2 source keys)" in text.splitlines()
    assert "  - traficov2_arribos lacks 1 of 2 source keys" in text.splitlines() and code == 1
    facts = gather_facts(healthy)
    assert facts["tables"][0]["missing_sample"] == ["TGHU1234567"]
    # a deactivated row does not account for its key either
    conn.execute("INSERT INTO traficov2_arribos (\"Contenedor\", sync_key, activo) VALUES ('TGHU1234567', 'TGHU1234567', false)")
    assert _check(healthy)[0] == 1
    # a rejected key is accounted for
    conn.execute("INSERT INTO traficov2_sync_rejects (run_id, table_name, sync_key, reasons) VALUES "
                 "('run-1', 'traficov2_arribos', 'TGHU1234567', '[\"container_format\"]')")
    code, text = _check(healthy)
    # the target line counts the source rows rejected now: the reject's key has no active row
    assert "  traficov2_arribos: 1 ✓ (1 source row rejected)" in text.splitlines()
    assert "Rejects (24h): 1" in text.splitlines() and code == 0


def test_rows_newer_than_the_watermark_are_pending_not_missing(healthy, conn):
    _insert(conn, "arribos", [{"Contenedor": "NEWU0000001"}])  # updated_at = now() > watermark
    code, text = _check(healthy)
    assert "  traficov2_arribos: 2 ✓ (1 source key pending)" in text.splitlines() and code == 0
    # no change-timestamp column: nothing can be pending, the new row is missing
    _insert(conn, "pendiente_desconsolidar", [{"Contenedor": "NEWU0000001"}])
    code, text = _check(healthy)
    assert "  traficov2_pendiente_desconsolidar: 1 ✗ (missing 1 of 2 source keys)" in text.splitlines()
    assert code == 1


def test_expo_compares_distinct_bookings(healthy, conn):
    conn.execute("DELETE FROM traficov2_arribos_ctns_expo WHERE sync_key IN ('BK001|2', 'BK001|3')")
    code, text = _check(healthy)  # fewer slots than demand is the expo engine's business, not a loss
    assert "  traficov2_arribos_ctns_expo: 2 ✓" in text.splitlines() and code == 0
    _insert(conn, "arribos_expo_ctns", [{"Booking": "BK003", "Cantidad": "2"}])
    code, text = _check(healthy)
    assert "  traficov2_arribos_ctns_expo: 2 ✗ (missing 1 of 3 source keys)" in text.splitlines() and code == 1
    # an apply-time reject of a slot (Booking|Secuencia) accounts for its booking
    conn.execute("INSERT INTO traficov2_sync_rejects (run_id, table_name, sync_key) VALUES "
                 "('run-2', 'traficov2_arribos_ctns_expo', 'BK003|1')")
    assert _check(healthy)[0] == 0


def test_lag_over_the_configured_threshold(healthy, db_url, cfg_for):
    code, text = _check(cfg_for(db_url, health={"max_lag_hours": 0.5}))
    assert "  traficov2_arribos: 1.0h ✗ (max 0.5h)" in text.splitlines()
    assert "  - traficov2_arribos lag 1.0h over 0.5h" in text.splitlines()
    assert code == 1


def test_fresh_database_without_source_tables(conn, db_url, cfg_for):
    code, text = _check(cfg_for(db_url))
    lines = text.splitlines()
    assert "  arribos: missing ✗" in lines and "  traficov2_arribos: 0 ✗ (source missing)" in lines
    assert "  traficov2_arribos: Never synced ✗" in lines
    assert "Last Run: none" in lines and code == 1


def test_schema_not_initialised(empty_db_url, cfg_for):
    code, text = _check(cfg_for(empty_db_url))
    lines = text.splitlines()
    assert lines[1] == "Database Connection: ✓"
    assert lines[2].startswith("  schema missing: traficov2_sync_log") and lines[2].endswith("(run --init-db)")
    assert "Table Row Counts:" not in lines and code == 1


@pytest.mark.parametrize("where", ["socket dir without a server", "database that does not exist"])
def test_database_down_is_one_line_and_quick(where, pg_server, tmp_path, cfg_for, capsys):
    if where.startswith("socket"):
        (tmp_path / "nosock").mkdir()
        url = f"postgresql://postgres@/postgres?host={tmp_path / 'nosock'}"
    else:
        head, _, query = pg_server.partition("?")
        url = head.rsplit("/", 1)[0] + "/no_such_database" + ("?" + query if query else "")
    cfg = cfg_for(url)
    t0 = time.monotonic()
    code, text = _check(cfg)
    assert time.monotonic() - t0 < 5
    lines = text.splitlines()
    assert lines[:2] == ["=== System Health Check ===", "Database Connection: ✗"]
    assert lines[2].startswith("  cannot connect to ") and "Traceback" not in text
    assert "Table Row Counts:" not in lines and lines[-2] == "Status: UNHEALTHY" and code == 1
    doc = json.loads(_check(cfg, as_json=True)[1])
    assert doc["database"]["ok"] is False and doc["exit_code"] == 1 and "\n" not in doc["database"]["error"]
    assert main(["--health-check", "--config", cfg.source_path]) == 1
    assert capsys.readouterr().err == ""


def _closed_port() -> int:
    """A local TCP port nothing listens on (bound, then let go)."""
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _service_key() -> str:
    """A JWT of the form a Supabase service_role key has (the store checks its role before asking anything)."""
    import base64
    claims = base64.urlsafe_b64encode(json.dumps({"role": "service_role"}).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJIUzI1NiJ9.{claims}.c2lnbmF0dXJlc2lnbmF0dXJl"


@pytest.mark.parametrize("store", ["direct", "rest"])
def test_an_unreachable_store_of_either_kind_is_the_blocks_one_line(store, make_config, capsys):
    """Nothing listens where the database (or the Supabase project's API) should be: both stores
    say so by one StoreUnavailable, which the health check turns into its block's one line
    (exit 1), never a traceback."""
    port = _closed_port()
    if store == "direct":
        cfg = make_config({"health": {"min_free_disk_mb": 0}, "database": {"connect_timeout_seconds": 2}},
                          db_url=f"postgresql://trafico:TopSecret99@127.0.0.1:{port}/depo")
        name = "PostgreSQL at 127.0.0.1/depo"
    else:
        cfg = make_config({"health": {"min_free_disk_mb": 0},
                           "supabase": {"url": f"http://127.0.0.1:{port}", "key": _service_key()}})
        name = f"Supabase REST API (127.0.0.1:{port})"
    code, text = _check(cfg)
    lines = text.splitlines()
    assert lines[:2] == ["=== System Health Check ===", "Database Connection: ✗"], text
    assert lines[2].startswith(f"  cannot connect to {name}: ") and "Traceback" not in text
    assert "Table Row Counts:" not in lines and "Status: UNHEALTHY" in lines and code == 1
    assert "TopSecret99" not in text and _service_key().split(".")[2] not in text
    assert main(["--health-check", "--config", cfg.source_path]) == 1
    out = capsys.readouterr()
    assert out.err == "" and f"cannot connect to {name}: " in out.out


# ---- configuration, SQL Server, disk -------------------------------------------------------------

def test_bad_configuration_exits_2(healthy, db_url, cfg_for, tmp_path):
    code, text = _check(cfg_for(db_url, sql_server={"enabled": True, "server": ""}))
    assert "Configuration: ✗ SQL Server: sql_server.server is not set (nor sql_server.connection_string)" \
        in text.splitlines()
    assert text.splitlines()[-1] == "Status: BAD CONFIGURATION" and code == 2
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    facts = gather_facts(str(broken))
    assert facts["exit_code"] == 2 and "broken JSON" in facts["config_errors"][0]
    assert main(["--health-check", "--config", str(broken)]) == 2


def _odbc_string(db_url: str, driver: str) -> str:
    parts = urlsplit(db_url)
    socket_dir = parse_qs(parts.query)["host"][0]
    port = next(p.name.rsplit(".", 1)[1] for p in Path(socket_dir).glob(".s.PGSQL.*") if not p.name.endswith(".lock"))
    return (f"Driver={{{driver}}};Servername={socket_dir};Port={port};"
            f"Database={parts.path.lstrip('/')};Username=postgres;")


def test_sql_server_reachability_when_enabled(healthy, db_url, cfg_for):
    pyodbc = pytest.importorskip("pyodbc", exc_type=ImportError,  # (a missing libodbc.so.2 is an ImportError)
                                 reason="pyodbc cannot load unixODBC (apt-get install unixodbc odbc-postgresql; "
                                        "make test installs them as root)")
    code, text = _check(cfg_for(db_url, sql_server={"enabled": True, "connection_string": "Driver={No Such Driver};"}))
    lines = text.splitlines()
    i = lines.index("SQL Server: ✗")
    assert "No Such Driver" in lines[i + 1]
    assert any(x.startswith("Warning: SQL Server:") for x in lines) and code == 0  # a warning, not unhealthy
    drivers = [d for d in pyodbc.drivers() if d.lower().startswith("postgresql")]
    if not drivers:
        pytest.skip("the PostgreSQL ODBC driver is not installed (apt-get install unixodbc odbc-postgresql)")
    code, text = _check(cfg_for(db_url, sql_server={"enabled": True,
                                                    "connection_string": _odbc_string(db_url, drivers[-1])}))
    assert "SQL Server: ✓" in text.splitlines() and code == 0


def test_low_disk_is_a_warning(healthy, db_url, cfg_for):
    code, text = _check(cfg_for(db_url, health={"min_free_disk_mb": 10**12}))
    assert any(re.fullmatch(r"  archive \(.*\): \d+ ⚠", x) for x in text.splitlines())
    assert any(x.startswith("Warning: low disk for the archive") for x in text.splitlines())
    assert code == 0


def test_embedded_database_disk_is_checked(make_config, tmp_path):
    """Without a database URL the embedded data folder is a disk place too (no connection needed)."""
    from trafico_lib.health import disk_facts
    cfg = make_config({"database": {"embedded_path": str(tmp_path / "pg")}, "audit_archive": {"path": "runs"}})
    places = disk_facts(cfg)
    assert [p["what"] for p in places] == ["archive", "database"]
    assert places[1]["path"] == "pg" and places[1]["free_mb"] > 0  # shown relative to the config's folder


# ---- for the notebook ---------------------------------------------------------------------------

def test_lag_history_and_rejects_by_rule(healthy, conn):
    _synced(conn, "traficov2_arribos", hours_ago=0.5, run_id="run-2")
    conn.execute("INSERT INTO traficov2_sync_log (table_name, operation, sync_timestamp, details) VALUES "
                 "('traficov2_arribos', 'SYNC', now() - interval '9 days', '{}'), "
                 "('traficov2_arribos', 'ERROR', now() - interval '10 minutes', '{\"run_id\": \"run-3\", \"error\": \"x\"}')")
    conn.execute("INSERT INTO traficov2_sync_rejects (run_id, table_name, sync_key, reasons) VALUES "
                 "('run-1', 'traficov2_arribos', 'AB', '[\"key_parseable\", \"container_format\"]'), "
                 "('run-2', 'traficov2_arribos', 'AB', '[\"key_parseable\"]'), "
                 "('run-2', 'traficov2_arribos', NULL, '[\"required_Contenedor\"]')")
    conn.execute("INSERT INTO traficov2_sync_rejects (run_id, table_name, sync_key, reasons, created_at) VALUES "
                 "('run-0', 'traficov2_arribos', 'OLD', '[\"key_parseable\"]', now() - interval '8 days')")
    reader = PostgresHealthReader(conn)  # what store.health_reader() yields
    hist = lag_history(reader, days=7)
    arr = hist[hist["table"] == "traficov2_arribos"].reset_index(drop=True)
    assert arr["run_id"].tolist() == ["run-1", "run-2", "run-3"]  # the 9-day-old run is outside the window
    assert arr["operation"].tolist() == ["SYNC", "SYNC", "ERROR"]
    assert pd_isnan(arr.loc[0, "lag_hours"]) and abs(arr.loc[1, "lag_hours"] - 0.5) < 0.01
    assert arr.loc[0, "rows_changed"] == 2 and arr.loc[2, "error"] == "x"
    assert {"sync_timestamp", "inserted", "updated", "deactivated", "run_seconds", "write_seconds"} <= set(hist.columns)
    rej = rejects_by_rule(reader, days=7)
    got = {r.rule: (r.rows, r.distinct_keys, r.runs) for r in rej.itertuples()}
    assert got == {"key_parseable": (2, 1, 2), "container_format": (1, 1, 1), "required_Contenedor": (1, 0, 1)}
    assert rej.iloc[0]["rule"] == "key_parseable" and set(rej["table"]) == {"traficov2_arribos"}


def test_the_block_points_at_the_html_renderings_relative_to_the_config_folder(healthy, conn, tmp_path):
    """A log row holding an absolute archive path (as runs logged it before) is shown relative
    to the configuration's folder, and as its .html rendering when there is one."""
    day = tmp_path / "runs" / "2026" / "11" / "30"
    day.mkdir(parents=True)
    (day / "run-2_sync_arribos.ipynb").write_text("{}", encoding="utf-8")
    (day / "run-2_sync_arribos.html").write_text("<html></html>", encoding="utf-8")
    _synced(conn, "traficov2_arribos", hours_ago=0.1, run_id="run-2", notebook=str(day / "run-2_sync_arribos.ipynb"))
    _synced(conn, "traficov2_remisiones", hours_ago=0.1, run_id="run-2",
            notebook="runs/2026/11/30/run-2_sync_remisiones.ipynb")  # no rendering: the notebook itself
    code, text = _check(healthy)
    lines = text.splitlines()
    i = lines.index(next(x for x in lines if x.startswith("Last Run: run-2 at ")))
    assert lines[i + 1:i + 3] == ["  archive: runs/2026/11/30/run-2_sync_arribos.html",
                                  "           runs/2026/11/30/run-2_sync_remisiones.ipynb"]
    assert str(tmp_path) not in text and code == 0


def test_the_notebook_tables_show_the_blocks_numbers_as_integers(healthy, conn):
    """The health notebook's row-count table carries the block's two numbers per table, labelled,
    as integers (no 156.0), a missing one as missing; the history to the minute, counts as integers."""
    from trafico_lib import health, views
    conn.execute("DELETE FROM traficov2_sync_state WHERE table_name = 'traficov2_remisiones'")
    facts = gather_facts(healthy)
    block = render_block(facts).splitlines()
    table = health.counts_table(facts)
    assert list(table.columns[:2]) == ["source rows", "source keys"]
    assert set(table.columns) == set(health.COUNT_LABELS)
    for t in facts["tables"]:
        src, tgt = t["source"], t["target"]
        row = table.loc[t["table"]]
        assert any(x.startswith(f"  {src['name']}: {row['source rows']} ✓") for x in block)
        assert any(x.startswith(f"  {tgt['name']}: {row['target rows (active)']} ") for x in block)
        # the source's columns add up, as the block's source line does
        assert row["source rows"] == row["source keys"] + row["duplicate rows merged"] + row["rows without key"]
        assert row["with warnings"] == t["state"]["warned_rows"] and row["rejected now"] == t["state"]["rejected_rows"]
    assert str(table["source rows"].dtype) == "Int64" and str(table["rows without key"].dtype) == "Int64"
    shown = views.shown_frame(table)
    text = shown.drop(columns=["lag (h)"]).to_string()
    assert "arribos" in text and not re.search(r"\.0\b|NaN|<NA>|None", text), text
    assert pd_isnan(table.loc["remisiones", "lag (h)"]) and shown.loc["remisiones", "lag (h)"] == views.MISSING
    assert table.loc["arribos", "lag (h)"] == "1.0"  # as the block: "traficov2_arribos: 1.0h"
    reader = PostgresHealthReader(conn)
    hist = health.history_table(lag_history(reader, days=7))
    assert hist.index.name == "when (UTC)" and all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", w) for w in hist.index)
    assert str(hist["inserted"].dtype) == "Int64" and list(hist.columns[:3]) == ["table", "operation", "mode"]
    last = health.last_run_table(facts)
    assert last.index.name == "table" and set(last["notebook"]) == {NOTEBOOK}


def pd_isnan(v) -> bool:
    return v != v


# ---- the real pipeline ------------------------------------------------------------------------

def test_after_a_real_full_sync_everything_is_accounted_for(conn, db_url, cfg_for):
    """The sample CSVs through the real pipeline (GX skipped for speed: key rules only)."""
    from trafico_lib.pipeline import run_table
    from trafico_lib.sample import load_samples
    off = {t: {"validation_enabled": False, "status_validation": False}
           for t in ("arribos", "pendiente_desconsolidar", "remisiones", "arribos_expo_ctns")}
    cfg = cfg_for(db_url, sync_settings=off)
    load_samples(conn, cfg)
    before = gather_facts(cfg)
    assert before["exit_code"] == 1 and not any(t["counts_ok"] for t in before["tables"])
    for t in off:
        assert run_table(t, mode="full", cfg=cfg).status == "ok"
    facts = gather_facts(cfg)
    assert [t["counts_ok"] for t in facts["tables"]] == [True] * 4, render_block(facts)
    assert facts["exit_code"] == 0 and facts["problems"] == []
    assert any(t["unkeyed_rows"] or t["source_keys"] < t["source"]["rows"] for t in facts["tables"])


def test_the_reader_reads_in_read_only_transactions_and_leaves_no_session_state(healthy, conn):
    """Every query in its own read-only transaction (a transaction pooler keeps no session)."""
    import psycopg
    reader = PostgresHealthReader(conn, statement_timeout=0.2)
    before = conn.execute("SHOW statement_timeout").fetchone()[0]
    assert reader.existing_tables(["traficov2_sync_log", "nope"]) == {"traficov2_sync_log"}
    assert set(reader.states()) >= {"traficov2_arribos"} and reader.now() is not None
    assert conn.execute("SHOW statement_timeout").fetchone()[0] == before
    assert conn.execute("SHOW transaction_read_only").fetchone()[0] == "off"
    conn.execute("CREATE VIEW slow AS SELECT true AS activo FROM pg_sleep(2)")
    conn.execute("CREATE FUNCTION writes() RETURNS boolean LANGUAGE sql AS "
                 "$$ INSERT INTO traficov2_sync_log (table_name, operation) VALUES ('x', 'SYNC'); SELECT true $$")
    conn.execute("CREATE VIEW writing AS SELECT writes() AS activo")
    with pytest.raises(psycopg.errors.QueryCanceled):  # the statement timeout holds inside the reader
        reader.target_counts("slow")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        reader.target_counts("writing")


def test_the_health_check_through_a_transaction_pooler_leaves_no_setting_behind(conn, db_url, cfg_for, pgbouncer):
    """Through PgBouncer in transaction mode the health check's read-only and timeout settings
    stay in its own transactions: every server connection of the pool accepts writes after it,
    with the server's default statement timeout."""
    _healthy_state(conn)
    url = pgbouncer.url(db_url)
    cfg = cfg_for(url, database={"transaction_pooler": True})
    for _ in range(3):
        code, text = _check(cfg)
        assert code == 0, text
    import psycopg
    for _ in range(8):  # round robin over the pool's server connections
        with psycopg.connect(url, prepare_threshold=None, autocommit=True) as c:
            assert c.execute("SHOW default_transaction_read_only").fetchone()[0] == "off"
            assert c.execute("SHOW statement_timeout").fetchone()[0] == "0"
            c.execute("UPDATE traficov2_sync_state SET last_run_id = last_run_id")
