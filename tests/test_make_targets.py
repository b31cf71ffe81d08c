"""The Makefile's targets as cron and an operator run them: real ``make``, real processes.

* ``make sync >> cron.log``: every line it prints is stamped (make echoes no command line);
* ``make stop-db``: stops an embedded PostgreSQL that still runs (a JupyterLab kernel holds it,
  or a command was killed) and says so; says why when none runs; and a killed command no longer
  keeps the server running after the next command.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from output_lines import STAMP
from trafico_lib.sample import create_source_tables, load_samples
from trafico_lib.stores.embedded import running_pid

ROOT = Path(__file__).resolve().parent.parent

if shutil.which("make") is None:
    pytest.skip("make is not installed", allow_module_level=True)


def make(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """``make <args>`` in the project folder as cron calls it (no -s, no flags of an outer make),
    with this interpreter's environment as the virtual environment."""
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "TRAFICO_DATABASE_URL")}
    return subprocess.run(["make", *args, f"VENV={sys.prefix}"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_make_sync_in_a_cron_log_prints_only_stamped_lines(db_url, make_config):
    cfg = make_config(db_url=db_url)
    with psycopg.connect(db_url, autocommit=True) as c:
        create_source_tables(c)
        load_samples(c, cfg)
    p = make("sync", "TABLE=remisiones", f"CONFIG={cfg.source_path}")
    assert p.returncode == 0, p.stdout + p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) >= 4 and any("remisiones: ok" in ln for ln in lines), p.stdout
    assert [ln for ln in lines if not STAMP.match(ln)] == [], p.stdout  # no echoed command line
    assert [ln for ln in p.stderr.splitlines() if ln.strip() and not STAMP.match(ln)] == [], p.stderr


# ---- make stop-db --------------------------------------------------------------------------------

SHOWN = "pg/pgdata"  # as people see it: relative to the configuration's folder
HOLD = ("import sys, time; from trafico_lib.stores.embedded import embedded_url; "
        "print(embedded_url(sys.argv[1]), flush=True); time.sleep(300)")


@pytest.fixture
def embedded():
    """A configuration whose embedded PostgreSQL lives beside it in a folder of its own, and a way
    to start a process that keeps it running as a JupyterLab kernel does; everything stopped
    afterwards. (Not under pytest's tmp_path: as root the server runs as its own user, which may
    not enter pytest's folders.)"""
    import tempfile
    tmp_path = Path(tempfile.mkdtemp(prefix="trafico-stop-db-"))
    pgdata = tmp_path / "pg" / "pgdata"
    config = tmp_path / "trafico_config.json"
    config.write_text(json.dumps({"database": {"embedded_path": str(pgdata)}}), encoding="utf-8")
    holders: list[subprocess.Popen] = []

    def hold() -> subprocess.Popen:
        err = tmp_path / f"holder-{len(holders)}.err"
        with err.open("w") as stderr:
            proc = subprocess.Popen([sys.executable, "-c", HOLD, str(pgdata)], cwd=ROOT, stdout=subprocess.PIPE,
                                    stderr=stderr, text=True)
        holders.append(proc)
        assert proc.stdout.readline().startswith("postgresql://"), err.read_text()
        return proc

    yield config, pgdata, hold
    for proc in holders:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    from trafico_lib.stores.embedded import stop_embedded
    stop_embedded(pgdata)
    shutil.rmtree(tmp_path, ignore_errors=True)


def _gone(pid: int, seconds: float = 10) -> bool:
    import psutil
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.1)
    return False


def test_stop_db_stops_a_server_that_runs_and_says_so(embedded):
    config, pgdata, hold = embedded
    hold()  # a process using it (a notebook kernel in JupyterLab)
    pid = running_pid(pgdata)
    assert pid is not None
    p = make("-s", "stop-db", f"CONFIG={config}")
    assert p.returncode == 0 and p.stdout.strip() == f"stopped the embedded PostgreSQL ({SHOWN}, pid {pid})", p.stdout + p.stderr
    assert _gone(pid) and running_pid(pgdata) is None
    again = make("-s", "stop-db", f"CONFIG={config}")
    assert again.returncode == 0 and again.stdout.strip() == (
        f"not running: the embedded PostgreSQL ({SHOWN}) stops by itself when the last command or notebook "
        "kernel using it ends"), again.stdout + again.stderr


def test_a_killed_command_no_longer_leaves_the_server_running_after_the_next_one(embedded):
    """The wheel stops the server when the last process on its list exits; a killed process never
    left that list, so every later command saw it and left the server running. Now the next
    command drops the dead one, and the server stops when that command ends; ``make stop-db``
    stops one a killed command left."""
    config, pgdata, hold = embedded
    killed = hold()
    killed.send_signal(signal.SIGKILL)
    killed.wait(10)
    pid = running_pid(pgdata)
    assert pid is not None  # the killed command left it running
    env = {k: v for k, v in os.environ.items() if k != "TRAFICO_DATABASE_URL"}
    p = subprocess.run([sys.executable, str(ROOT / "update_traficov2.py"), "--init-db", "--config", str(config)],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert _gone(pid) and running_pid(pgdata) is None  # stopped when that command ended
    hold().send_signal(signal.SIGKILL)  # killed again: make stop-db stops what it left
    pid = running_pid(pgdata)
    p = make("-s", "stop-db", f"CONFIG={config}")
    assert p.stdout.strip() == f"stopped the embedded PostgreSQL ({SHOWN}, pid {pid})" and _gone(pid), p.stdout
