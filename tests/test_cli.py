"""The command line as a user types it: exit codes, one-line errors, the old summary."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

import cli_inprocess as inprocess
from output_lines import STAMP, stamped_lines, summary, unstamped
from trafico_lib.sample import load_samples
from trafico_lib.tables import TABLES

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, env_url=None, cwd=None):
    """``python update_traficov2.py *args``, called in this process (tests/cli_inprocess.py); the
    script itself runs as a process in the signal tests and test_print_sql_is_plain_sql."""
    env = {k: v for k, v in os.environ.items() if k != "TRAFICO_DATABASE_URL"}
    if env_url:
        env["TRAFICO_DATABASE_URL"] = env_url
    return inprocess.run(["update_traficov2.py", *args], env=env, cwd=cwd or ROOT)


def test_unknown_table_lists_valid_ones_and_exits_2(tmp_path):
    p = cli("--table", "camiones", "--no-notebook", cwd=tmp_path)
    assert p.returncode == 2
    assert "unknown table 'camiones'" in p.stderr and all(t in p.stderr for t in TABLES)
    assert "Traceback" not in p.stderr


def test_bad_flag_exits_2():
    p = cli("--mode", "sometimes")
    assert p.returncode == 2 and "invalid choice" in p.stderr


@pytest.mark.parametrize("argv", [
    ["update_traficov2.py", "--mod", "full", "--no-notebook"],  # argparse's default: --mode full, a full sync
    ["update_traficov2.py", "--in"],                            # --init-db
    ["update_traficov2.py", "--mode", "full", "--all"],         # --allow-mass-deactivation
    ["update_traficov2.py", "--dry"],
    ["-m", "trafico_lib.runner", "sync", "--mod", "full"],
    ["-m", "trafico_lib.runner", "sync", "--all"],
    ["-m", "trafico_lib.runner", "back-propagate", "--dry"],
    ["-m", "trafico_lib.docs", "--no-h"],
])
def test_an_abbreviated_flag_is_refused_in_one_line_and_nothing_runs(argv, tmp_path):
    """A flag is taken only as spelled in full, by every command line: an abbreviation exits 2 with
    one line naming it, before anything starts (no configuration read, no database started)."""
    env = {k: v for k, v in os.environ.items() if k != "TRAFICO_DATABASE_URL"}
    p = inprocess.run(argv, env=env, cwd=tmp_path)
    err = [ln for ln in p.stderr.splitlines() if ln.strip()]
    given = next(a for a in argv if a in ("--mod", "--in", "--all", "--dry", "--no-h"))
    assert p.returncode == 2 and len(err) == 1, (argv, p.stdout, p.stderr)
    assert f"error: unrecognized arguments: {given}" in err[0], err
    assert not p.stdout.strip() and not (tmp_path / ".trafico").exists() and not list(tmp_path.iterdir())


def test_print_sql_is_plain_sql():
    """The script as a real process (the other tests call it in-process): its stdout is the schema."""
    p = subprocess.run([sys.executable, str(ROOT / "update_traficov2.py"), "--print-sql"], capture_output=True,
                       text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 0 and p.stdout.count("CREATE TABLE IF NOT EXISTS") >= 9
    assert p.stdout.startswith("-- trafico schema") and not p.stderr.strip(), p.stderr


def test_unreachable_database_is_one_line_exit_1(tmp_path):
    url = f"postgresql://app:TopSecret99@/nodb?host={tmp_path}&connect_timeout=2"
    p = cli("--init-db", env_url=url, cwd=tmp_path)
    assert p.returncode == 1
    err = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(err) == 1 and err[0].startswith("error: cannot connect") and "TopSecret99" not in p.stderr


@pytest.mark.parametrize("store", ["direct", "rest"])
def test_a_sync_against_an_unreachable_store_of_either_kind_is_one_line_exit_1(store, tmp_path):
    """One StoreUnavailable from both stores: the same line, ``error: cannot connect to <the
    store's name>: <why>``, exit 1, no traceback and no secret."""
    import base64
    import socket
    with socket.socket() as s:  # a local port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    claims = base64.urlsafe_b64encode(json.dumps({"role": "service_role"}).encode()).decode().rstrip("=")
    key = f"eyJhbGciOiJIUzI1NiJ9.{claims}.c2VydmljZXNpZ25hdHVyZQ"
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRAFICO_DATABASE_URL", "SUPABASE_URL", "SUPABASE_KEY", "url_supabase", "key_supabase")}
    if store == "direct":
        env["TRAFICO_DATABASE_URL"] = f"postgresql://app:TopSecret99@127.0.0.1:{port}/depo?connect_timeout=2"
        name = "PostgreSQL at 127.0.0.1/depo"
    else:
        env.update(SUPABASE_URL=f"http://127.0.0.1:{port}", SUPABASE_KEY=key)
        name = f"Supabase REST API (127.0.0.1:{port})"
    p = inprocess.run(["update_traficov2.py", "--no-notebook", "--table", "arribos"], env=env, cwd=tmp_path)
    assert p.returncode == 1, p.stdout + p.stderr
    err = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(err) == 1 and err[0].startswith(f"error: cannot connect to {name}: "), p.stderr
    assert "Traceback" not in p.stdout + p.stderr and "TopSecret99" not in p.stdout + p.stderr
    assert key.split(".")[2] not in p.stdout + p.stderr
    assert not (tmp_path / ".trafico").exists()  # no embedded database was started instead


