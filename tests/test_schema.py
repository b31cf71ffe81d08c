from dataclasses import replace

import psycopg

from trafico_lib.schema import apply_migrations, migrations, render_sql
from trafico_lib.schema.targets import METADATA
from trafico_lib.tables import (DATE, INTEGER, NON_NEGATIVE, NUMERIC, SQL_TYPES, SYSTEM_TABLES, TABLES, TIME,
                                Column, TableSpec)


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


# ---- the targets are the registry's ------------------------------------------------------

def _canonical_type(conn, declared):
    """How PostgreSQL names a declared type (``time`` -> ``time without time zone``)."""
    return conn.execute("SELECT format_type(to_regtype(%s), to_regtypemod(%s))",
                        (declared, declared)).fetchone()[0]


def _typed_columns(conn, table):
    """(name, format_type) of every column of ``table`` in order."""
    return conn.execute(
        """SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
           WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
           ORDER BY a.attnum""", (table,)).fetchall()


def _checked_columns(conn, table):
    """The columns a CHECK constraint of ``table`` is on."""
    return sorted(r[0] for r in conn.execute(
        """SELECT a.attname FROM pg_constraint k
           JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = ANY (k.conkey)
           WHERE k.conrelid = to_regclass(%s) AND k.contype = 'c'""", (table,)))


def _expected_columns(conn, spec):
    business = [(c.name, _canonical_type(conn, SQL_TYPES[c.type])) for c in spec.target_columns]
    meta = [(n, _canonical_type(conn, ddl.split()[0])) for n, ddl in METADATA]
    return [("id", "bigint"), *business, *meta]


def test_every_target_has_exactly_the_registry_columns_and_types(db_url):
    with psycopg.connect(db_url) as c:
        for spec in TABLES.values():
            assert _typed_columns(c, spec.target) == _expected_columns(c, spec), spec.target
            assert _checked_columns(c, spec.target) == sorted(
                col.name for col in spec.target_columns if col.type in NON_NEGATIVE), spec.target
        assert _canonical_type(c, SQL_TYPES[NUMERIC]) == "numeric(14,3)"


FIFTH = TableSpec(
    name="devoluciones", source="devoluciones", target="traficov2_devoluciones",
    columns=(Column("Fecha", DATE), Column("Contenedor"), Column("Peso", NUMERIC),
             Column("Bultos", INTEGER), Column("Hora", TIME), Column("Chofer"), Column("Estado")),
    key=("Contenedor",), csv_file_key="devoluciones", default_csv="devoluciones.csv",
)


def test_a_fifth_registry_table_gets_its_target_and_trigger_with_no_sql_file(db_url, monkeypatch):
    monkeypatch.setitem(TABLES, FIFTH.name, FIFTH)
    with psycopg.connect(db_url) as c:
        assert apply_migrations(c) == []  # nothing new to record: the rendered step ran again
        assert _typed_columns(c, FIFTH.target) == _expected_columns(c, FIFTH)
        assert _checked_columns(c, FIFTH.target) == ["Bultos", "Peso"]
        c.execute("INSERT INTO traficov2_devoluciones (sync_key, \"Chofer\") VALUES ('K1', 'A')")
        c.execute("UPDATE traficov2_devoluciones SET \"Chofer\" = 'B' WHERE sync_key = 'K1'")
        assert c.execute("SELECT manual_updated_at FROM traficov2_devoluciones").fetchone()[0] is not None


def test_a_column_new_in_the_registry_reaches_an_existing_table(db_url, monkeypatch):
    spec = TABLES["arribos"]
    grown = replace(spec, columns=spec.columns + (Column("Bultos", INTEGER),))
    monkeypatch.setitem(TABLES, "arribos", grown)
    with psycopg.connect(db_url) as c:
        apply_migrations(c)
        columns = dict(_typed_columns(c, spec.target))
        assert columns["Bultos"] == "integer"
        assert "Bultos" in _checked_columns(c, spec.target)


def test_rendered_script_twice_leaves_the_same_schema_as_apply(empty_db_url, db_url):
    with psycopg.connect(empty_db_url, autocommit=True) as pasted, psycopg.connect(db_url) as applied:
        pasted.execute(render_sql())
        pasted.execute(render_sql())
        for spec in TABLES.values():
            assert _typed_columns(pasted, spec.target) == _typed_columns(applied, spec.target)
            assert _checked_columns(pasted, spec.target) == _checked_columns(applied, spec.target)


def test_init_db_triggers_follow_the_configured_preserve_fields(empty_db_url):
    with psycopg.connect(empty_db_url, autocommit=True) as c:
        apply_migrations(c, {"arribos": ["Terminal"]})
        c.execute("INSERT INTO traficov2_arribos (sync_key) VALUES ('K1')")
        c.execute("UPDATE traficov2_arribos SET \"Chofer\" = 'A' WHERE sync_key = 'K1'")
        assert c.execute("SELECT manual_updated_at FROM traficov2_arribos").fetchone()[0] is None
        c.execute("UPDATE traficov2_arribos SET \"Terminal\" = 'T4' WHERE sync_key = 'K1'")
        assert c.execute("SELECT manual_updated_at FROM traficov2_arribos").fetchone()[0] is not None


def test_the_printed_schema_carries_the_configured_preserved_fields(make_config, tmp_path, monkeypatch):
    """A table configured to preserve other fields gets them in the printed SQL (the trigger and
    the REST merge function), as --init-db applies them."""
    import subprocess
    import sys
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    (tmp_path / "trafico_config.json").write_text(
        '{"sync_settings": {"arribos": {"preserve_fields": ["Chofer", "Cliente"]}}}', encoding="utf-8")
    p = subprocess.run([sys.executable, str(root / "update_traficov2.py"), "--print-sql"], capture_output=True,
                       text=True, timeout=60, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    merge = p.stdout[p.stdout.index("FUNCTION traficov2_merge_arribos("):]
    merge = merge[:merge.index("$fn$;")]
    assert "jsonb_build_object('Chofer', \"s\".\"Chofer\", 'Cliente', \"s\".\"Cliente\")" in merge
    assert "traficov2_mark_manual('Chofer', 'Cliente')" in p.stdout


def test_the_newest_step_is_known_without_rendering_the_schema():
    from trafico_lib.schema import latest_version, migrations
    assert latest_version() == max(m.version for m in migrations())
