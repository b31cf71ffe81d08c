"""A source's probe (``Store.source_probe``): count, newest change time and an order-free hash of
every row, computed in the database, on the direct path and over REST (no source row shipped)."""
from __future__ import annotations

import pytest

import rest_server as harness
from test_engine import insert
from trafico_lib.engine.probe import SourceProbe
from trafico_lib.sample import create_source_tables
from trafico_lib.stores import open_store
from trafico_lib.tables import TABLES


@pytest.fixture
def src(conn):
    create_source_tables(conn)
    return conn


@pytest.fixture(params=["direct", "rest"])
def store_config(request, src, make_config, db_url, tmp_path, monkeypatch):
    if request.param == "direct":
        yield lambda data=None: make_config(data, db_url=db_url)
        return
    with harness.running_project(db_url, tmp_path / "postgrest", monkeypatch) as server:
        request.node.postgrest = server
        assert open_store(make_config()).kind == "supabase-rest"
        yield make_config


def _row(i: int, chofer: str = "A") -> dict:
    return {"Contenedor": f"MSCU{i:06d}6", "Chofer": chofer, "updated_at": f"2026-12-0{1 + i % 5} 10:00+00"}


def test_insert_update_and_delete_each_change_the_probe_and_an_untouched_source_keeps_it(store_config, src):
    spec = TABLES["arribos"]
    insert(src, "arribos", [_row(i) for i in range(1, 4)])
    store = open_store(store_config())
    first = store.source_probe(spec)
    assert isinstance(first, SourceProbe)
    assert first.rows == 3 and first.changed_max is not None and first.changed_max.isoformat().startswith("2026-12-04")
    assert store.source_probe(spec) == first  # untouched: equal

    insert(src, "arribos", [_row(9)])
    inserted = store.source_probe(spec)
    assert inserted.rows == 4 and inserted != first

    # an update that keeps the count and the change time still changes the digest
    src.execute("""UPDATE arribos SET "Chofer" = 'B' WHERE "Contenedor" = 'MSCU0000016'""")
    updated = store.source_probe(spec)
    assert (updated.rows, updated.changed_max) == (inserted.rows, inserted.changed_max)
    assert updated.digest != inserted.digest

    src.execute("""DELETE FROM arribos WHERE "Contenedor" = 'MSCU0000096'""")
    deleted = store.source_probe(spec)
    assert deleted.rows == 3 and deleted != updated
    assert deleted.changed_max == first.changed_max  # the newest change left with the row

    # the digest is order-free: the row updated back sits elsewhere on disk, the probe is the first
    src.execute("""UPDATE arribos SET "Chofer" = 'A' WHERE "Contenedor" = 'MSCU0000016'""")
    assert store.source_probe(spec) == first


def test_a_source_without_a_change_column_probes_by_count_and_digest(store_config, src):
    spec = TABLES["pendiente_desconsolidar"]
    store = open_store(store_config())
    empty = store.source_probe(spec)
    assert empty == SourceProbe(0, None, "0")
    insert(src, spec.source, [{"Contenedor": "MSCU1234566"}])
    one = store.source_probe(spec)
    assert one.rows == 1 and one.changed_max is None and one.digest != "0"


def test_a_missing_source_table_gives_no_probe(store_config, src):
    src.execute("DROP TABLE remisiones")
    store = open_store(store_config())
    assert store.source_probe(TABLES["remisiones"]) is None


@pytest.mark.parametrize("store_config", ["rest"], indirect=True)
def test_the_rest_probe_is_one_call_answered_by_one_row(store_config, src, request, db_url):
    """Over REST the probe is the schema's function: the source's rows never cross the API."""
    server = request.node.postgrest
    insert(src, "arribos", [_row(i) for i in range(1, 200)])
    store = open_store(store_config())
    store.columns("arribos")  # the API's description, read once per store
    answers: list = []
    call_rpc = store.client.call_rpc

    def recording(name, params, **kw):
        out = call_rpc(name, params, **kw)
        answers.append((name, out))
        return out
    store.client.call_rpc = recording
    server.proxy.requests.clear()
    probe = store.source_probe(TABLES["arribos"])
    assert probe.rows == 199
    assert [(m, p.split("?")[0]) for m, p in server.proxy.requests] == [("POST", "/rpc/traficov2_probe_arribos")]
    assert [(n, len(rows), sorted(rows[0])) for n, rows in answers] == [
        ("traficov2_probe_arribos", 1, ["probe_changed_max", "probe_digest", "probe_rows"])]
    from trafico_lib.stores.postgres import PostgresStore
    assert PostgresStore(db_url).source_probe(TABLES["arribos"]) == probe  # one statement, two stores
