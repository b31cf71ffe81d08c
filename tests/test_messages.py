"""What people are told when the setup is wrong in ways the code can recognise: a transaction
pooler the address does not betray, an archive folder that fills up, a Supabase key or project
that cannot do what was asked. One true line each, against the real parts (pgbouncer, a full
filesystem, PostgREST)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import psycopg
import pytest

import cli_inprocess as inprocess
from trafico_lib.config import load_config
from trafico_lib.sample import create_source_tables, load_samples

ROOT = Path(__file__).resolve().parent.parent


def _project(tmp_path: Path, db_url: str | None, extra: dict | None = None, name: str = "trafico_config.json") -> Path:
    data = {"csv_sources": {"data_path": str(ROOT / "data"), "backup_path": "backup"},
            "audit_archive": {"path": "runs"}, "runner": {"reports_dir": "reports"}, **(extra or {})}
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    if db_url:
        with psycopg.connect(db_url, autocommit=True) as c:
            create_source_tables(c)
            load_samples(c, load_config(path, env_file=None))
    return path


def _cli(args: list[str], cwd: Path, **env) -> subprocess.CompletedProcess:
    """The command called in this process (tests/cli_inprocess.py), as a subprocess would see it."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("TRAFICO_DATABASE_URL", "SUPABASE_URL", "SUPABASE_KEY", "url_supabase", "key_supabase")}
    return inprocess.run(args, env={**base, **env}, cwd=cwd)


def _log_rows(db_url: str) -> int:
    with psycopg.connect(db_url) as c:
        return c.execute("SELECT count(*) FROM traficov2_sync_log").fetchone()[0]


# ---- 11: a transaction pooler on a port other than 6543 -------------------------------------

def test_pgbouncer_off_port_6543_without_transaction_pooler_names_the_setting(pgbouncer, db_url, tmp_path):
    """PgBouncer in transaction mode on a port trafico cannot recognise: said before anything
    runs (exit 2, one line naming database.transaction_pooler, no log row); told it is no pooler
    (false), each table's error says the session changed and names the setting, never a bare
    UndefinedTable; with the setting, the same run syncs."""
    url = pgbouncer.url(db_url)
    assert f":{6543}/" not in url
    config = _project(tmp_path, db_url)
    p = _cli(["update_traficov2.py", "--no-notebook", "--mode", "full", "--config", str(config)], tmp_path,
             TRAFICO_DATABASE_URL=url)
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 2, p.stdout + p.stderr
    assert len(lines) == 1 and "connection pooler" in lines[0] and "database.transaction_pooler: true" in lines[0], lines
    assert _log_rows(db_url) == 0
    runner = _cli(["-m", "trafico_lib.runner", "sync", "--table", "arribos", "--config", str(config)], tmp_path,
                  TRAFICO_DATABASE_URL=url)
    assert runner.returncode == 2 and "database.transaction_pooler: true" in runner.stderr, runner.stdout + runner.stderr

    said_no = _project(tmp_path, None, {"database": {"transaction_pooler": False}}, "said_no.json")
    p = _cli(["update_traficov2.py", "--no-notebook", "--mode", "full", "--config", str(said_no)], tmp_path,
             TRAFICO_DATABASE_URL=url)
    errors = [ln for ln in p.stdout.splitlines() if "  error: " in ln]
    assert p.returncode == 1 and errors, p.stdout + p.stderr
    assert all("database.transaction_pooler: true" in ln and "session changed" in ln for ln in errors), errors

    said_yes = _project(tmp_path, None, {"database": {"transaction_pooler": True}}, "said_yes.json")
    p = _cli(["update_traficov2.py", "--no-notebook", "--mode", "full", "--config", str(said_yes)], tmp_path,
             TRAFICO_DATABASE_URL=url)
    assert p.returncode == 0, p.stdout + p.stderr


# ---- 13: what a Supabase key or project cannot do ------------------------------------------

def _rest_cli(args, server, cwd, key=None):
    return _cli(args, cwd, SUPABASE_URL=server.url, SUPABASE_KEY=key or server.service_key)


def test_a_key_without_a_role_is_told_it_is_not_the_service_role_key(empty_db_url, tmp_path):
    """A JWT without a ``role`` claim (PostgREST takes it as anon, which sees no trafico row):
    every command says the key is not the service_role key, not "paste make sql" (the schema is
    there)."""
    import time

    import jwt

    import rest_server as harness
    _project(tmp_path, None)
    with harness.supabase_project(empty_db_url, tmp_path / "pgrst", prepare=create_source_tables) as server:
        now = int(time.time())
        key = jwt.encode({"iss": "supabase", "iat": now, "exp": now + 3600}, server.secret, algorithm="HS256")
        for args in (["update_traficov2.py", "--no-notebook", "--table", "arribos"], ["update_traficov2.py", "--prune"],
                     ["update_traficov2.py", "--back-propagate", "--no-notebook", "--dry-run"]):
            p = _rest_cli(args, server, tmp_path, key)
            lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
            assert p.returncode == 1 and len(lines) == 1, (args, p.stdout, p.stderr)
            assert "JWT without a role" in lines[0] and "service_role key" in lines[0], lines
            assert "make sql" not in lines[0] and key not in p.stdout + p.stderr


