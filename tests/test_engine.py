"""The sync engine against a real PostgreSQL: modes, merge rule, batches, retries, lock, dry-run.

The scenarios a user relies on run on **both** stores (the ``store`` parameter): the direct
connection (``database.url``), and Supabase's REST API (``supabase.url`` + ``supabase.key``,
a real PostgREST in front of the same database, set up as Supabase sets it up). The direct
path's internals (its connection dropped mid-run, the merge racing a desk edit) run direct only."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import psycopg
import pytest

import rest_server as harness
from trafico_lib import pipeline as P
from trafico_lib.sample import create_source_tables
from trafico_lib.stores import open_store
from trafico_lib.tables import TABLES

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture
def src(conn):
    create_source_tables(conn)
    return conn


# The scenarios run on the direct and the REST store. Through the pooler (PgBouncer in
# transaction mode) run those about what a transaction pooler changes: the run's staging as one
# transaction with its temporary tables and cursors inside it, savepoints, rollbacks, the
# table's lock, session settings, no prepared statements. The others (the merge rule,
# watermarks, rejects, CSV sources) run the same statements on the same code path through the
# pooler as directly: they are marked ``direct_and_rest``.
STORES = ["direct", "pooler", "rest"]
direct_and_rest = pytest.mark.parametrize("store_config", ["direct", "rest"], indirect=True)


@pytest.fixture(params=STORES)
def store_config(request, src, make_config, db_url, tmp_path, monkeypatch):
    """``make_config`` bound to the store under test: the database's URL; (``pooler``) its URL
    through PgBouncer in transaction mode, as Supabase's pooler serves it; or (``rest``) only a
    Supabase project URL and its service key in the environment (``SUPABASE_URL``,
    ``SUPABASE_KEY``), PostgREST in front of the same database."""
    if request.param == "direct":
        yield lambda data=None: make_config(data, db_url=db_url)
        return
    if request.param == "pooler":
        bouncer = request.getfixturevalue("pgbouncer")

        def through_pooler(data=None):
            data = dict(data or {})
            data["database"] = {**data.get("database", {}), "transaction_pooler": True}
            return make_config(data, db_url=bouncer.url(db_url))
        yield through_pooler
        return
    with harness.running_project(db_url, tmp_path / "postgrest", monkeypatch):
        assert open_store(make_config()).kind == "supabase-rest"
        yield make_config


def insert(conn, table, rows):
    for r in rows:
        cols = list(r)
        conn.execute(psycopg.sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            psycopg.sql.Identifier(table), psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, cols)),
            psycopg.sql.SQL(", ").join(psycopg.sql.Placeholder() * len(cols))), list(r.values()))


def target(conn, table="traficov2_arribos", cols='sync_key, "Chofer", "Peso", activo'):
    return conn.execute(f"SELECT {cols} FROM {table} ORDER BY sync_key").fetchall()


def snapshot(conn) -> dict:
    """Every user table's full content, as text, for byte-for-byte comparisons."""
    tables = [r[0] for r in conn.execute(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
    return {t: conn.execute(f'SELECT md5(coalesce(string_agg(x::text, \'|\' ORDER BY x::text), \'\')) '
                            f'FROM "{t}" x').fetchone()[0] for t in tables}


ARRIBOS = [
    {"Fecha": "23/11/2026", "Contenedor": "MSCU-123456-6", "Cliente": "Cliente Uno", "Peso": "1.429,5", "Turno": "0700 "},
    {"Fecha": "24/11/2026", "Contenedor": "TCNU 720079 4", "Cliente": "Cliente Dos", "Peso": "2000.0", "Chofer": "ANA"},
    {"Fecha": "25/11/2026", "Contenedor": "CSQU3054383", "Cliente": "Cliente Tres", "Peso": "-"},
]


@pytest.fixture
def cfg(store_config):
    return store_config({"database": {"lock_timeout_seconds": 1}})


@pytest.fixture
def direct_cfg(make_config, db_url):
    return make_config({"database": {"lock_timeout_seconds": 1}}, db_url=db_url)


def run(cfg, table="arribos", mode="full", **kw):
    res = P.run_table(table, mode=mode, cfg=cfg, **kw)
    assert res.status in ("ok", "dry-run"), res.error
    return res


def test_full_run_inserts_typed_rows_and_second_run_writes_nothing(src, cfg):
    insert(src, "arribos", ARRIBOS)
    first = run(cfg)
    assert first.counts["inserted"] == 3 and first.counts["read"] == 3
    row = src.execute('SELECT "Peso", "Fecha", "Turno"::text FROM traficov2_arribos WHERE sync_key = %s',
                      ("MSCU1234566",)).fetchone()
    assert float(row[0]) == 1429.5 and str(row[1]) == "2026-11-23" and row[2] == "07:00:00"
    before = snapshot(src)
    tuples = src.execute("SELECT string_agg(xmin::text, ',' ORDER BY id) FROM traficov2_arribos").fetchone()
    second = run(cfg, mode="incremental")
    assert (second.counts["inserted"], second.counts["updated"]) == (0, 0)
    assert src.execute("SELECT string_agg(xmin::text, ',' ORDER BY id) FROM traficov2_arribos").fetchone() == tuples
    after = snapshot(src)
    changed = {t for t in before if before[t] != after[t]}
    assert changed <= {"traficov2_sync_log", "traficov2_sync_state"}, changed


@direct_and_rest
def test_one_log_row_per_run_and_changes_recorded(src, cfg):
    insert(src, "arribos", ARRIBOS)
    r1 = run(cfg)
    src.execute("""UPDATE arribos SET "Cliente" = 'Cliente Nuevo' WHERE "Contenedor" = 'CSQU3054383'""")
    r2 = run(cfg)
    logs = src.execute("SELECT operation, details FROM traficov2_sync_log ORDER BY id").fetchall()
    assert [row[0] for row in logs] == ["SYNC", "SYNC"]
    assert logs[0][1]["run_id"] == r1.run_id and logs[0][1]["counts"]["inserted"] == 3
    assert logs[1][1]["counts"]["updated"] == 1 and logs[1][1]["mode"] == "full"
    assert logs[1][1]["write_seconds"] <= logs[1][1]["run_seconds"] and "duration_seconds" not in logs[1][1]
    changes = src.execute("SELECT run_id, sync_key, field, old, new FROM traficov2_sync_changes").fetchall()
    assert changes == [(r2.run_id, "CSQU3054383", "Cliente", "Cliente Tres", "Cliente Nuevo")]


@direct_and_rest
def test_manual_chofer_survives_source_update_of_another_column(src, cfg):
    insert(src, "arribos", ARRIBOS)
    run(cfg)
    src.execute("""UPDATE traficov2_arribos SET "Chofer" = 'PEREZ' WHERE sync_key = 'MSCU1234566'""")
    src.execute("""UPDATE arribos SET "Peso" = '1500', updated_at = now() WHERE "Contenedor" = 'MSCU-123456-6'""")
    res = run(cfg, mode="incremental")
    assert res.counts["updated"] == 1
    assert ("MSCU1234566", "PEREZ") in [(r[0], r[1]) for r in target(src)]
    assert float(dict((r[0], r[2]) for r in target(src))["MSCU1234566"]) == 1500.0


@direct_and_rest
def test_empty_source_chofer_never_erases_a_manual_one(src, cfg):
    insert(src, "arribos", ARRIBOS)
    run(cfg)
    src.execute("""UPDATE traficov2_arribos SET "Chofer" = 'GOMEZ' WHERE sync_key = 'TCNU7200794'""")
    # the source empties its own Chofer (it had ANA) after the desk's edit
    src.execute("""UPDATE arribos SET "Chofer" = '-', updated_at = now() + interval '1 minute'
                   WHERE "Contenedor" = 'TCNU 720079 4'""")
    run(cfg, mode="incremental")
    assert dict((r[0], r[1]) for r in target(src))["TCNU7200794"] == "GOMEZ"


@direct_and_rest
def test_newer_source_value_wins_over_older_manual_edit(src, cfg):
    insert(src, "arribos", ARRIBOS)
    run(cfg)
    src.execute("""UPDATE traficov2_arribos SET "Chofer" = 'GOMEZ' WHERE sync_key = 'TCNU7200794'""")
    time.sleep(0.01)
    src.execute("""UPDATE arribos SET "Chofer" = 'RAMIREZ', updated_at = clock_timestamp()
                   WHERE "Contenedor" = 'TCNU 720079 4'""")
    run(cfg, mode="incremental")
    assert dict((r[0], r[1]) for r in target(src))["TCNU7200794"] == "RAMIREZ"


@direct_and_rest
def test_older_source_change_loses_to_newer_manual_edit(src, cfg):
    insert(src, "arribos", ARRIBOS)
    run(cfg)
    src.execute("""UPDATE arribos SET "Chofer" = 'RAMIREZ', updated_at = now() - interval '1 hour'
                   WHERE "Contenedor" = 'TCNU 720079 4'""")
    src.execute("""UPDATE traficov2_arribos SET "Chofer" = 'GOMEZ' WHERE sync_key = 'TCNU7200794'""")
    run(cfg, mode="full")
    assert dict((r[0], r[1]) for r in target(src))["TCNU7200794"] == "GOMEZ"


def _row(conn, key, cols='"Chofer", "Estado"', table="traficov2_arribos"):
    return conn.execute(f"SELECT {cols} FROM {table} WHERE sync_key = %s", (key,)).fetchone()


@direct_and_rest
def test_merge_per_field_a_desk_edit_of_one_field_never_holds_back_the_sources_other_field(src, cfg):
    """Issue 21 point 1: the source sets ``Estado``, then the desk types a ``Chofer`` on that
    row. The desk typed ``Chofer``, not ``Estado``: the next run takes the source's ``Estado``
    and keeps the desk's ``Chofer``. The other way round on another row: the desk types an
    ``Estado`` after the source changed its ``Chofer``."""
    insert(src, "arribos", ARRIBOS)
    run(cfg)
    src.execute("""UPDATE arribos SET "Estado" = 'En terminal', updated_at = clock_timestamp()
                   WHERE "Contenedor" = 'MSCU-123456-6'""")
    src.execute("""UPDATE arribos SET "Chofer" = 'RAMIREZ', updated_at = clock_timestamp()
                   WHERE "Contenedor" = 'TCNU 720079 4'""")
    src.execute("""UPDATE traficov2_arribos SET "Chofer" = 'PEREZ' WHERE sync_key = 'MSCU1234566'""")
    src.execute("""UPDATE traficov2_arribos SET "Estado" = 'Demorado' WHERE sync_key = 'TCNU7200794'""")
    res = run(cfg, mode="incremental")
    assert res.counts["updated"] == 2
    assert _row(src, "MSCU1234566") == ("PEREZ", "En terminal")
    assert _row(src, "TCNU7200794") == ("RAMIREZ", "Demorado")
    # the desk's edit time is kept for the field it typed, and only for it
    assert set(_row(src, "MSCU1234566", "manual_edits")[0]) == {"Chofer"}
    assert set(_row(src, "TCNU7200794", "manual_edits")[0]) == {"Estado"}
    again = run(cfg, mode="full")
    assert (again.counts["inserted"], again.counts["updated"]) == (0, 0)


def _synced_beside_an_exit_folder(src, store_config, tmp_path):
    """arribos synced once (every row ``En terminal``) by a config whose CSV folder is where the
    test then writes its exit records; returns (config, that folder)."""
    data = tmp_path / "exits"
    data.mkdir()
    cfg = store_config({"csv_sources": {"data_path": str(data)}})
    insert(src, "arribos", [dict(r, Estado="En terminal") for r in ARRIBOS])
    run(cfg)
    return cfg, data


@direct_and_rest
def test_merge_per_field_a_realizado_from_a_new_exit_record_passes_a_desk_chofer(src, store_config, tmp_path):
    """Issue 21 point 1, from the exit records: the desk types a ``Chofer``; later an exit
    record marks the row done. Its ``Realizado …`` status comes through (the desk never typed
    ``Estado``) and the desk's ``Chofer`` stays."""
    cfg, data = _synced_beside_an_exit_folder(src, store_config, tmp_path)
    src.execute("""UPDATE traficov2_arribos SET "Chofer" = 'PEREZ' WHERE sync_key = 'MSCU1234566'""")
    (data / "salidas.csv").write_text("orden_ing,suborden,renglon,contenedor,validada\n"
                                      "1,1,1,MSCU1234566,2026-11-28 09:50:00\n", encoding="utf-8")
    res = run(cfg, mode="full")
    assert res.counts["updated"] == 1
    assert _row(src, "MSCU1234566") == ("PEREZ", "Realizado 28/11/2026 09:50")
    assert run(cfg, mode="full").counts["updated"] == 0


@direct_and_rest
def test_merge_per_field_rows_edited_before_per_field_times_keep_the_desks_edits(src, store_config, tmp_path, db_url):
    """Issue 21 point 1, an existing database: a row the desk edited before the times were
    kept per field has only ``manual_updated_at`` (``manual_edits`` NULL). Until ``--init-db``
    that time stands for every preserved field (an older source ``Chofer`` loses to the desk's);
    ``--init-db`` gives it to the fields the desk made differ from the source (``Chofer``),
    not to the others, so a ``Realizado`` from an exit record then comes through."""
    from trafico_lib.schema import apply_migrations
    cfg, data = _synced_beside_an_exit_folder(src, store_config, tmp_path)
    src.execute("""UPDATE traficov2_arribos SET "Chofer" = 'VIEJO' WHERE sync_key = 'MSCU1234566'""")
    src.execute("UPDATE traficov2_arribos SET manual_edits = NULL")  # as the schema before step 010 left it
    src.execute("""UPDATE arribos SET "Chofer" = 'FUENTE', updated_at = now() - interval '1 hour'
                   WHERE "Contenedor" = 'MSCU-123456-6'""")
    run(cfg, mode="full")
    assert _row(src, "MSCU1234566") == ("VIEJO", "En terminal")
    with psycopg.connect(db_url) as c:  # --init-db
        apply_migrations(c)
    assert set(_row(src, "MSCU1234566", "manual_edits")[0]) == {"Chofer"}
    assert _row(src, "CSQU3054383", "manual_edits")[0] == {}
    (data / "salidas.csv").write_text("orden_ing,suborden,renglon,contenedor,validada\n"
                                      "1,1,1,MSCU1234566,2026-11-28 09:50:00\n", encoding="utf-8")
    run(cfg, mode="full")
    assert _row(src, "MSCU1234566") == ("VIEJO", "Realizado 28/11/2026 09:50")


@direct_and_rest
def test_full_mode_deactivates_rows_gone_from_source_and_incremental_does_not(src, cfg):
    insert(src, "arribos", ARRIBOS)
    run(cfg)
    src.execute("""DELETE FROM arribos WHERE "Contenedor" = 'CSQU3054383'""")
    inc = run(cfg, mode="incremental")
    assert inc.counts["deactivated"] == 0
    full = run(cfg, mode="full")
    assert full.counts["deactivated"] == 1
    rows = {r[0]: r[3] for r in target(src)}
    assert rows == {"CSQU3054383": False, "MSCU1234566": True, "TCNU7200794": True}  # never deleted
    # it comes back: reactivated
    insert(src, "arribos", [ARRIBOS[2]])
    run(cfg, mode="full")
    assert {r[0]: r[3] for r in target(src)}["CSQU3054383"] is True


@direct_and_rest
def test_incremental_reads_only_rows_changed_since_watermark_minus_lookback(src, store_config):
    cfg = store_config({"database": {"lookback_minutes": 0}})
    insert(src, "arribos", ARRIBOS)
    src.execute("UPDATE arribos SET updated_at = now() - interval '1 day'")
    run(cfg, mode="incremental")
    wm = src.execute("SELECT watermark FROM traficov2_sync_state WHERE table_name = 'traficov2_arribos'").fetchone()[0]
    assert wm is not None
    src.execute("""UPDATE arribos SET "Cliente" = 'Otro', updated_at = now() WHERE "Contenedor" = 'CSQU3054383'""")
    res = run(cfg, mode="incremental")
    assert res.counts["read"] == 1 and res.counts["updated"] == 1
    wm2 = src.execute("SELECT watermark FROM traficov2_sync_state WHERE table_name = 'traficov2_arribos'").fetchone()[0]
    assert wm2 > wm


def _watermark(conn):
    return conn.execute("SELECT watermark FROM traficov2_sync_state WHERE table_name = 'traficov2_arribos'").fetchone()[0]


@direct_and_rest
def test_watermark_a_source_time_in_the_future_is_held_at_the_database_clock_and_warned(src, store_config, caplog):
    """Issue 21 point 3: one source row says it changed in 2099. The stored watermark stays at
    the database's clock (not 2099), the run warns in one line naming the table and how many
    rows, and a change made after the run is read by the next incremental run."""
    import logging
    cfg = store_config({"database": {"lookback_minutes": 0}})
    insert(src, "arribos", ARRIBOS)
    src.execute("UPDATE arribos SET updated_at = now() - interval '1 day'")
    src.execute("""UPDATE arribos SET updated_at = '2099-01-01 00:00+00' WHERE "Contenedor" = 'TCNU 720079 4'""")
    with caplog.at_level(logging.WARNING, logger="trafico"):
        run(cfg, mode="incremental")
    assert _watermark(src) <= src.execute("SELECT now()").fetchone()[0]
    lines = [r.getMessage() for r in caplog.records if "in the future" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0], lines
    assert lines[0].startswith("arribos: source table arribos has 1 row with updated_at in the future "
                               "(up to 2099-01-01 00:00 UTC)"), lines[0]
    src.execute("""UPDATE arribos SET "Cliente" = 'Otro', updated_at = clock_timestamp()
                   WHERE "Contenedor" = 'CSQU3054383'""")
    res = run(cfg, mode="incremental")
    assert res.counts["updated"] == 1
    assert _row(src, "CSQU3054383", '"Cliente"') == ("Otro",)


@direct_and_rest
def test_watermark_stuck_in_the_future_fails_health_and_a_full_run_resets_it_to_what_it_read(src, store_config):
    """Issue 21 point 3, a database from before the fix: its watermark is 2099. Health does not
    call that lag 0.0 h: the lag is unknown and the table unhealthy. A full run then sets the
    watermark to the newest change time it read (not kept at 2099, nor merely held at the
    clock), and health is satisfied again."""
    from trafico_lib.health import gather_facts, render_block
    cfg = store_config({"database": {"lookback_minutes": 0}})
    insert(src, "arribos", ARRIBOS)
    src.execute("UPDATE arribos SET updated_at = now() - interval '1 day'")
    run(cfg, mode="incremental")
    src.execute("UPDATE traficov2_sync_state SET watermark = '2099-01-01 00:00+00' "
                "WHERE table_name = 'traficov2_arribos'")

    def arribos(facts):
        return next(t for t in facts["tables"] if t["table"] == "arribos")
    facts = gather_facts(cfg)
    line = arribos(facts)
    assert line["lag_hours"] is None and line["lag_ok"] is False and line["watermark_ahead"] is True
    assert any(p.startswith("traficov2_arribos watermark 2099-01-01 00:00 UTC is ahead") for p in facts["problems"])
    assert "  traficov2_arribos: unknown ✗ (watermark 2099-01-01 00:00 UTC is in the future)" in \
        render_block(facts).splitlines()
    src.execute("""UPDATE arribos SET "Cliente" = 'Otro', updated_at = now() - interval '1 hour'
                   WHERE "Contenedor" = 'CSQU3054383'""")
    full = run(cfg, mode="full")
    assert full.counts["updated"] == 1
    assert _watermark(src) == src.execute("SELECT max(updated_at) FROM arribos").fetchone()[0]
    line = arribos(gather_facts(cfg))
    assert line["watermark_ahead"] is False and line["lag_ok"] is True


def test_hash_mode_for_a_source_without_timestamp(src, cfg):
    insert(src, "pendiente_desconsolidar", [
        {"Contenedor": "MSCU1234566", "Cliente": "A", "Cantidad": "3"},
        {"Contenedor": "TCNU7200794", "Cliente": "B", "Cantidad": "1"}])
    first = run(cfg, table="pendiente_desconsolidar", mode="incremental")
    assert first.counts["inserted"] == 2
    src.execute("""UPDATE pendiente_desconsolidar SET "Cantidad" = '4' WHERE "Contenedor" = 'MSCU1234566'""")
    second = run(cfg, table="pendiente_desconsolidar", mode="incremental")
    assert (second.counts["updated"], second.counts["unchanged"]) == (1, 1)


@direct_and_rest
def test_duplicate_keys_in_one_read_latest_wins(src, cfg):
    insert(src, "arribos", [{"Contenedor": "MSCU1234566", "Cliente": "Viejo"},
                            {"Contenedor": "MSCU-123456-6", "Cliente": "Nuevo"}])
    res = run(cfg)
    assert res.counts["inserted"] == 1 and res.counts["duplicates"] == 1
    assert src.execute('SELECT "Cliente" FROM traficov2_arribos').fetchall() == [("Nuevo",)]
    # which row lost, by source id: in the result, its summary, and the changes
    lost = str(src.execute("""SELECT id FROM arribos WHERE "Cliente" = 'Viejo'""").fetchone()[0])
    assert res.duplicates == [{"sync_key": "MSCU1234566", "source_id": lost}]
    from trafico_lib.cli.output import format_summary
    assert f"MSCU1234566 (source id {lost})" in format_summary([res.to_dict()])
    assert src.execute("SELECT sync_key, field, old #>> '{}', new FROM traficov2_sync_changes").fetchall() == [
        ("MSCU1234566", "duplicate", lost, None)]
    # the duplicate stays in the source: every run that reads it names it, the changes hold it once a day
    again = run(cfg, skip_unchanged=False)
    assert again.duplicates == res.duplicates
    assert src.execute("SELECT count(*) FROM traficov2_sync_changes").fetchone()[0] == 1
    assert run(cfg).unchanged_since == again.run_id  # nothing changed: not read (pipeline/probe.py)
    src.execute("UPDATE traficov2_sync_changes SET created_at = now() - interval '25 hours'")
    due = run(cfg)  # a day later the duplicate is due again: the source is read, though unchanged
    assert due.unchanged_since is None and due.duplicates == res.duplicates
    assert src.execute("SELECT count(*) FROM traficov2_sync_changes WHERE field = 'duplicate'").fetchone()[0] == 2


def test_rows_without_key_and_rows_the_database_refuses_go_to_rejects(src, store_config):
    cfg = store_config({"sync_settings": {"arribos": {"batch_size": 2}}})
    insert(src, "arribos", [*ARRIBOS, {"Contenedor": "-", "Cliente": "Sin contenedor"},
                            {"Contenedor": "GYOU4047990", "Peso": "-5"}])  # negative weight: CHECK fails
    res = run(cfg)
    assert res.counts["inserted"] == 3 and res.counts["rejected"] == 2
    rejects = src.execute("SELECT sync_key, reasons, raw_row FROM traficov2_sync_rejects ORDER BY id").fetchall()
    reasons = [r for rej in rejects for r in rej[1]]
    assert any("check constraint" in r for r in reasons)
    assert any(rej[2].get("Cliente") == "Sin contenedor" and rej[0] is None for rej in rejects)  # NULL, not 'NaN'
    # nothing lost: every source row is in the target or in the rejects
    n_src = src.execute("SELECT count(*) FROM arribos").fetchone()[0]
    n_tgt = src.execute("SELECT count(*) FROM traficov2_arribos").fetchone()[0]
    assert n_tgt + len(rejects) == n_src


def test_dry_run_leaves_every_table_byte_for_byte_unchanged(src, cfg):
    insert(src, "arribos", ARRIBOS)
    run(cfg)
    src.execute("""UPDATE arribos SET "Cliente" = 'Cambiado' WHERE "Contenedor" = 'CSQU3054383'""")
    insert(src, "arribos", [{"Contenedor": "GYOU4047990", "Cliente": "Nuevo"}])
    before = snapshot(src)
    res = run(cfg, dry_run=True)
    assert snapshot(src) == before
    assert res.status == "dry-run"
    assert res.plan.counts["inserted"] == 1 and res.plan.counts["updated"] == 1
    assert res.plan.updates.to_dict("records") == [
        {"sync_key": "CSQU3054383", "field": "Cliente", "old": "Cliente Tres", "new": "Cambiado"}]


def test_connection_drop_mid_run_is_retried(src, make_config, db_url, pg_server):
    cfg = make_config({"sync_settings": {"arribos": {"batch_size": 1, "retry_attempts": 3}}}, db_url=db_url)
    insert(src, "arribos", ARRIBOS)
    killed = []

    def kill_once(done, total):
        if not killed:
            killed.append(done)
            with psycopg.connect(pg_server, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                              "WHERE application_name = 'trafico' AND pid <> pg_backend_pid()")

    res = P.run_table("arribos", mode="full", cfg=cfg, on_batch=kill_once)
    assert killed and res.status == "ok" and res.attempts == 2
    assert res.counts["inserted"] == 3
    assert src.execute("SELECT count(*) FROM traficov2_arribos").fetchone()[0] == 3
    assert src.execute("SELECT count(*) FROM traficov2_sync_log").fetchone()[0] == 1


def test_second_concurrent_run_waits_then_gives_up_and_writes_nothing(src, store_config):
    """A run holds the table (direct: its lock; REST: its lease) while it writes; a second run
    of the same table waits ``lock_timeout_seconds``, then gives up having written nothing,
    and the first finishes whole."""
    cfg = store_config({"database": {"lock_timeout_seconds": 1}, "sync_settings": {"arribos": {"batch_size": 1}}})
    insert(src, "arribos", ARRIBOS)
    holding, release, first = threading.Event(), threading.Event(), []

    def pause(done, total):
        if not holding.is_set():
            holding.set()
            release.wait(20)

    t = threading.Thread(target=lambda: first.append(P.run_table("arribos", mode="full", cfg=cfg, on_batch=pause)))
    t.start()
    assert holding.wait(20)
    try:
        t0 = time.monotonic()
        second = P.run_table("arribos", mode="full", cfg=cfg)
        waited = time.monotonic() - t0
        written_meanwhile = src.execute("SELECT count(*) FROM traficov2_sync_log").fetchone()[0]
    finally:
        release.set()
        t.join()
    assert second.status == "locked" and ("another" in second.error), second.error
    assert waited >= 1.0
    assert written_meanwhile == 0
    assert first[0].status == "ok" and first[0].counts["inserted"] == 3
    assert src.execute("SELECT count(*) FROM traficov2_arribos").fetchone()[0] == 3
    assert [r[0] for r in src.execute("SELECT operation FROM traficov2_sync_log")] == ["SYNC"]
    # the table is free again: a third run goes through
    assert run(cfg).status == "ok"


def test_back_propagation_copies_chofer_and_causes_no_ping_pong(src, cfg):
    insert(src, "arribos", ARRIBOS)
    run(cfg)
    src.execute("""UPDATE traficov2_arribos SET "Chofer" = 'PEREZ' WHERE sync_key = 'MSCU1234566'""")
    [res] = P.back_propagate(cfg, {"arribos": ["Chofer"]}, run_id="bp1")
    assert res["status"] == "ok" and res["rows_updated"] == 1, res
    assert src.execute("""SELECT "Chofer" FROM arribos WHERE "Contenedor" = 'MSCU-123456-6'""").fetchone()[0] == "PEREZ"
    # TCNU's ANA came from the source itself: nothing to copy there
    [again] = P.back_propagate(cfg, {"arribos": ["Chofer"]}, run_id="bp2")
    assert again["rows_updated"] == 0
    before = target(src, cols='sync_key, "Chofer", fecha_modificacion, manual_updated_at')
    after_sync = run(cfg, mode="incremental")
    assert (after_sync.counts["inserted"], after_sync.counts["updated"]) == (0, 0)
    assert target(src, cols='sync_key, "Chofer", fecha_modificacion, manual_updated_at') == before
    assert src.execute("SELECT count(*) FROM traficov2_sync_changes").fetchone()[0] == 0
    ops = [r[0] for r in src.execute("SELECT operation FROM traficov2_sync_log ORDER BY id")]
    assert ops == ["SYNC", "BACK_PROPAGATE", "BACK_PROPAGATE", "SYNC"]  # one row per table per run


@direct_and_rest
def test_malformed_csv_source_fails_the_table_cleanly(src, store_config, tmp_path):
    (tmp_path / "arribos_semana.csv").write_text(
        "Fecha,Terminal,Turno,Contenedor,Cliente,Booking,TLAT,Tipo CNT,Dimension,Oper.,Tiempo,Estado,Peso,Peligrosa,Chofer\n"
        "23/11,T1,0700,MSCU1234566,Uno,,,,,,,,1,,\n"
        "24/11,T1,0700,TCNU7200794,Dos,,,,,,,,1,,,extra,values\n", encoding="utf-8")
    cfg = store_config({"csv_sources": {"data_path": str(tmp_path)},
                        "sync_settings": {"arribos": {"source": "csv"}}})
    res = P.run_table("arribos", mode="full", cfg=cfg)
    assert res.status == "error" and "arribos_semana.csv: line 3" in res.error
    assert src.execute("SELECT count(*) FROM traficov2_arribos").fetchone()[0] == 0
    log = src.execute("SELECT operation, details->>'error' FROM traficov2_sync_log").fetchall()
    assert log == [("ERROR", res.error)]


@direct_and_rest
def test_csv_source_when_the_config_says_so(src, store_config):
    cfg = store_config({"sync_settings": {"pendiente_desconsolidar": {"source": "csv"}}})
    res = run(cfg, table="pendiente_desconsolidar")
    assert res.counts["read"] >= 30 and res.counts["inserted"] + res.counts["rejected"] + res.counts["duplicates"] == res.counts["read"]
    assert src.execute("SELECT count(*) FROM pendiente_desconsolidar").fetchone()[0] == 0  # never touched


@direct_and_rest
def test_nothing_lost_on_the_sample_data(src, cfg):
    """After a full run, every source row is in its target (by key) or in the rejects table."""
    from trafico_lib.engine.stage import build_sync_key
    from trafico_lib.sample import load_samples
    load_samples(src, cfg)
    for name, spec in TABLES.items():
        res = run(cfg, table=name)
        ctx = P.start(name, mode="full", cfg=cfg)
        norm = P.normalize(ctx, P.extract(ctx)).frame
        booking = '"Booking"' if "Booking" in spec.column_names else "NULL"
        targets = {r[0]: r[1] for r in src.execute(f"SELECT sync_key, {booking} FROM {spec.target}").fetchall()}
        rejected_ids = {r[0] for r in src.execute(
            "SELECT raw_row->>'_source_id' FROM traficov2_sync_rejects WHERE table_name = %s", (spec.target,))}
        if spec.extra_target_columns:  # expo: each source row's booking has its slots
            keys, present = norm["Booking"], set(targets.values())
        else:
            keys, present = build_sync_key(norm, spec), set(targets)
        lost = [sid for sid, k in zip(norm["_source_id"], keys) if k not in present and sid not in rejected_ids]
        assert not lost, (name, lost)
        assert res.counts["inserted"] > 0


def test_database_lost_for_good_mid_run_writes_nothing_and_reports_one_line(src, make_config, db_url, pg_server):
    cfg = make_config({"sync_settings": {"arribos": {"batch_size": 1, "retry_attempts": 2}}}, db_url=db_url)
    insert(src, "arribos", ARRIBOS)

    def kill_every_time(done, total):
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE application_name = 'trafico' AND pid <> pg_backend_pid()")

    res = P.run_table("arribos", mode="full", cfg=cfg, on_batch=kill_every_time)
    assert res.status == "error" and res.attempts == 2
    assert "\n" not in res.error and "terminat" in res.error.lower()
    assert src.execute("SELECT count(*) FROM traficov2_arribos").fetchone()[0] == 0  # not half-written
    assert src.execute("SELECT count(*) FROM traficov2_sync_state").fetchone()[0] == 0
    assert src.execute("SELECT operation FROM traficov2_sync_log").fetchall() == [("ERROR",)]


def test_a_desk_edit_landing_between_merge_and_write_is_not_overwritten(src, direct_cfg, db_url):
    """The merge reads the target, then writes; an edit committed in between must survive."""
    from datetime import UTC, datetime

    from trafico_lib.stores.sql import merge as q
    cfg = direct_cfg
    insert(src, "arribos", ARRIBOS)
    run(cfg)
    src.execute("""UPDATE arribos SET "Chofer" = 'FUENTE', "Cliente" = 'X', updated_at = now()
                   WHERE "Contenedor" = 'MSCU-123456-6'""")
    ctx = P.start("arribos", mode="incremental", cfg=cfg)
    val = P.validate(ctx, P.normalize(ctx, P.extract(ctx)))
    P.stage(ctx, P.enrich(ctx, val), val)
    P.stage_remaining(ctx)
    spec, c = TABLES["arribos"], ctx.staging.conn
    try:
        with c.transaction():
            c.execute("SET LOCAL trafico.sync = 'on'")
            started = datetime.now(UTC)
            c.execute(q.create_merged(spec, ["Chofer", "Estado"], started))
            c.execute(q.fill_merged(spec, ["Chofer", "Estado"], started), {"lo": 0, "hi": 2 ** 62})
            # the traffic desk saves a driver now, in its own transaction
            src.execute("""UPDATE traficov2_arribos SET "Chofer" = 'MESA' WHERE sync_key = 'MSCU1234566'""")
            written = c.execute(q.merge(spec), {"run_id": "race"}).fetchall()
    finally:
        ctx.close()
    assert written == []  # the edited row was left for the next run
    assert dict((r[0], r[1]) for r in target(src))["MSCU1234566"] == "MESA"
    assert src.execute("SELECT count(*) FROM traficov2_sync_changes WHERE run_id = 'race'").fetchone()[0] == 0
    # the next run merges it: the source's newer value... is older than the desk's edit: the desk wins
    run(cfg, mode="incremental")
    row = src.execute("""SELECT "Chofer", "Cliente" FROM traficov2_arribos WHERE sync_key = 'MSCU1234566'""").fetchone()
    assert row == ("MESA", "X")


def _lock_waits(conn) -> int:
    """Backends waiting for a lock another transaction holds (the merge waiting on a row)."""
    return conn.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]


def run_while_the_desk_holds(conn, db_url, cfg, table: str, key: str, assignments: str, *, mode="incremental"):
    """A run of ``table`` while a desk transaction (a second, real connection) holds the edit
    ``assignments`` of ``key``'s target row uncommitted; the desk commits once the run waits on
    that row (or has finished without needing it). Returns (the run's result, whether it waited)."""
    spec = TABLES[table]
    out, waited = [], False
    with psycopg.connect(db_url) as desk:
        desk.execute(f"UPDATE {spec.target} SET {assignments} WHERE sync_key = %s", (key,))
        t = threading.Thread(target=lambda: out.append(P.run_table(table, mode=mode, cfg=cfg)))
        t.start()
        deadline = time.monotonic() + 30
        while t.is_alive() and time.monotonic() < deadline:
            if _lock_waits(conn):
                waited = True
                break
            time.sleep(0.02)
        desk.commit()
        t.join(60)
    assert out and out[0].status == "ok", out and out[0].error
    return out[0], waited


def test_merge_race_a_desk_edit_committed_while_the_merge_waits_on_the_row_loses_no_source_change(
        src, store_config, db_url):
    """Issue 21 point 2: the source changes a row (``Cliente``, ``Estado``) while the desk, in a
    transaction of its own, types a ``Chofer`` on it; the run's merge waits on that row and the
    desk commits. The merge must not overwrite the desk's edit, and must not record the row as
    written either: its bookkeeping (hashes, the source's preserved values) says what the row
    holds, so the next run merges the source's change. After it: the source's ``Cliente`` and
    ``Estado``, the desk's ``Chofer``. No lookback: the watermark itself must leave the row to be
    read again."""
    cfg = store_config({"database": {"lookback_minutes": 0}})
    insert(src, "arribos", ARRIBOS)
    run(cfg)
    src.execute("""UPDATE arribos SET "Cliente" = 'X', "Estado" = 'En terminal', updated_at = clock_timestamp()
                   WHERE "Contenedor" = 'MSCU-123456-6'""")
    racing, waited = run_while_the_desk_holds(src, db_url, cfg, "arribos", "MSCU1234566", """"Chofer" = 'MESA'""")
    assert waited  # the merge really waited on the desk's row
    cliente, estado, preserved, row_hash = _row(src, "MSCU1234566", '"Cliente", "Estado", source_preserved, row_hash')
    written = cliente == "X"
    # the row is as the run wrote it, or as it was: its bookkeeping says which
    assert (preserved.get("Estado") == "En terminal") == written
    assert written == (racing.counts["updated"] == 1)
    left = src.execute("SELECT details->'left_for_next_run' FROM traficov2_sync_log WHERE details->>'run_id' = %s",
                       (racing.run_id,)).fetchone()[0]
    assert left == (0 if written else 1)  # the log row says the row was left for the next run
    assert src.execute("SELECT count(*) FROM traficov2_sync_changes WHERE sync_key = 'MSCU1234566' "
                       "AND run_id = %s", (racing.run_id,)).fetchone()[0] == (2 if written else 0)
    nxt = run(cfg, mode="incremental")
    assert nxt.counts["updated"] == (0 if written else 1)
    assert _row(src, "MSCU1234566", '"Chofer", "Cliente", "Estado"') == ("MESA", "X", "En terminal")
    assert run(cfg, mode="full").counts["updated"] == 0


@direct_and_rest
def test_a_row_that_stays_broken_is_recorded_once_a_day_but_counted_every_run(src, cfg):
    insert(src, "pendiente_desconsolidar", [{"Contenedor": "-", "Cliente": "Sin contenedor"},
                                            {"Contenedor": "MSCU1234566", "Cliente": "A"}])
    first = run(cfg, table="pendiente_desconsolidar", mode="incremental")
    second = run(cfg, table="pendiente_desconsolidar", mode="incremental", skip_unchanged=False)
    assert first.counts["rejected"] == second.counts["rejected"] == 1  # counted by every run that reads it
    assert src.execute("SELECT count(*) FROM traficov2_sync_rejects").fetchone()[0] == 1
    # a source that did not change is not read at all (pipeline/probe.py) ...
    assert run(cfg, table="pendiente_desconsolidar", mode="incremental").unchanged_since == second.run_id
    src.execute("UPDATE traficov2_sync_rejects SET created_at = now() - interval '25 hours'")
    # ... until its reject is due to be recorded again: then it is read, and recorded
    assert run(cfg, table="pendiente_desconsolidar", mode="incremental").counts["rejected"] == 1
    assert src.execute("SELECT count(*) FROM traficov2_sync_rejects").fetchone()[0] == 2
    # a different problem with the same row is recorded at once
    src.execute("""UPDATE pendiente_desconsolidar SET "Cliente" = 'Otro' WHERE "Contenedor" = '-'""")
    run(cfg, table="pendiente_desconsolidar", mode="incremental")
    assert src.execute("SELECT count(*) FROM traficov2_sync_rejects").fetchone()[0] == 3


def test_a_table_larger_than_one_read_is_synced_whole(src, store_config):
    """2,500 rows: more than Supabase's silent 1,000-row cap on one read (the REST harness
    reproduces it) and many batches: every row lands, the rerun finds all unchanged, and a row
    gone from the source is the only one deactivated."""
    from trafico_lib.rules.iso6346 import check_digit
    n = 2500
    cfg = store_config({"sync_settings": {"pendiente_desconsolidar": {"batch_size": 300}}})
    conts = [f"ABCU{i:06d}" for i in range(n)]
    conts = [c + str(check_digit(c)) for c in conts]
    with src.cursor() as cur:
        cur.executemany('INSERT INTO pendiente_desconsolidar ("Contenedor", "Cliente", "Cantidad") VALUES (%s, %s, %s)',
                        [(c, f"Cliente {i % 7}", str(i % 5 + 1)) for i, c in enumerate(conts)])
    first = run(cfg, table="pendiente_desconsolidar", mode="full")
    assert first.counts["read"] == n and first.counts["inserted"] == n
    assert src.execute("SELECT count(DISTINCT sync_key) FROM traficov2_pendiente_desconsolidar").fetchone()[0] == n
    src.execute("""DELETE FROM pendiente_desconsolidar WHERE "Contenedor" = %s""", (conts[1234],))
    again = run(cfg, table="pendiente_desconsolidar", mode="full")
    assert (again.counts["inserted"], again.counts["updated"], again.counts["unchanged"]) == (0, 0, n - 1)
    assert again.counts["deactivated"] == 1
    gone = src.execute("SELECT sync_key FROM traficov2_pendiente_desconsolidar WHERE NOT activo").fetchall()
    assert gone == [(conts[1234],)]


@direct_and_rest
def test_an_unreadable_value_warns_on_its_own_row(src, cfg):
    """The third row's date cannot be read: it is stored empty with a ``parseable_Fecha``
    warning on that row, and on no other."""
    rows = [dict(r) for r in ARRIBOS]
    rows[2]["Fecha"] = "99/99/9999"
    insert(src, "arribos", rows)
    run(cfg)
    got = {k: [w for w in ws if w.startswith("parseable_")]
           for k, ws in src.execute('SELECT sync_key, validation_warnings FROM traficov2_arribos').fetchall()}
    assert got == {"MSCU1234566": [], "TCNU7200794": [], "CSQU3054383": ["parseable_Fecha"]}
    assert src.execute("""SELECT "Fecha" FROM traficov2_arribos WHERE sync_key = 'CSQU3054383'""").fetchone() == (None,)


def test_a_full_run_over_an_emptied_source_refuses_to_deactivate_the_table(src, cfg):
    """The source comes back empty (a failed export, a truncated table): a full run refuses
    to deactivate more than max_deactivation_share of the table, says what to do, and writes
    nothing of it; allowed explicitly, it deactivates them."""
    insert(src, "arribos", ARRIBOS)
    run(cfg)
    src.execute("DELETE FROM arribos")
    refused = P.run_table("arribos", mode="full", cfg=cfg)
    assert refused.status == "error" and "refused to deactivate 3 of its 3 active rows" in refused.error
    assert "--allow-mass-deactivation" in refused.error and "\n" not in refused.error
    assert [r[3] for r in target(src)] == [True, True, True]
    assert src.execute("SELECT count(*) FROM traficov2_sync_changes").fetchone()[0] == 0
    assert [r[0] for r in src.execute("SELECT operation FROM traficov2_sync_log ORDER BY id")] == ["SYNC", "ERROR"]
    allowed = run(cfg, allow_mass_deactivation=True)
    assert allowed.counts["deactivated"] == 3
    assert [r[3] for r in target(src)] == [False, False, False]


@direct_and_rest
def test_a_done_status_survives_a_run_that_cannot_read_the_exit_records(src, store_config, tmp_path):
    """An exit record marks MSCU1234566 done. The next runs find no exit records (the CSV is
    gone, as when SQL Server is unreachable): the done status stays, no change is recorded for
    it, and the source's own status for the other rows still comes through."""
    data = tmp_path / "exits"
    data.mkdir()
    (data / "salidas.csv").write_text("orden_ing,suborden,renglon,contenedor,validada\n"
                                      "1,1,1,MSCU1234566,2026-11-28 09:50:00\n", encoding="utf-8")
    cfg = store_config({"csv_sources": {"data_path": str(data)}})
    rows = [dict(r, Estado="En terminal") for r in ARRIBOS]
    insert(src, "arribos", rows)
    run(cfg)
    estado = lambda: dict(src.execute('SELECT sync_key, "Estado" FROM traficov2_arribos').fetchall())  # noqa: E731
    assert estado()["MSCU1234566"] == "Realizado 28/11/2026 09:50"
    (data / "salidas.csv").unlink()
    src.execute("""UPDATE arribos SET "Estado" = 'Pendiente', updated_at = now() + interval '1 minute'""")
    again = run(cfg, mode="full")
    assert estado() == {"MSCU1234566": "Realizado 28/11/2026 09:50", "TCNU7200794": "Pendiente",
                        "CSQU3054383": "Pendiente"}
    changed = src.execute("SELECT sync_key FROM traficov2_sync_changes WHERE field = 'Estado' AND run_id = %s "
                          "ORDER BY 1", (again.run_id,)).fetchall()
    assert changed == [("CSQU3054383",), ("TCNU7200794",)]
    rerun = run(cfg, mode="full")
    assert (rerun.counts["inserted"], rerun.counts["updated"]) == (0, 0)


@direct_and_rest
def test_on_a_source_without_change_times_a_desk_edit_since_the_last_run_wins(src, cfg):
    """pendiente_desconsolidar has no change timestamp: when the source changed is only known
    to be after the last run that saw the row. A desk edit made before that run loses to the
    source's later change; one made after it (the source's change cannot be ordered with it)
    wins."""
    chofer = lambda: src.execute('SELECT "Chofer" FROM traficov2_pendiente_desconsolidar').fetchone()[0]  # noqa: E731
    insert(src, "pendiente_desconsolidar", [{"Contenedor": "MSCU1234566", "Cliente": "A", "Chofer": "SRC-0"}])
    run(cfg, table="pendiente_desconsolidar")
    src.execute("""UPDATE traficov2_pendiente_desconsolidar SET "Chofer" = 'DESK-OLD'""")
    run(cfg, table="pendiente_desconsolidar")  # sees the source as it was: the desk's edit stays
    assert chofer() == "DESK-OLD"
    src.execute("""UPDATE pendiente_desconsolidar SET "Chofer" = 'SRC-NEW'""")
    run(cfg, table="pendiente_desconsolidar")
    assert chofer() == "SRC-NEW"  # changed after the run that saw the desk's edit: the source wins
    src.execute("""UPDATE pendiente_desconsolidar SET "Chofer" = 'SRC-T1'""")
    time.sleep(0.01)
    src.execute("""UPDATE traficov2_pendiente_desconsolidar SET "Chofer" = 'DESK-T2'""")
    run(cfg, table="pendiente_desconsolidar")
    assert chofer() == "DESK-T2"


@direct_and_rest
def test_a_utf8_csv_with_a_stray_byte_and_a_nul_rejects_those_two_rows_and_keeps_every_accent(
        src, store_config, tmp_path):
    """The sample export saved as UTF-8, then one stray cp1252 byte on line 5 and a NUL in a
    cell on line 9: the file is read as UTF-8 (no Ñandú becomes Ã‘andÃº), the two rows go to
    the rejects with their lines and the rule readable_<column>, every other row is written."""
    text = (DATA_DIR / "pendiente_desconsolidar.csv").read_bytes().decode("cp1252")
    lines = text.split("\r\n")
    assert "Ñand" in text and len(lines) > 12
    raw = [ln.encode("utf-8") for ln in lines]
    raw[4] = raw[4].replace(b";", b";\xd1", 1)          # line 5: a stray cp1252 Ñ after the first ;
    raw[8] = raw[8].replace(b";", b";X\x00Y", 1)        # line 9: a NUL inside the second cell
    (tmp_path / "pend.csv").write_bytes(b"\r\n".join(raw))
    cfg = store_config({"csv_sources": {"data_path": str(tmp_path), "files": {"pendiente_desconsolidar": "pend.csv"}},
                        "sync_settings": {"pendiente_desconsolidar": {"source": "csv"}}})
    res = run(cfg, table="pendiente_desconsolidar", mode="full")
    rejects = src.execute("SELECT reasons, raw_row->>'_row' FROM traficov2_sync_rejects "
                          "WHERE reasons::text LIKE '%readable_%' ORDER BY 2").fetchall()
    assert [(r[0], r[1]) for r in rejects] == [(["readable_Cliente"], "5"), (["readable_Cliente"], "9")]
    clientes = [r[0] for r in src.execute('SELECT "Cliente" FROM traficov2_pendiente_desconsolidar')]
    assert any("Ñand" in (c or "") for c in clientes)
    assert not any("Ã" in (c or "") or "\ufffd" in (c or "") for c in clientes)
    assert res.counts["inserted"] > 20 and res.counts["rejected"] >= 2
