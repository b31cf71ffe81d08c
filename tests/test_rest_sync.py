"""A sync through Supabase's REST API (a real PostgREST) writes exactly what the direct path
writes: the same sample data synced into two databases, one by each store, leaves the same
target rows, the same changes and the same counts, through a first load, an unchanged rerun, a
desk edit that must survive, a source change, a row gone from the source, a row the database
refuses, and a batch size far below the table's size."""
from __future__ import annotations

import os

import psycopg
import pytest

import rest_server as harness
from conftest import fresh_database
from trafico_lib import pipeline as P
from trafico_lib.sample import create_source_tables, load_samples
from trafico_lib.stores import PostgresStore
from trafico_lib.stores.rest.store import RestStore
from trafico_lib.tables import get_table

TABLES = ["arribos", "pendiente_desconsolidar", "remisiones", "arribos_expo_ctns"]
SKIP = {"id", "fecha_registro", "fecha_modificacion", "synced_at", "manual_updated_at", "manual_edits"}


@pytest.fixture
def both(pg_server, db_url, tmp_path, make_config):
    """(config, direct store, REST store, direct URL, REST project URL): two databases with the
    same sources, one kept by each store."""
    cfg = make_config({"sync_settings": {t: {"batch_size": 7} for t in TABLES}})

    def sources(c):
        create_source_tables(c)
        load_samples(c, cfg)
        _settle(c)
    with psycopg.connect(db_url, autocommit=True) as c:
        sources(c)
    with fresh_database(pg_server, f"rest_{os.getpid()}_{id(tmp_path)}") as rest_url, \
            harness.supabase_project(rest_url, tmp_path, prepare=sources) as server:
        yield cfg, PostgresStore(db_url), RestStore(server.url, server.service_key), db_url, rest_url


def _settle(c, when: str = "2026-11-29 10:00+00") -> None:
    """The same change times in both databases (each loaded its sources at its own now())."""
    for t in TABLES:
        for (col,) in c.execute("SELECT column_name FROM information_schema.columns WHERE table_name = %s "
                                "AND column_name IN ('updated_at', 'fecha_modificacion')", (t,)).fetchall():
            c.execute(f"UPDATE {t} SET {col} = %s::timestamptz + id * interval '1 second'", (when,))


def _target(url: str, table: str) -> list[tuple]:
    table = get_table(table).target
    with psycopg.connect(url) as c:
        cols = [r[0] for r in c.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
            (table,)) if r[0] not in SKIP]
        rows = c.execute(f"SELECT {', '.join(chr(34) + x + chr(34) for x in cols)} FROM {table} "
                         "ORDER BY sync_key").fetchall()
    return rows


def _changes(url: str) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute("SELECT table_name, sync_key, field, old, new FROM traficov2_sync_changes "
                         "ORDER BY 1, 2, 3").fetchall()


def _sync(cfg, store, table, mode):
    res = P.run_table(table, mode=mode, cfg=cfg, store=store)
    assert res.status == "ok", res.error
    return res.counts


def _same(cfg, direct, rest, durl, rurl, mode="full") -> dict[str, dict]:
    out = {}
    for t in TABLES:
        a, b = _sync(cfg, direct, t, mode), _sync(cfg, rest, t, mode)
        assert b == a, t
        assert _target(rurl, t) == _target(durl, t), t
        out[t] = a
    assert _changes(rurl) == _changes(durl)
    return out


def test_a_rest_sync_writes_what_the_direct_path_writes(both):
    cfg, direct, rest, durl, rurl = both
    _same(cfg, direct, rest, durl, rurl)
    counts = _same(cfg, direct, rest, durl, rurl, mode="incremental")  # nothing changed: nothing written
    assert all(c["inserted"] == c["updated"] == 0 for c in counts.values())
    for url in (durl, rurl):
        with psycopg.connect(url, autocommit=True) as c:
            key = c.execute("SELECT sync_key FROM traficov2_arribos WHERE activo ORDER BY sync_key LIMIT 1").fetchone()[0]
            c.execute("""UPDATE traficov2_arribos SET "Chofer" = 'DESK' WHERE sync_key = %s""", (key,))  # the desk
            c.execute("""UPDATE arribos SET "Cliente" = 'CAMBIADO', updated_at = '2026-11-30 09:00+00'
                         WHERE id IN (2, 3)""")
            c.execute("""UPDATE arribos SET "Peso" = '-5', updated_at = '2026-11-30 09:00+00'
                         WHERE id = 4""")  # the database refuses it: CHECK (Peso >= 0)
            c.execute("DELETE FROM arribos WHERE id = 5")
    counts = _same(cfg, direct, rest, durl, rurl)["arribos"]
    assert counts["updated"] >= 2 and counts["deactivated"] >= 1 and counts["rejected"] >= 1
    for url in (durl, rurl):
        with psycopg.connect(url) as c:
            assert c.execute("""SELECT count(*) FROM traficov2_arribos WHERE "Chofer" = 'DESK'""").fetchone()[0] == 1
            reasons = c.execute("SELECT reasons FROM traficov2_sync_rejects WHERE table_name = 'traficov2_arribos' "
                                "AND reasons::text LIKE '%check constraint%'").fetchall()
            assert len(reasons) == 1, url
    import io
    for t in TABLES:  # the daily CSV backup of a target: the same bytes from either store
        a, b = io.BytesIO(), io.BytesIO()
        direct.write_snapshot(get_table(t), a)
        rest.write_snapshot(get_table(t), b)
        lines_a, lines_b = a.getvalue().decode().splitlines(), b.getvalue().decode().splitlines()
        assert lines_b[0] == lines_a[0] and len(lines_b) == len(lines_a) > 1, t


