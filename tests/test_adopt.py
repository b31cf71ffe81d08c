"""The first sync adopts the rows the old tool wrote, in place (issue 22, point 2; engine/adopt.py).

On a depot the old tool left (tests/old_deployment.py: its DDL, its rows, the desk's columns and
edits by id), upgraded by the schema, a sync must give each old row its key and keep it: the
same ``id``, the desk's columns untouched, its values in the preserved fields kept as desk edits,
no second copy of any row. Both stores: direct PostgreSQL and the Supabase REST API through a
real PostgREST.
"""
from __future__ import annotations

from datetime import date

import pandas as pd
import psycopg
import pytest

import rest_server as harness
from old_deployment import build_old_deployment, old_ids
from trafico_lib import pipeline as P
from trafico_lib.cli.output import format_summary
from trafico_lib.engine.adopt import ADOPT, DUPLICATE, NO_KEY, adoption_keys, classify
from trafico_lib.schema import apply_migrations, render_sql
from trafico_lib.stores import open_store
from trafico_lib.tables import TABLES

TARGETS = [s.target for s in TABLES.values()]
RUN_DATE = date(2026, 12, 5)


def _prepare(c: psycopg.Connection) -> None:
    """The old deployment, plus what the desk did to it that these tests look at."""
    build_old_deployment(c)
    # the desk's value in a preserved field where the source says something else: a desk edit
    c.execute("""UPDATE traficov2_arribos SET "Estado" = 'Demorado' WHERE id = 1""")
    # the old tool's joined list of containers in a booking row (its expo aggregation)
    c.execute("""UPDATE traficov2_arribos_ctns_expo SET "Contenedor" = 'DPFU5069450, TEMU1234567' WHERE id = 1""")
    # a row the desk typed with no container (no key can be made for it)
    c.execute("""INSERT INTO traficov2_arribos ("Cliente", chofer) VALUES ('Sin contenedor SA', 'Ana Gómez')""")


def _text_source_ids(c: psycopg.Connection) -> None:
    # source_id INTEGER (old DDL) against trafico's text ids is the formats helper's part of
    # issue 22: until it is merged, these tests give the old tables text ids
    for t in TARGETS:
        c.execute(f"ALTER TABLE {t} ALTER COLUMN source_id TYPE text")


@pytest.fixture(params=["direct", "rest"])
def old_depot(request, empty_db_url, make_config, tmp_path, monkeypatch):
    """(config, connection) on the old deployment after the schema step: ``--init-db`` (direct)
    or ``make sql`` pasted into a Supabase project (REST, a real PostgREST in front)."""
    data = {"csv_sources": {"enabled": False}, "database": {"lock_timeout_seconds": 1}}
    with psycopg.connect(empty_db_url, autocommit=True) as c:
        if request.param == "direct":
            _prepare(c)
            apply_migrations(c)
            _text_source_ids(c)
            yield make_config(data, db_url=empty_db_url), c
            return

        def prepare(conn):
            _prepare(conn)
            conn.execute(render_sql())
            _text_source_ids(conn)
            conn.execute("NOTIFY pgrst, 'reload schema'")
        with harness.supabase_project(empty_db_url, tmp_path / "postgrest", schema=False, prepare=prepare) as server:
            monkeypatch.setenv("SUPABASE_URL", server.url)
            monkeypatch.setenv("SUPABASE_KEY", server.service_key)
            cfg = make_config(data)
            assert open_store(cfg).kind == "supabase-rest"
            yield cfg, c


def sync_all(cfg, **kw) -> dict:
    out = {}
    for name in TABLES:
        res = P.run_table(name, cfg=cfg, **kw)
        assert res.ok, (name, res.error)
        out[name] = res
    return out


def rows(c, table: str, cols: str) -> list[tuple]:
    return c.execute(f"SELECT {cols} FROM {table} ORDER BY id").fetchall()


def snapshot(c) -> dict:
    return {t: c.execute(f"SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM {t} x")
            .fetchone()[0] for t in [*TARGETS, "traficov2_sync_changes", "traficov2_sync_state"]}