def test_init_db_load_sync_and_rerun_through_the_cli(db_url, make_config, tmp_path):
    cfg = make_config(db_url=db_url)
    with psycopg.connect(db_url) as c:
        load_samples(c, cfg)
    first = cli("--mode", "full", "--no-notebook", "--config", cfg.source_path, "--json")
    assert first.returncode == 0, first.stderr
    results = {r["table"]: r for r in json.loads(first.stdout)["results"]}
    assert set(results) == set(TABLES)
    assert results["arribos"]["counts"]["inserted"] > 100
    # refused rows are not Errors (failed tables): the line says where to read them
    first_lines = summary(first.stdout) if not first.stdout.lstrip().startswith("{") else None
    assert first_lines is None and results["arribos"]["counts"]["rejected"] >= 1
    # the rerun: no source changed, so each table is its log row, nothing read (pipeline/probe.py)
    first_run = results["arribos"]["run_id"]
    second = cli("--no-notebook", "--config", cfg.source_path)
    assert second.returncode == 0, second.stderr
    lines = summary(second.stdout)
    assert lines[0] == "=== Sync Summary ==="
    rows = {"arribos": 159, "pendiente_desconsolidar": 36, "remisiones": 65, "arribos_expo_ctns": 42}
    for t in TABLES:
        assert (f"{t}: Inserted 0, Updated 0, Errors 0 | unchanged since {first_run} ({rows[t]} source rows); "
                "log row only, no notebook") in lines, lines
    assert lines[-2] == ("Total: Inserted 0, Updated 0, Errors 0 | unchanged 0, rejected 0, deactivated 0 | "
                         "4 tables unchanged (log rows only)"), lines[-2]
    assert lines[-1] == "  nothing read: 4 tables unchanged since their last run (302 source rows as they were)"
    # a changed row: that table is read, and its summary says where its refused rows are
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("UPDATE arribos SET updated_at = now() WHERE id = (SELECT min(id) FROM arribos)")
    third = cli("--no-notebook", "--config", cfg.source_path)
    lines = summary(third.stdout)
    arribos = next(ln for ln in lines if ln.startswith("arribos:"))
    assert "(see traficov2_sync_rejects, last_run_id = this run)" in arribos, lines
    assert (f"remisiones: Inserted 0, Updated 0, Errors 0 | unchanged since {first_run} (65 source rows); "
            "log row only, no notebook") in lines


