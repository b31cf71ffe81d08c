"""``trafico watch``'s loop in this process, against the real database (direct and REST): idle
cycles write nothing and memory stays flat over 10,000 of them; an unchanged table is marked
checked (what the health check's lag counts from); a busy table is said in one line and run the
next cycle; a failing table backs off while the others run; a signal during a run lets it finish.
The process itself (the console script, SIGTERM, NOTIFY, a database restart) is tests/test_watch_cli.py."""
from __future__ import annotations

import gc
import os
import signal
import time
import tracemalloc
from datetime import timedelta

import psutil
import pytest

from test_engine import src, store_config  # noqa: F401 - fixtures
from trafico_lib.config import load_config
from trafico_lib.engine.probe import SourceProbe
from trafico_lib.errors import ConfigError
from trafico_lib.health.facts import lag_facts
from trafico_lib.sample import load_samples
from trafico_lib.stores import open_store
from trafico_lib.watch import Backoff, Stop, Watcher, library_run, loop, open_link, run_mode


def watcher(cfg, names, lines, *, run_table=None, stop=None) -> Watcher:
    return Watcher.for_tables(cfg, names, connect=lambda: open_link(open_store(cfg), notify=cfg.watch.notify),
                              run_table=run_table or library_run(cfg), say=lambda text, run_id=None: lines.append(text),
                              stop=stop or Stop())


@pytest.fixture
def sources(conn, db_url, make_config):
    load_samples(conn, make_config(db_url=db_url), tables=["arribos", "pendiente_desconsolidar"])
    return conn


def log_rows(conn) -> int:
    return conn.execute("SELECT count(*) FROM traficov2_sync_log").fetchone()[0]


# ---- pure ---------------------------------------------------------------------------------------

def test_backoff_doubles_from_the_poll_interval_up_to_its_cap():
    b = Backoff(base=5, cap=30)
    assert [b.fail(100.0) for _ in range(5)] == [5, 10, 20, 30, 30]
    assert not b.ready(129.0) and b.ready(130.0) and b.failures == 5
    b.reset()
    assert b.failures == 0 and b.ready(0.0)


def test_a_run_is_full_only_when_rows_may_have_left_the_source():
    t0, t1 = (pd_time("2026-12-06 10:00"), pd_time("2026-12-06 10:05"))
    was = SourceProbe(10, t0, "1")
    assert run_mode(None, was) == "incremental"                       # the watch's first run
    assert run_mode(was, SourceProbe(11, t1, "2")) == "incremental"   # an insert
    assert run_mode(was, SourceProbe(10, t1, "2")) == "incremental"   # an update that set its change time
    assert run_mode(was, SourceProbe(9, t0, "3")) == "full"           # a delete
    assert run_mode(was, SourceProbe(10, t0, "4")) == "full"          # an update behind the change time's back
    assert run_mode(SourceProbe(10, None, "1"), SourceProbe(10, None, "5")) == "full"  # no change-time column


def pd_time(text: str):
    from datetime import UTC, datetime
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_bad_watch_settings_are_one_line(make_config):
    with pytest.raises(ConfigError) as bad:
        make_config({"watch": {"poll_seconds": 0}})
    assert "watch.poll_seconds: expected" in str(bad.value) and "\n" not in str(bad.value)
    with pytest.raises(ConfigError, match=r"watch\.notfy: unknown key \(did you mean notify\?\)"):
        make_config({"watch": {"notfy": True}})
    cfg = make_config({})
    assert (cfg.watch.poll_seconds, cfg.watch.notify, cfg.watch.max_backoff_seconds) == (3.0, False, 300.0)


def test_the_lag_of_a_watched_table_counts_from_when_the_watch_last_found_it_unchanged():
    cfg = load_config(None, env_file=None)
    now = pd_time("2026-12-06 12:00")
    old = {"last_success_at": now - timedelta(hours=30), "watermark": None, "last_run_id": "r"}
    assert lag_facts(cfg, old, now)["lag_ok"] is False
    checked = lag_facts(cfg, {**old, "checked_at": now - timedelta(minutes=1)}, now)
    assert checked["lag_hours"] == 0.02 and checked["lag_ok"] is True
    assert checked["last_success_at"] == old["last_success_at"]  # the last sync is still what it was


