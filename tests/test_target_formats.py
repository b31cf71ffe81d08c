"""A target column keeps the type it has, and the sync writes into it what the desk reads (issue 22).

On a depot the old tool ran (``tests/old_deployment.py``: text dates, ``source_id INTEGER``,
pendiente's ``Peso DECIMAL(10,2)``), with trafico's schema applied over it, a sync succeeds for
every table on both stores (the direct connection, and the REST API through a real PostgREST):
no ``integer = text`` on ``source_id``, every date it wrote in the text the desk's app parses,
``source_id`` holding the source ids, a second sync writing nothing. A new install keeps its
columns typed. (Until the old rows are adopted, the sync writes new rows beside them: the rows
it wrote are the ones with a ``sync_key``.)
"""
from __future__ import annotations

import csv
from datetime import date, time
from decimal import Decimal

import pandas as pd
import psycopg
import pytest

import rest_server as harness
from old_deployment import SOURCES, build_old_deployment, desk_unparsed
from trafico_lib import pipeline as P
from trafico_lib.csv_roles import backup_dir
from trafico_lib.engine.conform import TargetLayout, conform, type_kind
from trafico_lib.engine.stage import stage
from trafico_lib.health.check import gather_facts
from trafico_lib.pipeline import plan_back_propagation
from trafico_lib.sample import create_source_tables
from trafico_lib.schema import apply_migrations
from trafico_lib.stores import open_store
from trafico_lib.tables import DATE, INTEGER, NUMERIC, TABLES, TEXT, TIME

# a weight with more decimals than the old table's DECIMAL(10,2) keeps: rounded there, and a
# second run must not find it changed
EXTRA_PENDIENTE = {"Contenedor": "TGHU1234567", "Cliente": "Logística Río SA", "Entrega": "30/11",
                   "Vto. Vacio": "14/12", "Peso": "12.345", "Cantidad": "3", "Estado": "Pendiente"}

# what the sync writes into the old tables' text columns, per row it wrote
EXPECTED = {
    "traficov2_arribos": {"MSKU7867982": {"Fecha": "03/12/2026", "Turno": "0700"},
                          "TCLU1234560": {"Fecha": "07/12/2026", "Turno": "1030"}},
    "traficov2_pendiente_desconsolidar": {"ANDU6127900": {"Entrega": "29/11", "Vto. Vacio": "13/12",
                                                          "Peso": Decimal("14432.90"), "Cantidad": 111},
                                          "TGHU1234567": {"Peso": Decimal("12.35")}},
    "traficov2_remisiones": {"37644-1-1|PMPU2165971": {"Dia": "25/11", "Hora": "08:45", "Volumen": "72.7"},
                             "37644-1-2": {"Dia": "04/12", "Hora": "10:15", "Volumen": "12"}},
    "traficov2_arribos_ctns_expo": {"BKG2611012|1": {"Fecha": "05/12", "Cantidad": 1},
                                    "BKG2611016|1": {"Fecha": "27/11"}},
}


def _old_depot(url: str) -> None:
    with psycopg.connect(url) as c:
        build_old_deployment(c)
        cols = list(EXTRA_PENDIENTE)
        c.execute(psycopg.sql.SQL("INSERT INTO pendiente_desconsolidar ({}) VALUES ({})").format(
            psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, cols)),
            psycopg.sql.SQL(", ").join(psycopg.sql.Placeholder() * len(cols))), list(EXTRA_PENDIENTE.values()))


@pytest.fixture(params=["direct", "rest"])
def old_depot(request, empty_db_url, make_config, tmp_path, monkeypatch):
    """(config, database URL) of the old tool's depot with trafico's schema applied over it:
    ``--init-db`` on the direct store, ``make sql`` pasted into the project behind a real
    PostgREST (only its URL and service key configured) on the REST store."""
    _old_depot(empty_db_url)
    if request.param == "direct":
        with psycopg.connect(empty_db_url) as c:
            apply_migrations(c)
        yield make_config(db_url=empty_db_url), empty_db_url
        return
    with harness.supabase_project(empty_db_url, tmp_path / "pgrst", schema=True) as server:
        monkeypatch.setenv("SUPABASE_URL", server.url)
        monkeypatch.setenv("SUPABASE_KEY", server.service_key)
        cfg = make_config()
        assert open_store(cfg).kind == "supabase-rest"
        yield cfg, empty_db_url