def test_a_rest_dry_run_plans_what_the_direct_path_plans_and_writes_nothing(both):
    cfg, direct, rest, durl, rurl = both
    for t in TABLES:  # a first load, then changes: inserts, updates and deactivations to plan
        _sync(cfg, direct, t, "full"), _sync(cfg, rest, t, "full")
    for url in (durl, rurl):
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("""UPDATE arribos SET "Cliente" = 'PLAN', updated_at = '2026-11-30 09:00+00' WHERE id < 6""")
            c.execute("DELETE FROM arribos WHERE id IN (7, 8)")
    before = _target(rurl, "arribos"), _changes(rurl)
    plans = []
    for store in (direct, rest):
        ctx = P.start("arribos", mode="full", dry_run=True, cfg=cfg, store=store)
        try:
            stg, _ = P.prepare(ctx)
            plans.append(P.plan(ctx, stg))
        finally:
            ctx.close()
    a, b = plans
    assert b.counts == a.counts and a.counts["updated"] >= 4 and a.counts["deactivated"] == 2
    assert sorted(b.deactivations["sync_key"]) == sorted(a.deactivations["sync_key"])
    assert list(b.updates["sync_key"]) == list(a.updates["sync_key"])
    assert list(b.updates["field"]) == list(a.updates["field"])
    assert (_target(rurl, "arribos"), _changes(rurl)) == before  # written nowhere


def test_back_propagation_over_rest_edits_the_source_as_the_direct_path_does(both):
    """The desk's Chofer on three rows goes back into the source rows, by either store, to the
    same effect; a dry run lists the edits and writes nothing; the next sync writes nothing."""
    cfg, direct, rest, durl, rurl = both
    for store in (direct, rest):
        _sync(cfg, store, "arribos", "full")
    with psycopg.connect(durl) as c:
        ids = [int(r[0]) for r in c.execute("SELECT source_id FROM traficov2_arribos WHERE activo "
                                            "ORDER BY source_id::int LIMIT 3 OFFSET 2").fetchall()]
    for url in (durl, rurl):
        with psycopg.connect(url, autocommit=True) as c:
            c.execute("""UPDATE traficov2_arribos SET "Chofer" = 'DESK ' || source_id
                         WHERE source_id = ANY(%s)""", ([str(i) for i in ids],))
    todo = {"arribos": ["Chofer"]}
    plan = P.back_propagate(cfg, todo, run_id="bp-plan", dry_run=True, store=rest)
    assert plan[0]["status"] == "ok" and plan[0]["rows_updated"] == 3

    def source(url):
        with psycopg.connect(url) as c:
            return c.execute('SELECT id, "Chofer", updated_at FROM arribos ORDER BY id').fetchall()
    before = source(rurl)
    assert [r[1] for r in before] == [r[1] for r in source(durl)]
    got = [P.back_propagate(cfg, todo, run_id="bp-1", store=s)[0] for s in (direct, rest)]
    assert got[0]["rows_updated"] == got[1]["rows_updated"] == 3
    a, b = source(durl), source(rurl)
    assert [r[:2] for r in a] == [r[:2] for r in b]
    assert {r[1] for r in b if r[0] in ids} == {f"DESK {i}" for i in ids}
    bumped = {r[0] for r, old in zip(b, before) if r[2] != old[2]}
    assert bumped == set(ids)  # the change time moves on the edited rows only
    for store in (direct, rest):
        counts = _sync(cfg, store, "arribos", "incremental")
        assert counts["inserted"] == counts["updated"] == 0  # no ping-pong


def test_the_health_facts_over_rest_are_the_direct_paths(both):
    """The same database read for the health check by both readers gives the same facts:
    counts, lags, last run, failures, rejects by rule, source-to-target accounting."""
    from trafico_lib.health.facts import database_facts
    from trafico_lib.stores.pg.health import PostgresHealthReader
    cfg, direct, rest, durl, rurl = both
    for t in TABLES:
        _sync(cfg, rest, t, "full")
    with psycopg.connect(rurl, autocommit=True) as c:
        c.execute("INSERT INTO traficov2_sync_log (table_name, operation, details) VALUES "
                  """('traficov2_arribos', 'ERROR', '{"run_id": "r-x", "error": "boom"}')""")
        c.execute("""UPDATE arribos SET updated_at = now() WHERE id < 4""")  # pending since the last run
    facts = []
    with psycopg.connect(rurl, autocommit=True) as conn:
        f = {"database": {}}
        database_facts(PostgresHealthReader(conn), cfg, f)
        facts.append(f)
    with rest.health_reader() as reader:
        f = {"database": {}}
        database_facts(reader, cfg, f)
        facts.append(f)
    a, b = facts
    assert set(b) == set(a) and a["schema_ok"] and len(a["tables"]) == len(TABLES)
    assert abs((b["database"]["now"] - a["database"]["now"]).total_seconds()) < 30
    for ta, tb in zip(a["tables"], b["tables"]):  # the table's state: as of each reader's database clock
        assert abs((tb["state"].pop("as_of") - ta["state"].pop("as_of")).total_seconds()) < 30
    for k in sorted(set(a) - {"database"}):
        assert b[k] == a[k], k