def test_back_propagate_and_prune_on_a_project_without_the_schema_say_to_paste_make_sql(empty_db_url, tmp_path):
    """A Supabase project with its source tables but without trafico's schema: --back-propagate
    (dry or not, library or notebook) and --prune (dry or not) say to paste ``make sql`` into the
    SQL editor, one line, instead of the API's raw 42P01 / PGRST202."""
    import rest_server as harness
    _project(tmp_path, None)
    with harness.supabase_project(empty_db_url, tmp_path / "pgrst", schema=False,
                                  prepare=create_source_tables) as server:
        for args in (["update_traficov2.py", "--back-propagate", "--no-notebook"],
                     ["update_traficov2.py", "--back-propagate", "--no-notebook", "--dry-run"],
                     ["update_traficov2.py", "--back-propagate", "--dry-run"],
                     ["update_traficov2.py", "--prune"], ["update_traficov2.py", "--prune", "--dry-run"]):
            p = _rest_cli(args, server, tmp_path)
            lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
            assert p.returncode == 1 and len(lines) == 1, (args, p.stdout, p.stderr)
            assert "has no trafico schema" in lines[0] and "make sql" in lines[0] and "SQL editor" in lines[0], lines
            assert "42P01" not in lines[0] and "PGRST" not in lines[0], lines


# ---- 12: an archive folder that fills up -------------------------------------------------------

@pytest.fixture
def tiny_disk(tmp_path):
    """A real filesystem of 72 KB (tmpfs): room for a notebook's first saves, not for a sync's
    executed notebook. Needs root (tests and CI run as root); skips with one line otherwise."""
    folder = tmp_path / "full"
    folder.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=72k", "tmpfs", str(folder)], capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {p.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def test_an_archive_folder_that_fills_up_is_one_line_and_the_run_still_ends_in_a_summary(db_url, tiny_disk, tmp_path):
    """The archive on a disk that fills during the first table's notebook: one line naming the
    folder and its free space (not NotJSONError), the tables not yet run reported as not run,
    the summary printed, exit 1, no half-written notebook left. A second run on the full disk
    is refused table by table before any notebook starts, and records nothing."""
    config = _project(tmp_path, db_url, {"audit_archive": {"path": str(tiny_disk / "runs")}})
    p = _cli(["-m", "trafico_lib.runner", "sync", "--mode", "full", "--config", str(config)], tmp_path,
             TRAFICO_DATABASE_URL=db_url)
    out, err = p.stdout, [ln for ln in p.stderr.splitlines() if ln.strip() and not ln.startswith("WARNING")]
    assert p.returncode == 1, out + p.stderr
    assert "NotJSONError" not in out + p.stderr and "Traceback" not in out + p.stderr, out + p.stderr
    assert err and "the archive folder" in err[0] and "full/runs" in err[0] and " free)" in err[0], err
    assert "arribos" in err[0] and "could not be written" in err[0], err  # the first table's notebook filled it
    assert "=== Sync Summary ===" in out and "Total:" in out, out
    summary = out[out.index("=== Sync Summary ==="):]
    for table in ("arribos", "pendiente_desconsolidar", "remisiones", "arribos_expo_ctns"):
        assert f" {table}: " in summary, summary
    assert "not run" in summary, summary
    for f in tiny_disk.rglob("*.ipynb"):  # what is archived is whole
        json.loads(f.read_text(encoding="utf-8"))
    logged = _log_rows(db_url)

    free = os.statvfs(tiny_disk).f_bavail * os.statvfs(tiny_disk).f_frsize
    with open(tiny_disk / "filler", "wb") as f:  # leave less than a notebook's first save
        f.write(b"x" * max(free - 16 * 1024, 0))
    p = _cli(["-m", "trafico_lib.runner", "sync", "--config", str(config)], tmp_path, TRAFICO_DATABASE_URL=db_url)
    err = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 1 and "not run" in err[0] and "is full" in err[0], p.stdout + p.stderr
    assert "=== Sync Summary ===" in p.stdout and p.stdout.count("not run") >= 4, p.stdout
    assert _log_rows(db_url) == logged  # nothing ran, nothing recorded


def test_the_health_check_of_a_project_without_the_schema_is_the_block_saying_to_paste_make_sql(empty_db_url, tmp_path):
    """A Supabase project without trafico's schema: --health-check prints its block (reachable,
    the schema line saying to paste ``make sql``, UNHEALTHY) and exits 1, as the direct path
    prints its block for a database without the schema; not a bare error line."""
    import rest_server as harness
    _project(tmp_path, None)
    with harness.supabase_project(empty_db_url, tmp_path / "pgrst", schema=False,
                                  prepare=create_source_tables) as server:
        p = _rest_cli(["update_traficov2.py", "--health-check"], server, tmp_path)
    out = p.stdout
    assert p.returncode == 1 and p.stderr.strip() == "", (p.stdout, p.stderr)
    assert out.startswith("=== System Health Check ===\nDatabase Connection: ✓\n"), out
    assert "has no trafico schema" in out and "make sql" in out and "Status: UNHEALTHY" in out, out
    assert server.service_key not in out