def _written(conn, table: str) -> list[dict]:
    with conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        # the rows the sync merged: written, or adopted and found as the source has them (an adopted
        # row the source no longer holds keeps the old tool's values, its row hash none)
        return cur.execute(f"SELECT * FROM {table} WHERE row_hash IS NOT NULL ORDER BY sync_key").fetchall()


def _sync_all(cfg) -> dict:
    out = {}
    for name in TABLES:
        res = P.run_table(name, cfg=cfg)
        assert res.status == "ok", (name, res.error)
        out[name] = res.counts
    return out


def test_a_sync_on_the_old_tables_writes_what_the_desk_reads_and_a_second_writes_nothing(old_depot):
    cfg, url = old_depot
    store = open_store(cfg)
    layout = store.target_layout(TABLES["remisiones"])
    assert layout.adopted and {"Dia", "Hora", "Volumen"} <= set(layout.text_columns(TABLES["remisiones"]))
    assert layout.whole_source_id() == 2 ** 31  # source_id INTEGER, as the old DDL made it

    first = _sync_all(cfg)  # no integer = text on source_id, on any table
    # every table written (its old rows adopted and rewritten, new ones inserted), nothing refused
    assert all(c["inserted"] + c["updated"] > 0 and c["rejected"] == 0 for c in first.values()), first

    with psycopg.connect(url) as c:
        for spec in TABLES.values():
            rows = _written(c, spec.target)
            assert rows and desk_unparsed(rows, spec.target) == [], spec.target
            by_key = {r["sync_key"]: r for r in rows}
            for key, values in EXPECTED[spec.target].items():
                assert {k: by_key[key][k] for k in values} == values, (spec.target, key)
            # source_id holds the source's ids (an integer column, as it was)
            ids = {r[0] for r in c.execute(f"SELECT id FROM {spec.source}")}
            assert {r["source_id"] for r in rows} <= ids and all(isinstance(r["source_id"], int) for r in rows)
        types = dict(c.execute("SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
                               "WHERE column_name IN ('Fecha', 'Dia', 'source_id', 'Peso') "
                               "AND table_name LIKE 'traficov2_%'").fetchall())
        assert types["traficov2_arribos.Fecha"] == "text" and types["traficov2_remisiones.Dia"] == "text"
        assert types["traficov2_arribos.source_id"] == "integer"
        assert types["traficov2_pendiente_desconsolidar.Peso"] == "numeric"
        before = {t.target: c.execute(f"SELECT count(*), max(fecha_modificacion) FROM {t.target}").fetchone()
                  for t in TABLES.values()}
        for t in TABLES.values():  # the daily CSV backup holds every row, the old ones (no sync_key) too
            backup = list(backup_dir(cfg).glob(f"{t.target}_*.csv"))
            with backup[0].open(encoding="utf-8", newline="") as f:
                assert len(list(csv.reader(f))) == before[t.target][0] + 1, t.target
        # the second run reads and compares every row again: each source row changed (a change
        # time) or not known as written (its source hash gone), so nothing is set aside unread
        c.execute("UPDATE arribos SET updated_at = now(); UPDATE remisiones SET fecha_modificacion = now()")
        for t in TABLES.values():
            c.execute(f"UPDATE {t.target} SET source_hash = NULL")

    second = _sync_all(cfg)
    assert all(c["inserted"] == 0 and c["updated"] == 0 for c in second.values()), second
    with psycopg.connect(url) as c:
        after = {t.target: c.execute(f"SELECT count(*), max(fecha_modificacion) FROM {t.target}").fetchone()
                 for t in TABLES.values()}
    assert after == before

    # back-propagation reads the same columns (source_id as text, whatever its type), and only
    # the rows the sync wrote: an old row's source_id (the old tool's row position for expo)
    # never sends its desk value to another booking's source row
    plan = plan_back_propagation(cfg, {n: ["Chofer"] for n in TABLES}, store=store)
    # the desk's Chofer on adopted rows goes to the source row of its own key (expo: the slot's
    # booking, through the source id the merge gave the adopted slot, not the old row position)
    assert sorted(zip(plan["table"], plan["sync_key"], plan["field"], plan["new"])) == [
        ("arribos", "RIPU9687646", "Chofer", "Ramón Díaz"), ("arribos_expo_ctns", "BKG2611016|1", "Chofer", "Luis Sosa")]
    facts = gather_facts(cfg)  # the health check reads the same tables
    assert facts["exit_code"] == 0 and not facts.get("query_error"), facts.get("problems")


