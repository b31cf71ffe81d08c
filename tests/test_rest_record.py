"""The run's record over Supabase's REST API (a real PostgREST): the state follows the direct
path's own rule (the REST store calls a function rendered from the direct path's statement),
the log row lands, and the lease keeps two runs of a table apart: refused while held, renewed
by its run, taken over once expired, released by its run only."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, UTC

import psycopg
import pytest

import rest_server as harness
from trafico_lib.stores import PostgresStore
from trafico_lib.stores.rest.store import RestStore
from trafico_lib.tables import get_table

SPEC = get_table("arribos")
T = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def project(empty_db_url, tmp_path):
    with harness.supabase_project(empty_db_url, tmp_path) as server:
        yield server


def _direct_state(url, steps):
    store = PostgresStore(url)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DELETE FROM traficov2_sync_state")
    for run_id, wm in steps:
        with store.transaction() as conn:
            from trafico_lib.stores.pg.record import write_state
            write_state(conn, SPEC, run_id, wm)
    return store.read_state(SPEC)


def test_the_state_follows_the_direct_paths_rule(project):
    store = RestStore(project.url, project.service_key)
    assert store.read_state(SPEC) == {}
    steps = [("r1", T), ("r2", T - timedelta(hours=1)), ("r3", None), ("r4", T + timedelta(seconds=1.5))]
    for run_id, wm in steps[:3]:
        store.write_state(SPEC, run_id, wm)
    rest = store.read_state(SPEC)
    assert rest["watermark"] == T and rest["last_run_id"] == "r3"  # never moves back, nor to nothing
    store.write_state(SPEC, *steps[3])
    rest = store.read_state(SPEC)
    direct = _direct_state(project.db_url, steps)
    assert rest["watermark"] == direct["watermark"] == T + timedelta(seconds=1.5)
    assert rest["last_run_id"] == direct["last_run_id"] == "r4"


def test_the_log_row_lands(project):
    store = RestStore(project.url, project.service_key)
    store.write_log(SPEC, "SYNC", {"run_id": "r1", "counts": {"inserted": 3}, "when": T})
    with psycopg.connect(project.db_url) as c:
        row = c.execute("SELECT table_name, operation, source_table, details FROM traficov2_sync_log").fetchone()
    assert row[:3] == ("traficov2_arribos", "SYNC", "arribos")
    assert row[3]["counts"] == {"inserted": 3} and row[3]["when"].startswith("2026-11-20 08:00:00")


def test_the_lease_keeps_two_runs_apart(project):
    a = RestStore(project.url, project.service_key)
    b = RestStore(project.url, project.service_key)
    first = a.take_lease(SPEC, "run-a", holder="host-a:1", seconds=60)
    assert first["taken"] and first["run_id"] == "run-a"
    second = b.take_lease(SPEC, "run-b", holder="host-b:2", seconds=60)
    assert not second["taken"] and second["holder"] == "host-a:1" and second["run_id"] == "run-a"
    renewed = a.take_lease(SPEC, "run-a", holder="host-a:1", seconds=120)
    assert renewed["taken"] and renewed["expires_at"] > first["expires_at"]
    assert not b.release_lease(SPEC, "run-b")  # not its lease
    assert a.release_lease(SPEC, "run-a")
    assert b.take_lease(SPEC, "run-b", holder="host-b:2", seconds=1)["taken"]
    assert not a.take_lease(SPEC, "run-c", holder="host-a:1", seconds=60)["taken"]
    time.sleep(1.2)  # run-b died holding it: once expired, the lease is taken over
    taken = a.take_lease(SPEC, "run-c", holder="host-a:1", seconds=60)
    assert taken["taken"] and taken["run_id"] == "run-c"


def test_two_runs_asking_at_once_get_one_lease(project):
    from concurrent.futures import ThreadPoolExecutor
    stores = [RestStore(project.url, project.service_key) for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(lambda i: stores[i].take_lease(SPEC, f"run-{i}", holder=f"h{i}", seconds=60), range(6)))
    assert sum(g["taken"] for g in got) == 1
    winner = next(g["run_id"] for g in got if g["taken"])
    assert all(g["run_id"] == winner for g in got)


def _history(url):
    """Log, change and reject rows, old and new; one old reject still open (its key has no
    active row and it is the key's newest), one old reject closed by a newer one."""
    old, new = T - timedelta(days=40), T
    with psycopg.connect(url, autocommit=True) as c:
        for when in (old, old, new):
            c.execute("INSERT INTO traficov2_sync_log (table_name, operation, sync_timestamp, details) "
                      "VALUES ('traficov2_arribos', 'SYNC', %s, '{}')", (when,))
            c.execute("INSERT INTO traficov2_sync_changes (run_id, table_name, sync_key, field, created_at) "
                      "VALUES ('r', 'traficov2_arribos', 'K', 'Chofer', %s)", (when,))
        for key, when in (("OPEN", old), ("CLOSED", old), ("CLOSED", new)):
            c.execute("INSERT INTO traficov2_sync_rejects (run_id, table_name, sync_key, created_at) "
                      "VALUES ('r', 'traficov2_arribos', %s, %s)", (key, when))


def _left(url):
    with psycopg.connect(url) as c:
        return [c.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("traficov2_sync_log", "traficov2_sync_changes", "traficov2_sync_rejects")]


def test_pruning_over_rest_counts_and_deletes_what_the_direct_path_does(project):
    from trafico_lib.stores.pg.retention import prune_database
    _history(project.db_url)
    store = RestStore(project.url, project.service_key)
    cutoff = T - timedelta(days=30)
    planned = store.prune(cutoff, dry_run=True)
    with psycopg.connect(project.db_url) as c:
        assert planned == prune_database(c, cutoff, dry_run=True)
    assert planned == {"log": 2, "changes": 2, "rejects": 1, "open_rejects_kept": 1}
    assert _left(project.db_url) == [3, 3, 3]  # a dry run deletes nothing
    assert store.prune(cutoff) == planned
    assert _left(project.db_url) == [1, 1, 2]
    with psycopg.connect(project.db_url) as c:
        assert sorted(r[0] for r in c.execute("SELECT sync_key FROM traficov2_sync_rejects")) == ["CLOSED", "OPEN"]