def test_dry_run_and_back_propagate_flags(db_url, make_config):
    cfg = make_config(db_url=db_url)
    with psycopg.connect(db_url, autocommit=True) as c:
        load_samples(c, cfg)
    dry = cli("--dry-run", "--table", "arribos", "--no-notebook", "--config", cfg.source_path)
    assert dry.returncode == 0 and "Dry-run" in dry.stdout
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM traficov2_arribos").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM traficov2_sync_log").fetchone()[0] == 0
    assert cli("--table", "arribos", "--mode", "full", "--no-notebook", "--config", cfg.source_path).returncode == 0
    with psycopg.connect(db_url, autocommit=True) as c:
        key = c.execute("SELECT sync_key FROM traficov2_arribos ORDER BY sync_key LIMIT 1").fetchone()[0]
        c.execute("""UPDATE traficov2_arribos SET "Chofer" = 'Chofer Manual' WHERE sync_key = %s""", (key,))
    dry = cli("--back-propagate", "--dry-run", "--table", "arribos", "--config", cfg.source_path)
    assert dry.returncode == 0 and "arribos: would update 1 source row (1 field change)" in dry.stdout, \
        dry.stdout + dry.stderr
    assert re.search(r"\n\S+ \S+     \S+: Chofer .* → 'Chofer Manual'\n", dry.stdout), dry.stdout  # key, field, old → new
    bp = cli("--back-propagate", "--table", "arribos", "--config", cfg.source_path)
    assert bp.returncode == 0, bp.stderr
    assert "arribos: 1 source row updated (1 field change)" in bp.stdout


def test_database_down_through_the_notebooks_is_one_line_and_starts_no_kernel(tmp_path):
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"database": {"url": f"postgresql://app:Pw-In-File-77@/x?host={tmp_path}"}}))
    p = cli("--config", str(cfg), cwd=tmp_path)
    assert p.returncode == 1
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert lines[0] == f"warning: {cfg}: a password is written in the file; prefer the environment or .env"
    assert len(lines) == 2 and lines[1].startswith("error: cannot connect") and "Pw-In-File-77" not in p.stderr
    assert not (tmp_path / "runs").exists()  # no notebook was started