def test_a_source_id_an_integer_column_cannot_hold_goes_in_as_null_and_the_row_goes_in(empty_db_url, make_config):
    _old_depot(empty_db_url)
    with psycopg.connect(empty_db_url) as c:
        apply_migrations(c)
        c.execute("ALTER TABLE arribos ALTER COLUMN id DROP DEFAULT, ALTER COLUMN id TYPE text USING "
                  "CASE id WHEN 1 THEN 'A-1' WHEN 3 THEN '3000000000' ELSE id::text END")
    cfg = make_config(db_url=empty_db_url)
    res = P.run_table("arribos", cfg=cfg)
    # the three source rows written (two old rows adopted), none refused
    assert res.status == "ok" and res.counts["inserted"] + res.counts["updated"] == 3 \
        and res.counts["rejected"] == 0, res.to_dict()
    with psycopg.connect(empty_db_url) as c:
        got = dict(c.execute("SELECT sync_key, source_id FROM traficov2_arribos WHERE row_hash IS NOT NULL"))
    assert got == {"MSKU7867982": None, "RIPU9687646": 2, "TCLU1234560": None}
    again = P.run_table("arribos", cfg=cfg)
    assert again.status == "ok" and again.counts["inserted"] == again.counts["updated"] == 0, again.to_dict()


def test_a_new_install_keeps_its_columns_typed(db_url, make_config):
    with psycopg.connect(db_url, autocommit=True) as c:
        create_source_tables(c)
        cols, rows = SOURCES["remisiones"]
        c.cursor().executemany(psycopg.sql.SQL("INSERT INTO remisiones ({}) VALUES ({})").format(
            psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, cols)),
            psycopg.sql.SQL(", ").join(psycopg.sql.Placeholder() * len(cols))), rows)
    cfg = make_config(db_url=db_url)
    layout = open_store(cfg).target_layout(TABLES["remisiones"])
    assert not layout.adopted and layout.text_columns(TABLES["remisiones"]) == [] and layout.whole_source_id() is None
    assert P.run_table("remisiones", cfg=cfg).status == "ok"
    with psycopg.connect(db_url) as c:
        dia, hora, source_id = c.execute('SELECT "Dia", "Hora", source_id FROM traficov2_remisiones '
                                         "WHERE sync_key = '37644-1-2'").fetchone()
        assert isinstance(dia, date) and (dia.day, dia.month) == (4, 12)
        assert hora == time(10, 15) and source_id == "2"


# ---- the pure parts ------------------------------------------------------------------------

def test_database_type_names_map_to_the_registry_types():
    # as the catalog's format_type and PostgREST's OpenAPI "format" name them
    assert [type_kind(t) for t in ("text", "character varying", "character varying(20)", "date",
                                   "time without time zone", "numeric(10,2)", "numeric", "integer", "bigint",
                                   "timestamp with time zone", "jsonb", None)] == [
        TEXT, TEXT, TEXT, DATE, TIME, NUMERIC, NUMERIC, INTEGER, INTEGER, None, None, None]


def test_conform_writes_each_column_as_the_text_column_holds_it_and_hashes_that():
    spec = TABLES["remisiones"]
    frame = pd.DataFrame({c: [None, None] for c in spec.column_names})
    frame["Operacion"] = ["1-1-1", "1-1-2"]
    frame["Dia"] = [date(2026, 12, 4), None]
    frame["Hora"] = [time(8, 5), time(17, 30)]
    frame["Volumen"] = pd.array([12.0, 72.7], dtype="Float64")
    frame["_source_id"] = ["7", "x-8"]
    staged = stage(frame, spec)
    old_types = {c: "text" for c in spec.column_names} | {"source_id": "integer"}
    out = conform(staged, spec, TargetLayout(old_types, adopted=True)).frame
    assert out["Dia"].tolist() == ["04/12", None]
    assert out["Hora"].tolist() == ["08:05", "17:30"]
    assert out["Volumen"].tolist() == ["12", "72.7"]  # plain decimal text, no spurious .0
    assert out["source_id"].tolist() == ["7", None]
    assert out["row_hash"].tolist() != staged.frame["row_hash"].tolist()
    # a typed target (a new install): as it was
    typed = {c.name: {"date": "date", "time": "time without time zone", "numeric": "numeric(14,3)"}.get(c.type, c.type)
             for c in spec.target_columns} | {"source_id": "text"}
    same = conform(staged, spec, TargetLayout(typed)).frame
    pd.testing.assert_frame_equal(same, staged.frame)
    arribos = TABLES["arribos"]
    assert {c.name: c.as_text for c in arribos.columns if c.type in (DATE, TIME)} == {"Fecha": "%d/%m/%Y",
                                                                                      "Turno": "%H%M"}
