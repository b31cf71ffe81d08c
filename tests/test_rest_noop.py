"""A REST run whose source is unchanged is proved a no-op inside the database (schema step 018,
``traficov2_unchanged_<table>``: the direct path's hash and match, ``stores/sql/source.py``): one
call, no source row and no target row shipped, nothing written, nothing deactivated, the same
counts and watermark as the direct path. A source row changed or gone, or one the sync never
writes (a row validation rejects, a duplicate key), is not such a run: the store reads as
before and merges or deactivates as the direct path does."""
from __future__ import annotations

import psycopg
import pytest

import rest_server as harness
from trafico_lib import pipeline as P
from trafico_lib.sample import create_source_tables, load_samples
from trafico_lib.stores import PostgresStore
from trafico_lib.stores.rest.store import RestStore


@pytest.fixture
def project(empty_db_url, tmp_path, make_config):
    # the CSV cross-check off: it compares every key of the source with a whole export by design
    cfg = make_config({"csv_sources": {"enabled": False}})

    def sources(c):
        create_source_tables(c)
        load_samples(c, cfg)
    with harness.supabase_project(empty_db_url, tmp_path, prepare=sources) as server:
        yield cfg, server


def _settled(cfg, server, *tables: str) -> None:
    """The tables synced once, then their source rows the sync never writes (the samples'
    deliberate typos, their duplicate keys) removed: a source every row of which is in the target."""
    store = RestStore(server.url, server.service_key)
    with psycopg.connect(server.db_url, autocommit=True) as c:
        for table in tables:
            _run(cfg, store, table)
            c.execute(f"DELETE FROM {table} s WHERE NOT EXISTS (SELECT 1 FROM traficov2_{table} t "
                      "WHERE t.source_id = s.id::text AND t.activo)")
            assert c.execute(f"SELECT count(*) FROM {table}").fetchone()[0] > 5


def _run(cfg, store, table="arribos", mode="full"):
    """A run that reads its source: these tests prove the read (a run whose source probe is as its
    last run's is skipped before any read, ``pipeline/probe.py``, proved in test_probe/test_skip)."""
    res = P.run_table(table, mode=mode, cfg=cfg, store=store, skip_unchanged=False)
    assert res.status == "ok", res.error
    return res


def _paths(server, since: int) -> list[str]:
    return [p.split("?")[0] for _, p in server.proxy.requests[since:]]



@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_an_unchanged_source_ships_no_row_and_writes_nothing(project, mode):
    cfg, server = project
    _settled(cfg, server, "arribos", "pendiente_desconsolidar")
    store = RestStore(server.url, server.service_key)
    first = _run(cfg, store)
    before = len(server.proxy.requests)
    # the hash path (arribos' timestamp path reads a delta: only a whole read is put to the proof)
    again = _run(cfg, store, "pendiente_desconsolidar", mode) if mode == "incremental" else _run(cfg, store)
    paths = _paths(server, before)
    assert "/rpc/traficov2_source_arribos" not in paths and "/rpc/traficov2_source_pendiente_desconsolidar" not in paths
    # of the target, only the one probe for the old tool's unkeyed rows (none): no row of it read
    read = [p for _, p in server.proxy.requests[before:] if p.startswith(("/traficov2_arribos", "/traficov2_pendiente"))]
    assert all("sync_key=is.null" in p for p in read), read
    assert not [p for p in paths if "merge" in p or "deactivate" in p]
    asked = [p for p in paths if p.startswith("/rpc/traficov2_unchanged_")]
    assert len(asked) == 1, paths
    if mode == "full":
        assert again.counts["read"] == first.counts["read"] == again.counts["unchanged"] > 0
        assert again.counts["inserted"] == again.counts["updated"] == again.counts["deactivated"] == 0
    else:
        assert again.counts["unchanged"] == again.counts["read"] > 0 and again.counts["updated"] == 0


def test_the_proved_no_op_counts_and_watermark_are_the_direct_paths(project):
    cfg, server = project
    rest, direct = RestStore(server.url, server.service_key), PostgresStore(server.db_url)
    _settled(cfg, server, "arribos")
    _run(cfg, rest)
    before = len(server.proxy.requests)
    by_rest = _run(cfg, rest)
    with psycopg.connect(server.db_url) as c:
        rest_state = c.execute("SELECT watermark, source_rows FROM traficov2_sync_state "
                               "WHERE table_name = 'traficov2_arribos'").fetchone()
    assert "/rpc/traficov2_source_arribos" not in _paths(server, before)  # proved, not read
    by_direct = _run(cfg, direct)
    with psycopg.connect(server.db_url) as c:
        direct_state = c.execute("SELECT watermark, source_rows FROM traficov2_sync_state "
                                 "WHERE table_name = 'traficov2_arribos'").fetchone()
    assert by_rest.counts == by_direct.counts
    assert rest_state == direct_state and rest_state[0] is not None


def test_a_changed_or_gone_source_row_is_read_merged_and_deactivated_as_before(project):
    cfg, server = project
    _settled(cfg, server, "arribos")
    store = RestStore(server.url, server.service_key)
    with psycopg.connect(server.db_url, autocommit=True) as c:
        c.execute("""UPDATE arribos SET "Cliente" = 'Otro Cliente SA' WHERE id = (SELECT min(id) FROM arribos)""")
    before = len(server.proxy.requests)
    changed = _run(cfg, store)
    assert changed.counts["updated"] == 1 and changed.counts["deactivated"] == 0
    assert "/rpc/traficov2_source_arribos" in _paths(server, before)
    with psycopg.connect(server.db_url, autocommit=True) as c:
        c.execute("DELETE FROM arribos WHERE id = (SELECT max(id) FROM arribos)")
    gone = _run(cfg, store)  # every remaining row as last written, but one active target row left over
    assert gone.counts["deactivated"] == 1 and gone.counts["updated"] == gone.counts["inserted"] == 0
    with psycopg.connect(server.db_url) as c:
        assert c.execute("SELECT count(*) FROM traficov2_arribos WHERE NOT activo").fetchone()[0] == 1
    before = len(server.proxy.requests)
    again = _run(cfg, store)  # and now a no-op again, proved
    assert again.counts["deactivated"] == 0 and again.counts["unchanged"] == again.counts["read"]
    assert "/rpc/traficov2_source_arribos" not in _paths(server, before)