def test_trafico_console_script_takes_the_same_flags():
    exe = Path(sys.executable).with_name("trafico")
    p = subprocess.run([str(exe), "--table", "nope"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "valid tables: arribos" in p.stderr
    assert subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60).stdout.startswith(
        "usage: trafico ")


def _env_without_stores(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("TRAFICO_DATABASE_URL", "SUPABASE_URL", "SUPABASE_KEY", "url_supabase", "key_supabase")}
    env.update(extra)
    return env


def _jwt(role: str) -> str:
    import jwt
    return jwt.encode({"role": role, "iss": "supabase", "ref": "planted-SECRET-7f3a"}, "x" * 40, algorithm="HS256")


def test_half_a_supabase_setting_or_the_anon_key_never_syncs_into_the_embedded_database(tmp_path):
    """Only a Supabase URL or only a key: a sync, the health check and the notebooks' runner stop
    with one line naming what to set (exit 2). The public anon key: one line, permission denied
    (exit 1). Either way no embedded database starts and the key is never printed; the schema
    can still be printed for Supabase's SQL editor."""
    anon = _jwt("anon")
    cases = [({"url_supabase": "https://abc.supabase.co"}, 2, "supabase.key"),
             ({"key_supabase": anon}, 2, "supabase.url"),
             ({"SUPABASE_URL": "https://abc.supabase.co", "SUPABASE_KEY": anon}, 1, "permission denied")]
    for extra, code, words in cases:
        env = _env_without_stores(**extra)
        for args in (["update_traficov2.py", "--no-notebook", "--table", "arribos"],
                     ["update_traficov2.py", "--health-check", "--json"],
                     ["-m", "trafico_lib.runner", "sync", "--params", str(ROOT / "params" / "incremental.yaml")]):
            p = inprocess.run(args, env=env, cwd=tmp_path)
            lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
            if "--health-check" in args and code == 1:  # the health check reports the store's failure itself
                assert p.returncode != 0 and words in p.stdout + p.stderr, (extra, args, p.stdout, p.stderr)
            else:
                assert p.returncode == code, (extra, args, p.stderr)
                assert len(lines) == 1 and words in lines[0], (extra, args, p.stderr)
            assert anon not in p.stdout + p.stderr and "planted-SECRET" not in p.stdout + p.stderr
        assert not (tmp_path / ".trafico").exists()
        p = inprocess.run(["update_traficov2.py", "--print-sql"], env=env, cwd=tmp_path)
        assert p.returncode == 0 and "CREATE TABLE IF NOT EXISTS traficov2_arribos" in p.stdout


def test_an_emptied_source_is_not_synced_into_an_empty_table_unless_allowed(db_url, make_config):
    """A full sync after the source was emptied: refused in one line naming the flag (exit 1),
    the target intact; through the notebooks too; then allowed by the flag, and by the config."""
    cfg = make_config(db_url=db_url)
    with psycopg.connect(db_url, autocommit=True) as c:
        load_samples(c, cfg)
    full = ("--table", "remisiones", "--mode", "full", "--config", cfg.source_path)
    assert cli(*full, "--no-notebook").returncode == 0
    with psycopg.connect(db_url, autocommit=True) as c:
        active = c.execute("SELECT count(*) FROM traficov2_remisiones WHERE activo").fetchone()[0]
        c.execute("DELETE FROM remisiones")
    refused = cli(*full, "--no-notebook")
    assert refused.returncode == 1 and "--allow-mass-deactivation" in refused.stdout + refused.stderr
    nb = _runner("sync", "--mode", "full", "--table", "remisiones", "--config", cfg.source_path, cwd=ROOT)
    assert nb.returncode == 1 and "refused to deactivate" in nb.stdout + nb.stderr, nb.stdout + nb.stderr
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM traficov2_remisiones WHERE activo").fetchone()[0] == active > 0
    allowed = cli(*full, "--no-notebook", "--allow-mass-deactivation", "--json")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads(allowed.stdout)["results"][0]["counts"]["deactivated"] == active
    # the rows come back; emptied again, allowed by the configuration this time
    with psycopg.connect(db_url, autocommit=True) as c:
        load_samples(c, cfg)
    assert cli(*full, "--no-notebook").returncode == 0
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("DELETE FROM remisiones")
    cfg2 = make_config({"sync_settings": {"remisiones": {"allow_mass_deactivation": True}}}, db_url=db_url)
    by_config = cli(*full[:-1], cfg2.source_path, "--no-notebook", "--json")
    assert by_config.returncode == 0, by_config.stderr
    assert json.loads(by_config.stdout)["results"][0]["counts"]["deactivated"] == active


def test_flags_that_contradict_or_would_be_ignored_are_refused_before_anything_runs(tmp_path):
    """Exit 2 and one line naming the flags, and nothing started (no embedded database)."""
    cases = [
        (["--health-check", "--back-propagate"], "--health-check and --back-propagate cannot run together"),
        (["--back-propagate", "--prune"], "--prune and --back-propagate cannot run together"),
        (["--health-check", "--table", "nope"], "unknown table 'nope'"),
        (["--health-check", "--table", "arribos"], "--table does not apply to --health-check"),
        (["--prune", "--mode", "full"], "--mode does not apply to --prune"),
        (["--init-db", "--table", "arribos"], "--table does not apply to --init-db"),
        (["--back-propagate", "--allow-mass-deactivation"], "--allow-mass-deactivation does not apply to --back-propagate"),
        (["--print-sql", "--init-db"], "--print-sql and --init-db cannot run together"),
        (["--health-check", "--dry-run"], "--dry-run does not apply to --health-check"),
    ]
    for args, said in cases:
        p = cli(*args, cwd=tmp_path)
        err = [ln for ln in p.stderr.splitlines() if ln.strip()]
        assert p.returncode == 2 and len(err) == 1 and said in err[0], (args, p.stderr)
        assert p.stdout == "", (args, p.stdout)
    assert not (tmp_path / ".trafico").exists() and not (tmp_path / "runs").exists()


def test_a_database_without_the_schema_says_which_database_and_to_run_init_db(tmp_path, db_url):
    """A --config in another folder starts a fresh embedded database beside it: the run names
    that database and --init-db, in one line, exit 1 (no UndefinedTable); an older schema says
    which step it has and which this version needs."""
    (tmp_path / "elsewhere").mkdir()
    cfg = tmp_path / "elsewhere" / "trafico_config.json"
    cfg.write_text("{}", encoding="utf-8")
    try:
        for args in (["--no-notebook", "--table", "arribos"], ["--table", "arribos"]):
            p = cli(*args, "--config", str(cfg), cwd=tmp_path)
            err = [ln for ln in p.stderr.splitlines() if ln.strip()]
            assert p.returncode == 1 and len(err) == 1, (args, p.stdout, p.stderr)
            assert "embedded PostgreSQL under" in err[0] and "elsewhere" in err[0] and "--init-db" in err[0]
            assert "UndefinedTable" not in p.stdout + p.stderr
    finally:
        from trafico_lib.stores.embedded import stop_embedded
        stop_embedded(tmp_path / "elsewhere" / ".trafico" / "pgdata")
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("DELETE FROM traficov2_schema_migrations WHERE version = (SELECT max(version) FROM traficov2_schema_migrations)")
        have = c.execute("SELECT max(version) FROM traficov2_schema_migrations").fetchone()[0]
    old = cli("--no-notebook", "--table", "arribos", env_url=db_url, cwd=tmp_path)
    assert old.returncode == 1 and f"schema up to step {have}" in old.stderr and "--init-db" in old.stderr, old.stderr


def test_an_updated_column_the_source_lacks_is_a_configuration_error_before_anything_runs(db_url, make_config):
    cfg = make_config({"sync_settings": {"arribos": {"updated_column": "modificado"}}}, db_url=db_url)
    with psycopg.connect(db_url, autocommit=True) as c:
        load_samples(c, cfg)
    for args in (["--no-notebook"], []):
        p = cli(*args, "--config", cfg.source_path, "--mode", "full")
        err = [ln for ln in p.stderr.splitlines() if ln.strip()]
        assert p.returncode == 2 and len(err) == 1, (args, p.stdout, p.stderr)
        assert "sync_settings.arribos.updated_column: 'modificado' is not a column of arribos" in err[0]
    with psycopg.connect(db_url) as c:  # no table was synced, not even the others
        assert c.execute("SELECT count(*) FROM traficov2_sync_log").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM traficov2_remisiones").fetchone()[0] == 0


def _stop_mid_write(db_url, cfg, sig, *args):
    """A full sync of arribos whose writes are slowed (a trigger sleeps per row) and the
    signal sent while they run."""
    import time
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("""CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN PERFORM pg_sleep(0.05); RETURN NEW; END $$""")
        c.execute("CREATE TRIGGER slow BEFORE INSERT OR UPDATE ON traficov2_arribos "
                  "FOR EACH ROW EXECUTE FUNCTION slow_row()")
    env = {k: v for k, v in os.environ.items() if k != "TRAFICO_DATABASE_URL"}
    p = subprocess.Popen([sys.executable, *args, "--table", "arribos", "--mode", "full", "--config", cfg.source_path],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with psycopg.connect(db_url, autocommit=True) as c:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not c.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep')").fetchone()[0]:
            time.sleep(0.05)
    p.send_signal(sig)
    out, err = p.communicate(timeout=120)
    return p.returncode, out, err


@pytest.mark.parametrize("sig, code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_stop_signal_mid_write_rolls_back_records_an_error_and_says_one_line(db_url, make_config, sig, code):
    import signal
    cfg = make_config(db_url=db_url)
    with psycopg.connect(db_url, autocommit=True) as c:
        load_samples(c, cfg)
    rc, out, err = _stop_mid_write(db_url, cfg, getattr(signal, sig), str(ROOT / "update_traficov2.py"), "--no-notebook")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == code and len(lines) == 1 and f"stopped by {sig}" in lines[0], (rc, out, err)
    assert "Traceback" not in err
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM traficov2_arribos").fetchone()[0] == 0  # rolled back
        log = c.execute("SELECT operation, details->>'error' FROM traficov2_sync_log").fetchall()
    assert [op for op, _ in log] == ["ERROR"] and sig in log[0][1]


def test_a_sigterm_while_a_notebook_writes_stops_the_kernel_and_rolls_back(db_url, make_config):
    import signal
    cfg = make_config(db_url=db_url)
    with psycopg.connect(db_url, autocommit=True) as c:
        load_samples(c, cfg)
    rc, out, err = _stop_mid_write(db_url, cfg, signal.SIGTERM, "-m", "trafico_lib.runner", "sync")
    assert rc == 143 and "stopped by SIGTERM" in err and "Traceback" not in err, (rc, out, err)
    import time
    with psycopg.connect(db_url, autocommit=True) as c:
        deadline = time.monotonic() + 15  # the kernel is gone: its session ends with it
        while c.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'trafico'").fetchone()[0]:
            assert time.monotonic() < deadline, "the kernel's database session outlived the stop"
            time.sleep(0.1)
        assert c.execute("SELECT count(*) FROM traficov2_arribos").fetchone()[0] == 0
        log = c.execute("SELECT operation, details->>'error' FROM traficov2_sync_log").fetchall()
    assert [op for op, _ in log] == ["ERROR"] and "SIGTERM" in log[0][1], log


def test_an_archive_that_cannot_be_written_stops_the_run_before_it_syncs(db_url, make_config, tmp_path):
    (tmp_path / "blocker").write_text("a file where the archive folder should be", encoding="utf-8")
    cfg = make_config({"audit_archive": {"path": str(tmp_path / "blocker" / "runs")}}, db_url=db_url)
    with psycopg.connect(db_url, autocommit=True) as c:
        load_samples(c, cfg)
    p = cli("--table", "arribos", "--config", cfg.source_path)
    err = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode == 1 and len(err) == 1 and "cannot archive the executed notebook" in err[0], p.stderr
    assert "audit_archive.path" in err[0] and "Traceback" not in p.stderr
    with psycopg.connect(db_url) as c:
        assert c.execute("SELECT count(*) FROM traficov2_arribos").fetchone()[0] == 0


# ---- what a cron log shows (output not a terminal) ------------------------------------------

def _runner(*args, cwd):
    """``python -m trafico_lib.runner *args`` in this process (its notebook kernels are processes
    still); the runner runs as a process in the SIGTERM test."""
    env = {k: v for k, v in os.environ.items() if k != "TRAFICO_DATABASE_URL"}
    return inprocess.run(["-m", "trafico_lib.runner", *args], env=env, cwd=cwd)


def _no_absolute_path(out: str, *roots: Path) -> None:
    for root in roots:
        assert str(root) not in out, out


def test_a_cron_log_has_a_stamped_start_and_finish_line_per_table_and_a_stamped_summary(db_url, make_config,
                                                                                      tmp_path):
    """Output to a file: each table's start and finish is one line with the time (ISO, to the
    second) and the run id, the finish with its counts, duration and the .html to open; a big
    table's progress in between; every summary line is stamped with the same run id; no
    absolute path (the config is in the working folder)."""
    cfg = make_config(db_url=db_url)
    with psycopg.connect(db_url, autocommit=True) as c:
        load_samples(c, cfg)
    # through the notebooks (the runner, as make sync), a table read in chunks of 20 rows: the
    # kernel's chunk lines reach the log as they come, between the start and the finish
    small = make_config({"database": {"chunk_rows": 20}}, db_url=db_url)
    nb = _runner("sync", "--mode", "full", "--table", "remisiones", "--config", Path(small.source_path).name,
                 cwd=tmp_path)
    assert nb.returncode == 0, nb.stdout + nb.stderr
    lines = stamped_lines(nb.stdout)
    assert len(lines) == len(nb.stdout.splitlines()) and len({r for _, r, _ in lines}) == 1, nb.stdout
    run_id = lines[0][1]
    texts = [t for _, _, t in lines]
    assert texts[0] == "remisiones: started (full)"
    assert [re.sub(r" \(.*", "", t) for t in texts[1:4]] == [f"remisiones: chunk {n} staged" for n in (2, 3, 4)]
    html = f"runs/{run_id[:4]}/{run_id[4:6]}/{run_id[6:8]}/{run_id}_sync_remisiones.html"
    assert re.fullmatch(r"remisiones: ok in \d+\.\d s: run \d+\.\d s \(write 0\.\d{3} s\) \+ kernel start and "
                        r"archive \d+\.\d s; 65 rows read = 65 kept \+ 0 duplicate rows replaced \+ 0 rejected; "
                        r"65 keys = 65 inserted \+ 0 updated \+ 0 unchanged; 0 deactivated; "
                        rf"{re.escape(html)}", texts[4]), texts[4]
    assert (tmp_path / html).is_file()
    assert any(t.startswith("remisiones: Inserted 65") and t.endswith(f"| archive {html}") for t in texts), texts
    assert texts[-1].startswith("Archive: runs/") and texts[-1].endswith(f"open {html})")
    assert not nb.stderr.strip(), nb.stderr  # stderr: warnings and the one-line error only
    # the old command line, through the library (a touched change time: remisiones is read again,
    # not skipped as unchanged since the run above, pipeline/probe.py)
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("UPDATE remisiones SET fecha_modificacion = now() WHERE id = (SELECT min(id) FROM remisiones)")
    p = cli("--mode", "full", "--no-notebook", "--config", Path(cfg.source_path).name, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    lines = stamped_lines(p.stdout)
    assert len(lines) == len(p.stdout.splitlines()), p.stdout  # every line stamped
    assert len({r for _, r, _ in lines}) == 1 and run_id not in p.stdout
    texts = [t for _, _, t in lines]
    for table in TABLES:
        start = texts.index(f"{table}: started (full, --no-notebook)")
        assert re.fullmatch(rf"{table}: ok, run \d+\.\d+ s \(write \d+\.\d+ s\); \d+ rows read = \d+ kept \+ "
                            r"\d+ duplicate rows? replaced \+ \d+ rejected; \d+ keys = \d+ inserted \+ 0 updated \+ "
                            r"\d+ unchanged; 0 deactivated", texts[start + 1]), texts[start + 1]
    assert texts.index("=== Sync Summary ===") > texts.index(f"{list(TABLES)[-1]}: started (full, --no-notebook)")
    assert texts[-2].startswith("Total: Inserted") and texts[-1].startswith("  ") and "rows read =" in texts[-1]
    assert "Traceback" not in p.stderr and not p.stderr.strip(), p.stderr
    _no_absolute_path(p.stdout + p.stderr + nb.stdout + nb.stderr, tmp_path, ROOT)
    # --json: only the JSON on stdout
    js = cli("--no-notebook", "--json", "--table", "remisiones", "--config", cfg.source_path, cwd=tmp_path)
    assert js.returncode == 0 and json.loads(js.stdout)["results"][0]["status"] == "ok", js.stdout


def test_a_big_table_logs_a_line_every_ten_batches_of_its_merge(caplog):
    from types import SimpleNamespace

    from trafico_lib import pipeline
    ctx = SimpleNamespace(run_id="20261130T120000-abcdef", spec=SimpleNamespace(name="arribos"))
    seen = []
    _, on_batch = pipeline._progress(ctx, 125_000, lambda done, total: seen.append(done), False)
    with caplog.at_level("INFO", logger=pipeline.PROGRESS_LOGGER):
        for done in range(5000, 125_001, 5000):  # 25 batches
            on_batch(done, 125_000)
    assert len(seen) == 25  # the caller's callback still gets every batch
    assert [r.getMessage() for r in caplog.records] == [
        "20261130T120000-abcdef arribos: merged 50,000 of 125,000 rows (10 batches)",
        "20261130T120000-abcdef arribos: merged 100,000 of 125,000 rows (20 batches)"]


def test_summary_lines_carry_the_time_and_the_run_id():
    from trafico_lib.cli import format_summary
    from trafico_lib.cli.output import format_back_propagation
    res = [{"table": "arribos", "run_id": "20261130T120000-abcdef", "status": "ok",
            "counts": {"inserted": 2, "rejected": 1}}]
    text = format_summary(res, store="embedded PostgreSQL")
    lines = stamped_lines(text)
    assert len(lines) == len(text.splitlines()) == 4 and {r for _, r, _ in lines} == {"20261130T120000-abcdef"}
    assert lines[2][2] == ("arribos: Inserted 2, Updated 0, Errors 0 | unchanged 0, "
                           "rejected 1 (see traficov2_sync_rejects, last_run_id = this run), deactivated 0")
    bp = format_back_propagation([{"table": "arribos", "run_id": "20261130T120000-abcdef", "rows_updated": 3}],
                                 dry_run=True)
    assert unstamped(bp) == ["=== Back-propagation (dry-run, nothing written) ===", "arribos: would update 3 source rows"]
    assert all(STAMP.match(ln) for ln in bp.splitlines())


def _database_state(url: str) -> dict:
    """Every trafico table's rows, as one fingerprint per table."""
    tables = [s.target for s in TABLES.values()] + ["traficov2_sync_log", "traficov2_sync_changes",
                                                   "traficov2_sync_rejects", "traficov2_sync_state"]
    with psycopg.connect(url) as c:
        return {t: c.execute(f"SELECT count(*), md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) "
                             f"FROM {t} x").fetchone() for t in tables}


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


def test_a_dry_run_writes_nothing_to_the_database_or_the_audit_archive_and_prints_the_planned_changes(
        db_url, make_config, tmp_path):
    cfg = make_config(db_url=db_url)
    name = Path(cfg.source_path).name
    with psycopg.connect(db_url, autocommit=True) as c:
        load_samples(c, cfg)
    assert _runner("sync", "--mode", "full", "--table", "arribos", "--config", name, cwd=tmp_path).returncode == 0
    with psycopg.connect(db_url, autocommit=True) as c:  # seven rows move terminal, one arrives
        c.execute("""UPDATE arribos SET "Terminal" = 'Muelle 7', updated_at = now() WHERE id <= 7""")
        c.execute("""INSERT INTO arribos ("Fecha", "Terminal", "Turno", "Contenedor", "Cliente", "Oper.", "Estado",
                     updated_at) VALUES ('30/11', 'Muelle 1', '0800', 'MSCU1234566', 'Nuevo SA', 'IMPO', 'Asignado',
                     now())""")
    before = _database_state(db_url)
    archive, reports = _files(tmp_path / "runs"), _files(tmp_path / "reports")
    assert archive and reports  # the real run left its notebook and its validation result
    # make dry-run: the runner with params/dry_run.yaml over params/incremental.yaml
    dry = _runner("sync", "--params", str(ROOT / "params" / "incremental.yaml"), "--params",
                  str(ROOT / "params" / "dry_run.yaml"), "--table", "arribos", "--config", name, cwd=tmp_path)
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert _database_state(db_url) == before
    assert _files(tmp_path / "runs") == archive and _files(tmp_path / "reports") == reports
    run_id = stamped_lines(dry.stdout)[0][1]
    html = f"runs-dry/{run_id[:4]}/{run_id[4:6]}/{run_id[6:8]}/{run_id}_sync_arribos.html"
    assert (tmp_path / html).is_file()
    texts = summary(dry.stdout)
    assert texts[0] == "=== Dry-run Plan (nothing written) ==="
    line = next(t for t in texts if t.startswith("arribos: "))  # nothing was inserted: it says what would be
    assert line.startswith("arribos: Would insert 1, would update 7, Errors 0 | unchanged "), line
    assert "rejected 1 (not recorded: dry run), would deactivate 0 | notebook " in line, line
    i = next(i for i, t in enumerate(texts) if t.startswith("  planned: "))
    assert texts[i] == "  planned: 7 field changes (7 rows), 1 new row, 0 to deactivate; the first 5:", texts[i]
    planned = texts[i + 1:i + 6]
    assert all(re.fullmatch(r"    \S+: Terminal '[^']+' → 'Muelle 7'", t) for t in planned), planned
    assert texts[i + 6] == f"    … 3 more; all in {html}", texts[i + 6]
    assert texts[-1].startswith("Dry-run notebooks (apart from the audit archive): runs-dry/")
    _no_absolute_path(dry.stdout + dry.stderr, tmp_path, ROOT)
    # the old command line, through the library: the same lines, and where to see them all
    old = cli("--dry-run", "--no-notebook", "--table", "arribos", "--config", name, cwd=tmp_path)
    assert old.returncode == 0, old.stderr
    texts = summary(old.stdout)
    i = texts.index("  planned: 7 field changes (7 rows), 1 new row, 0 to deactivate; the first 5:")
    assert texts[i + 1:i + 6] == planned
    assert texts[i + 6] == "    … 3 more; the dry-run notebook lists them all (run it without --no-notebook)"
    assert _database_state(db_url) == before and _files(tmp_path / "runs") == archive


def test_planned_changes_name_new_rows_deactivations_and_empty_values():
    from trafico_lib.cli.output import planned_lines
    r = {"table": "arribos", "counts": {"inserted": 2, "updated": 1, "deactivated": 1},
         "plan": {"field_changes": 1, "sample_changes": [{"sync_key": "K1", "field": "Chofer", "old": "None",
                                                          "new": "Juan Pérez"}],
                  "sample_inserts": ["K2", "K3"], "sample_deactivations": ["K4"]}}
    assert planned_lines(r, "runs-dry/x.html", shown=3) == [
        "  planned: 1 field change (1 row), 2 new rows, 1 to deactivate; the first 3:",
        "    K1: Chofer (empty) → 'Juan Pérez'", "    K2: new row", "    K3: new row",
        "    … 1 more; all in runs-dry/x.html"]
    assert planned_lines({"table": "arribos", "counts": {}, "plan": {"field_changes": 0}}, None) == \
        ["  planned: no change"]
