"""Taking over a depot that runs the old tool (issue 22), as its IT person would: the old tables,
with the desk's data in them, upgraded in place by ``--init-db`` (direct) or ``make sql`` pasted
into Supabase (a real PostgREST); their columns, rows, ids and access as they were."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

import rest_server as harness
from old_deployment import OLD_ROWS, build_old_deployment

ROOT = Path(__file__).resolve().parent.parent
OLD_TABLES = [*OLD_ROWS, "traficov2_sync_log", "traficov2_otros"]


def _columns(conn, table: str) -> dict[str, str]:
    return dict(conn.execute(
        "SELECT column_name, format_type(a.atttypid, a.atttypmod) FROM information_schema.columns c "
        "JOIN pg_attribute a ON a.attrelid = format('public.%%I', c.table_name)::regclass "
        "AND a.attname = c.column_name WHERE c.table_schema = 'public' AND c.table_name = %s", [table]).fetchall())


def _rows(conn, table: str, columns) -> dict[int, dict]:
    from psycopg import sql
    cur = conn.execute(sql.SQL("SELECT {} FROM {}").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(table)))
    names = [d.name for d in cur.description]
    return {r[0]: dict(zip(names, r)) for r in cur.fetchall()}


def _snapshot(conn) -> dict:
    out = {}
    for t in OLD_TABLES:
        cols = _columns(conn, t)
        out[t] = (cols, _rows(conn, t, ["id", *sorted(c for c in cols if c != "id")]))
    return out


def _cli(args, cfg_path: Path, cwd: Path):
    env = {k: v for k, v in os.environ.items() if k not in ("TRAFICO_DATABASE_URL", "url_supabase", "key_supabase")}
    return subprocess.run([sys.executable, str(ROOT / "update_traficov2.py"), "--config", str(cfg_path), *args],
                          capture_output=True, text=True, timeout=300, cwd=cwd, env=env)


def test_init_db_upgrades_the_old_tables_in_place_keeping_columns_rows_ids_and_access(empty_db_url, tmp_path):
    with psycopg.connect(empty_db_url) as c:
        build_old_deployment(c)
    with psycopg.connect(empty_db_url) as c:
        before = _snapshot(c)
    cfg = tmp_path / "trafico_config.json"
    cfg.write_text(json.dumps({"database": {"url": empty_db_url}}), encoding="utf-8")
    p = _cli(["--init-db"], cfg, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Adopted in place" in p.stdout and "traficov2_arribos_ctns_expo" in p.stdout, p.stdout
    with psycopg.connect(empty_db_url) as c:
        after = _snapshot(c)
        for t, (cols, rows) in before.items():
            now_cols, now_rows = after[t]
            # never a column dropped or retyped
            assert {k: now_cols.get(k) for k in cols} == cols, t
            # never a row deleted, an id changed or an old column's value touched
            assert {i: {k: r[k] for k in cols} for i, r in now_rows.items()} == rows, t
        assert "sync_key" in after["traficov2_arribos"][0]
        assert "sync_key" not in after["traficov2_otros"][0]  # not trafico's: left alone
        adopted = {r[0] for r in c.execute("SELECT table_name FROM traficov2_adopted")}
        assert adopted == {*OLD_ROWS, "traficov2_sync_log"}
        # the key is unique, so no second copy of a row can come in
        c.execute("UPDATE traficov2_arribos SET sync_key = 'K' WHERE id = 1")
        with pytest.raises(psycopg.errors.UniqueViolation):
            c.execute("UPDATE traficov2_arribos SET sync_key = 'K' WHERE id = 2")
        c.rollback()
        rls = dict(c.execute("SELECT relname, relrowsecurity FROM pg_class WHERE relname = ANY(%s)",
                             [OLD_TABLES]).fetchall())
        assert not any(rls.values()), rls
    again = _cli(["--init-db"], cfg, tmp_path)
    assert again.returncode == 0 and "0 migration(s) applied now" in again.stdout, again.stdout + again.stderr
    with psycopg.connect(empty_db_url) as c:
        assert _snapshot(c) == after


def _anon_read(server, table: str) -> list[dict]:
    import httpx
    r = httpx.get(f"{server.url}/rest/v1/{table}", params={"select": "*", "order": "id"},
                  headers={"apikey": server.anon_key, "Authorization": f"Bearer {server.anon_key}"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def test_make_sql_pasted_into_supabase_leaves_the_desk_apps_access_as_it_was(empty_db_url, tmp_path):
    """The desk's app reads and writes these tables with the project's public (anon) key: after
    the schema is pasted, it reads the same rows and still writes its columns by id, while
    trafico's own new tables are closed to that key."""
    import httpx

    with harness.supabase_project(empty_db_url, tmp_path / "pgrst", schema=False, prepare=build_old_deployment) as server:
        before = {t: _anon_read(server, t) for t in OLD_TABLES}
        assert all(before[t] for t in OLD_ROWS)
        from trafico_lib.schema import render_sql
        with psycopg.connect(empty_db_url, autocommit=True) as c:
            c.execute(render_sql())  # as the SQL editor runs it: one script
            c.execute(render_sql())  # safe to run twice
        server.reload_schema()
        for t in OLD_TABLES:
            now = _anon_read(server, t)
            assert [{k: r[k] for k in old} for r, old in zip(now, before[t])] == before[t], t
        headers = {"apikey": server.anon_key, "Authorization": f"Bearer {server.anon_key}",
                   "Prefer": "return=representation"}
        r = httpx.patch(f"{server.url}/rest/v1/traficov2_pendiente_desconsolidar", params={"id": "eq.1"},
                        json={"chofer": "Pedro Ruiz"}, headers=headers, timeout=30)
        assert r.status_code == 200 and r.json()[0]["chofer"] == "Pedro Ruiz", r.text
        # trafico's own tables, new here: row-level security on, nothing for the public key
        assert _anon_read(server, "traficov2_sync_rejects") == []
        with psycopg.connect(empty_db_url) as c:
            rls = dict(c.execute("SELECT relname, relrowsecurity FROM pg_class WHERE relname = ANY(%s)",
                                 [[*OLD_TABLES, "traficov2_sync_rejects", "traficov2_adopted"]]).fetchall())
        assert rls.pop("traficov2_sync_rejects") and rls.pop("traficov2_adopted")
        assert not any(rls.values()), rls
