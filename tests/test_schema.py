import psycopg

from trafico_lib.schema import apply_migrations, migrations, render_sql
from trafico_lib.tables import SYSTEM_TABLES, TABLES


def _columns(conn, table):
    return [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s ORDER BY ordinal_position",
        (table,))]


def test_migrations_apply_twice_and_create_every_table(empty_db_url):
    with psycopg.connect(empty_db_url) as c:
        first = apply_migrations(c)
        second = apply_migrations(c)
        assert first == [m.version for m in migrations()]
        assert second == []
        for spec in TABLES.values():
            cols = _columns(c, spec.target)
            assert cols[1:1 + len(spec.target_columns)] == spec.target_column_names
            for meta in ("sync_key", "source_id", "row_hash", "source_updated_at", "fecha_registro",
                         "fecha_modificacion", "synced_at", "manual_updated_at",
                         "validation_warnings", "activo"):
                assert meta in cols, (spec.target, meta)
        for t in SYSTEM_TABLES:
            assert _columns(c, t), t
        log_cols = _columns(c, "traficov2_sync_log")
        for old in ("table_name", "operation", "source_table", "source_id", "target_id",
                    "sync_timestamp", "details"):
            assert old in log_cols


def test_sync_key_is_unique_and_types_are_real(db_url):
    with psycopg.connect(db_url) as c:
        c.execute("""INSERT INTO traficov2_arribos ("Contenedor", "Fecha", "Peso", sync_key)
                     VALUES ('MSCU1234566', '2026-11-28', 1429.5, 'MSCU1234566')""")
        try:
            c.execute("INSERT INTO traficov2_arribos (sync_key) VALUES ('MSCU1234566')")
            raise AssertionError("duplicate sync_key accepted")
        except psycopg.errors.UniqueViolation:
            c.rollback()
        types = dict(c.execute("""SELECT column_name, data_type FROM information_schema.columns
                                  WHERE table_name = 'traficov2_arribos'""").fetchall())
        assert types["Fecha"] == "date"
        assert types["Peso"] == "numeric"
        assert types["Turno"].startswith("time")
        assert types["validation_warnings"] == "jsonb"


def test_manual_edit_trigger_marks_only_non_sync_edits_of_preserved_fields(conn):
    conn.execute("INSERT INTO traficov2_arribos (sync_key, \"Contenedor\") VALUES ('K1', 'K1')")
    conn.execute("UPDATE traficov2_arribos SET \"Terminal\" = 'T4' WHERE sync_key = 'K1'")
    assert conn.execute("SELECT manual_updated_at FROM traficov2_arribos").fetchone()[0] is None
    with conn.transaction():
        conn.execute("SET LOCAL trafico.sync = 'on'")
        conn.execute("UPDATE traficov2_arribos SET \"Chofer\" = 'SYNC' WHERE sync_key = 'K1'")
    assert conn.execute("SELECT manual_updated_at FROM traficov2_arribos").fetchone()[0] is None
    conn.execute("UPDATE traficov2_arribos SET \"Chofer\" = 'PEREZ' WHERE sync_key = 'K1'")
    assert conn.execute("SELECT manual_updated_at FROM traficov2_arribos").fetchone()[0] is not None


def test_render_sql_is_plain_and_complete():
    text = render_sql()
    for spec in TABLES.values():
        assert f"CREATE TABLE IF NOT EXISTS {spec.target}" in text
    for t in SYSTEM_TABLES:
        assert t in text
    assert "traficov2_mark_manual" in text


def test_rendered_script_runs_twice_on_a_bare_database(empty_db_url):
    with psycopg.connect(empty_db_url, autocommit=True) as c:
        c.execute(render_sql())
        c.execute(render_sql())
        assert c.execute("SELECT count(*) FROM traficov2_schema_migrations").fetchone()[0] == len(migrations())