def test_trafico_watch_is_its_own_command_and_the_old_flags_are_untouched(tmp_path):
    from cli_inprocess import run
    helped = run(["trafico", "watch", "--help"], cwd=tmp_path)
    assert helped.returncode == 0 and "--no-notebook" in helped.stdout and "--remove-triggers" in helped.stdout
    bad = run(["trafico", "watch", "--table", "nope"], cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.strip().startswith("error: unknown table 'nope'; valid tables:")
    assert len(bad.stderr.strip().splitlines()) == 1
    old = run(["update_traficov2.py", "--help"], cwd=tmp_path)
    assert old.returncode == 0 and "--mode" in old.stdout and "--remove-triggers" not in old.stdout
    assert run(["-m", "trafico_lib.runner", "watch", "--help"], cwd=tmp_path).returncode == 0


def test_step_017_reaches_the_sql_supabase_users_paste():
    from trafico_lib.schema import latest_version, render_sql
    text = render_sql()
    assert "-- migration 017: watch" in text and "traficov2_watch_checked" in text and "traficov2_watch_notify" in text
    assert latest_version() >= "017"


# ---- against the database -------------------------------------------------------------------------

def test_idle_cycles_write_nothing_and_memory_stays_flat_over_10000_cycles(sources, db_url, make_config):
    cfg = make_config(db_url=db_url)
    cfg.watch.poll_seconds = 0.0  # (under the configuration's floor: a probe every cycle)
    lines: list[str] = []
    w = watcher(cfg, ["arribos"], lines)
    probes = 0
    w.start(how="test")
    w.run(cycles=1)  # the start's catch-up run
    assert "arribos (start, incremental): ok" in lines[-1]
    link_probe = w.link.probe

    def counted(*args):
        nonlocal probes
        probes += 1
        return link_probe(*args)
    w.link.probe = counted  # type: ignore[method-assign]
    state = sources.execute("SELECT * FROM traficov2_sync_state").fetchall()
    logged = log_rows(sources)
    w.run(cycles=1_001)
    gc.collect()
    tracemalloc.start()
    rss = psutil.Process().memory_info().rss
    before = tracemalloc.take_snapshot()
    t0 = time.monotonic()
    w.run(cycles=10_001)
    took = time.monotonic() - t0
    gc.collect()
    after = tracemalloc.take_snapshot()
    grown_rss = psutil.Process().memory_info().rss - rss
    tracemalloc.stop()
    grown = sum(s.size_diff for s in after.compare_to(before, "filename"))
    assert w.cycles == 10_001 and probes >= 10_000, probes
    print(f"9,000 idle cycles in {took:.1f} s: {grown} bytes traced, RSS {grown_rss} bytes")
    assert grown < 200_000, f"{grown} bytes more after 9,000 idle cycles"
    assert grown_rss < 8 * 2**20, f"RSS grew {grown_rss} bytes"
    assert log_rows(sources) == logged                                                 # no log row per probe
    assert sources.execute("SELECT * FROM traficov2_sync_state").fetchall() == state   # nor a state write
    assert len(lines) == 2, lines                                                      # nor a line


@pytest.mark.parametrize("store_config", ["direct", "pooler", "rest"], indirect=True)
def test_an_unchanged_table_is_marked_checked_and_health_counts_its_lag_from_then(store_config, conn, monkeypatch):
    """(Through a transaction pooler, asked to notify, it polls: a LISTEN would not survive.)"""
    cfg = store_config({"watch": {"poll_seconds": 0.1, "notify": True, "notify_poll_seconds": 0.1}})
    load_samples(conn, cfg, tables=["arribos"])
    monkeypatch.setattr(loop, "CHECKED_EVERY", 0.5)  # (a minute in the watch)
    lines: list[str] = []
    w = watcher(cfg, ["arribos"], lines)
    w.start(how="test")
    assert lines[0].endswith({"direct": "notified (LISTEN trafico_watch; probed every 0.100 s too): arribos",
                              "pooler": "polled every 0.100 s: arribos (watch.notify is on, but a transaction "
                                        "pooler drops a LISTEN)",
                              "rest": "polled every 0.100 s: arribos (no LISTEN over the REST API)"}[
        "rest" if not cfg.database_url else "pooler" if cfg.database.transaction_pooler else "direct"]), lines[0]
    w.run(cycles=1)
    conn.execute("UPDATE traficov2_sync_state SET last_success_at = now() - interval '30 hours'")
    logged = log_rows(conn)
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        w.run(cycles=w.cycles + 1)
    checked = conn.execute("SELECT checked_at > now() - interval '1 minute' FROM traficov2_sync_state "
                           "WHERE table_name = 'traficov2_arribos'").fetchone()[0]
    assert checked is True
    assert log_rows(conn) == logged
    with open_store(cfg).health_reader() as reader:
        state, now = reader.states()["traficov2_arribos"], reader.now()
    facts = lag_facts(cfg, state, now)
    assert facts["lag_ok"] is True and facts["lag_hours"] < 0.1, facts


@pytest.mark.parametrize("store_config", ["direct", "rest"], indirect=True)
def test_a_busy_table_is_one_line_and_runs_the_next_cycle(store_config, conn):
    """A cron run of the table holds it (direct: the advisory lock; REST: the lease): the watch
    says so in one line, counts no failure, writes no ERROR row, and runs it once it is free."""
    import psycopg

    from trafico_lib.tables import get_table
    cfg = store_config({"watch": {"poll_seconds": 0.2}, "database": {"lock_timeout_seconds": 0.2}})
    load_samples(conn, cfg, tables=["arribos"])
    lines: list[str] = []
    w = watcher(cfg, ["arribos"], lines)
    w.start(how="test")
    store, spec = open_store(cfg), get_table("arribos")
    holder = psycopg.connect(conn.info.dsn) if cfg.database_url else None
    if holder is not None:
        holder.execute("SELECT pg_advisory_xact_lock(hashtext('trafico:traficov2_arribos'))")
    else:
        assert store.take_lease(spec, "20261206T020000-c0ffee", holder="cron", seconds=60)["taken"]
    try:
        w.run(cycles=1)
    finally:
        if holder is not None:
            holder.close()
        else:
            store.release_lease(spec, "20261206T020000-c0ffee")
    assert [x for x in lines if "busy" in x] == [lines[-1]]
    assert lines[-1].startswith("arribos: busy, not run this cycle: " + (
        "another sync of this table is running" if cfg.database_url else "another run (20261206T020000-c0ffee on cron)"))
    assert lines[-1].endswith("trying again in 0.200 s")
    w.run(cycles=4)
    assert any("arribos (start, incremental): ok" in x for x in lines), lines
    errors = conn.execute("SELECT count(*) FROM traficov2_sync_log WHERE operation = 'ERROR'").fetchone()[0]
    assert errors == 0 and w.tables[0].backoff.failures == 0


def test_a_failing_table_backs_off_while_the_others_keep_running(sources, db_url, make_config):
    cfg = make_config({"watch": {"poll_seconds": 0.1, "max_backoff_seconds": 1}}, db_url=db_url)
    lines: list[str] = []
    w = watcher(cfg, ["arribos", "pendiente_desconsolidar"], lines)
    w.start(how="test")
    w.run(cycles=1)
    sources.execute('ALTER TABLE arribos RENAME TO arribos_away')  # its source gone: every run fails
    sources.execute('INSERT INTO pendiente_desconsolidar ("Contenedor") VALUES (%s)', ("TCLU1234565",))
    started = time.monotonic()
    while time.monotonic() - started < 4:
        w.run(cycles=w.cycles + 1)
    failed = [x for x in lines if x.startswith("arribos: failed")]
    assert len(failed) >= 4, lines
    assert failed[0] == ("arribos: failed (1 time in a row): source table 'arribos' does not exist; "
                         "next try in 0.100 s")
    assert "(2 times in a row)" in failed[1] and "next try in 0.200 s" in failed[1]
    assert failed[-1].endswith("next try in 1.0 s (the longest wait: watch.max_backoff_seconds)")
    assert len(failed) <= 8  # (0.1 + 0.2 + 0.4 + 0.8 + 1 + 1 ...: backed off, not every cycle)
    assert any(x.startswith("pendiente_desconsolidar (changed, incremental): ok") for x in lines), lines
    errors = sources.execute("SELECT count(*) FROM traficov2_sync_log WHERE operation = 'ERROR' "
                             "AND table_name = 'traficov2_arribos'").fetchone()[0]
    assert errors == len(failed)  # what the health check's failed syncs count
    sources.execute('ALTER TABLE arribos_away RENAME TO arribos')
    started = time.monotonic()
    while time.monotonic() - started < 2.5 and not lines[-1].startswith("arribos: back to normal"):
        w.run(cycles=w.cycles + 1)
    assert lines[-1] == f"arribos: back to normal after {len(failed)} failed runs", lines[-3:]


def test_a_signal_during_a_run_lets_the_table_finish_then_the_watch_stops(sources, db_url, make_config):
    cfg = make_config({"watch": {"poll_seconds": 0.1}}, db_url=db_url)
    lines: list[str] = []
    run = library_run(cfg)

    def signalled(*args):
        os.kill(os.getpid(), signal.SIGTERM)  # systemd stopping the service mid-run
        return run(*args)
    stop = Stop()
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        stop.install()
        w = watcher(cfg, ["arribos", "pendiente_desconsolidar"], lines, run_table=signalled, stop=stop)
        w.start(how="test")
        assert w.run() == "SIGTERM"
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)
    assert lines[-1].startswith("arribos (start, incremental): ok"), lines  # finished, and nothing after
    assert sources.execute("SELECT count(*) FROM traficov2_sync_log WHERE operation = 'ERROR'").fetchone()[0] == 0