def test_first_sync_adopts_the_old_rows_in_place(old_depot):
    cfg, c = old_depot
    before_ids = old_ids(c)
    desk = {t: rows(c, t, "id, chofer, \"Observaciones\"") for t in
            ("traficov2_arribos", "traficov2_arribos_ctns_expo")}
    desk["traficov2_remisiones"] = rows(c, "traficov2_remisiones",
                                        'id, chofer, "Observaciones trafico", "Fecha y Hora Fin"')
    before = snapshot(c)

    # the dry run writes nothing and says, per table, what the first sync will do
    dry = sync_all(cfg, dry_run=True)
    assert snapshot(c) == before
    arr = dry["arribos"].counts
    assert (arr["adopted"], arr["adopted_unmatched"], arr["old_duplicates"], arr["unkeyed"]) == (2, 1, 1, 1)
    assert arr["inserted"] == 1  # TCLU1234560: the one source row no old row holds
    expo = dry["arribos_expo_ctns"].counts
    assert expo["adopted"] == 3 and expo["inserted"] == 3  # BKG2611012's slots 2-4 are new rows
    assert "3 old row(s) to adopt" in dry["arribos"].adoption
    text = format_summary([r.to_dict() for r in dry.values()], dry_run=True)
    assert "2 matched to a source row, 1 with no source row" in text and "1 older duplicate(s) to deactivate" in text
    assert dry["arribos"].to_dict()["counts"]["adopted"] == 2  # --json

    first = sync_all(cfg)  # incremental, as the old cron ran it
    assert first["arribos"].counts["adopted"] == 2 and "adopted in place" in first["arribos"].adoption
    log = c.execute("SELECT details FROM traficov2_sync_log WHERE table_name = 'traficov2_arribos' "
                    "AND operation = 'SYNC' ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert log["counts"]["adopted"] == 2 and log["counts"]["old_duplicates"] == 1

    # every old id kept; no active duplicate key; nothing deleted
    for t, ids in before_ids.items():
        now = {r[0] for r in c.execute(f"SELECT id FROM {t}")}
        assert ids <= now, t
        dup = c.execute(f"SELECT sync_key FROM {t} WHERE activo AND sync_key IS NOT NULL "
                        f"GROUP BY sync_key HAVING count(*) > 1").fetchall()
        assert dup == [], t
    assert rows(c, "traficov2_arribos", 'id, sync_key, activo, "Chofer", "Estado"')[:4] == [
        (1, "MSKU7867982", True, None, "Demorado"),   # the desk's Estado kept over the source's 'Asignado'
        (2, None, False, None, "Asignado"),           # the older copy: deactivated, never deleted
        (3, "RIPU9687646", True, "Ramón Díaz", "Asignado"),  # the desk's driver kept
        (4, "OLDU0000017", True, None, "Arribado")]   # no source row: active until a full run
    assert c.execute("""SELECT sync_key, activo FROM traficov2_arribos WHERE "Cliente" = 'Sin contenedor SA'""").fetchone() \
        == (None, True)
    # the desk's own columns untouched
    for t, was in desk.items():
        cols = "id, chofer, \"Observaciones\"" if t != "traficov2_remisiones" else \
            'id, chofer, "Observaciones trafico", "Fecha y Hora Fin"'
        assert [r for r in rows(c, t, cols) if r[0] in before_ids[t]] == was, t
    # the expo booking row is slot 1 of its booking, its desk values kept; the source's
    # container in it (the old joined list is no placement), the other slots new
    slots = rows(c, "traficov2_arribos_ctns_expo",
                 'id, sync_key, "Secuencia", "Contenedor", "Obs.", chofer, activo')
    assert slots[0] == (1, "BKG2611012|1", 1, "DPFU5069450", "cliente pide urgente", "Ana Gómez", True)
    assert [s[1] for s in slots if s[1] and s[1].startswith("BKG2611012|")] == [f"BKG2611012|{i}" for i in (1, 2, 3, 4)]
    assert not any(s[3] and "," in s[3] for s in slots)
    assert {s[0] for s in slots if s[1] in ("BKG2611016|1", "BKG2611020|1")} == {2, 3}

    # a second sync writes nothing
    settled = snapshot(c)
    skipped = sync_all(cfg)  # nothing changed in the sources: each table its log row (pipeline/probe.py)
    assert all(r.unchanged_since for r in skipped.values()), {n: r.counts for n, r in skipped.items()}
    again = sync_all(cfg, skip_unchanged=False)  # read all the same: the adopted rows stay as they are
    assert all(r.counts["inserted"] == r.counts["updated"] == 0 for r in again.values()), \
        {n: r.counts for n, r in again.items()}
    # only the row with no key is still there to tell (until a full run deactivates it)
    assert [n for n, r in again.items() if r.adoption] == ["arribos"] and again["arribos"].counts["unkeyed"] == 1
    assert {k: v for k, v in snapshot(c).items() if k != "traficov2_sync_state"} == \
        {k: v for k, v in settled.items() if k != "traficov2_sync_state"}

    # a full run deactivates the old row no source row holds, and the one with no key; deletes nothing
    full = P.run_table("arribos", cfg=cfg, mode="full")
    assert full.ok and full.counts["deactivated"] == 2, full.counts
    assert c.execute("SELECT activo FROM traficov2_arribos WHERE id = 4").fetchone() == (False,)
    assert c.execute("""SELECT activo FROM traficov2_arribos WHERE "Cliente" = 'Sin contenedor SA'""").fetchone() \
        == (False,)
    assert before_ids["traficov2_arribos"] <= {r[0] for r in c.execute("SELECT id FROM traficov2_arribos")}


def test_a_failed_run_adopts_nothing(empty_db_url, make_config):
    """Direct path: the adoption is in the run's transaction; a database error after it (the
    log row refused by a trigger) rolls it back with the rest."""
    with psycopg.connect(empty_db_url, autocommit=True) as c:
        _prepare(c)
        apply_migrations(c)
        _text_source_ids(c)
        c.execute("""CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN RAISE EXCEPTION 'log refused'; END $$;
                     CREATE TRIGGER refuse BEFORE INSERT ON traficov2_sync_log FOR EACH ROW
                     WHEN (NEW.operation = 'SYNC') EXECUTE FUNCTION refuse()""")
        cfg = make_config({"csv_sources": {"enabled": False}}, db_url=empty_db_url)
        res = P.run_table("arribos", cfg=cfg, mode="full")
        assert res.status == "error" and "log refused" in res.error
        assert c.execute("SELECT count(*) FROM traficov2_arribos WHERE sync_key IS NOT NULL OR NOT activo").fetchone() \
            == (0,)
        assert c.execute("SELECT count(*) FROM traficov2_arribos").fetchone() == (5,)


# ---- the keys (pure) -----------------------------------------------------------------------

def test_an_old_row_gets_the_key_its_source_row_has():
    arr = pd.DataFrame({"id": [1, 2], "Contenedor": ["MSKU-786798-2", " msku 786798 2 "]})
    assert adoption_keys(arr, TABLES["arribos"], run_date=RUN_DATE).tolist() == ["MSKU7867982", "MSKU7867982"]
    rem = pd.DataFrame({"id": [1, 2], "Operacion": ["37644-1-1", "37644-1-2"], "Contenedor": ["PMPU-216597-1", "-"]})
    assert adoption_keys(rem, TABLES["remisiones"], run_date=RUN_DATE).tolist() == \
        ["37644-1-1|PMPU2165971", "37644-1-2"]
    expo = pd.DataFrame({"id": [1, 2], "Booking": ["bkg 2611012", None]})
    assert adoption_keys(expo, TABLES["arribos_expo_ctns"], run_date=RUN_DATE).tolist() == ["BKG2611012|1", None]


def test_the_newest_copy_of_a_key_is_adopted_and_a_row_without_key_stays_unkeyed():
    frame = pd.DataFrame({"id": ["3", "2", "4", "5"], "Contenedor": ["RIPU9687646", "RIPU9687646", "-", "OLDU0000017"]})
    ad = classify(frame, TABLES["arribos"], run_date=RUN_DATE).match({"RIPU9687646"})
    assert dict(zip(ad.rows["id"].astype(int), ad.rows["status"])) == {2: DUPLICATE, 3: ADOPT, 4: NO_KEY, 5: ADOPT}
    assert ad.counts() == {"adopted": 1, "adopted_unmatched": 1, "old_duplicates": 1, "unkeyed": 1}
    assert {p["id"] for p in ad.pairs} == {2, 3, 5}
    assert classify(frame.iloc[:0], TABLES["arribos"], run_date=RUN_DATE).counts() == {}
