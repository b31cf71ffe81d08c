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
from trafico_lib.tables import TABLES

ROOT = Path(__file__).resolve().parent.parent
OLD_TABLES = [*OLD_ROWS, "traficov2_sync_log", "traficov2_otros"]
SPECS = {s.target: s for s in TABLES.values()}


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
    """The command line with ``cfg_path``, no store variables in the environment (in this process)."""
    return _in_process(["--config", str(cfg_path), *args], cwd, {})


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


# ---- the four steps of the old tool's migration, on each store ----------------------------------

def _query(url: str, q: str, params=None) -> list[tuple]:
    with psycopg.connect(url) as c:
        return c.execute(q, params).fetchall()


def _table_rows(url: str, table: str) -> list[dict]:
    with psycopg.connect(url) as c:
        cur = c.execute(f"SELECT * FROM {table} ORDER BY id")
        names = [d.name for d in cur.description]
        return [dict(zip(names, r)) for r in cur.fetchall()]


def _migrate(store: str, url: str, tmp_path: Path):
    """(run(args) -> CompletedProcess, the PostgREST or None): the old deployment, its old config
    file as it shipped, and the schema applied as that store's IT person applies it."""
    from old_deployment import OLD_CONFIG
    work = tmp_path / "depot"
    work.mkdir()
    (work / "trafico_config.json").write_text(json.dumps(OLD_CONFIG, indent=4), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in STORE_VARIABLES}

    def run(args, timeout=600):
        """``python update_traficov2.py <args>`` from the depot's folder with ``env``. Through the
        notebooks (no ``--no-notebook``) in a process of its own, as the depot runs it; the other
        commands in this process (the same ``main`` the script forwards to), which is faster and
        asserts the same output."""
        if not ({"--no-notebook", "--init-db", "--print-sql", "--health-check"} & set(args)):
            return subprocess.run([sys.executable, str(ROOT / "update_traficov2.py"), *args], capture_output=True,
                                  text=True, timeout=timeout, cwd=work, env=env)
        return _in_process(args, work, env)
    return work, env, run


STORE_VARIABLES = ("TRAFICO_DATABASE_URL", "url_supabase", "key_supabase", "SUPABASE_URL", "SUPABASE_KEY")


def _in_process(args, work: Path, env: dict) -> subprocess.CompletedProcess:
    """The command line's ``main`` in this process, from ``work``, with the store's variables of
    ``env`` (and no others); its exit code and what it printed, as a finished process."""
    import contextlib
    import io

    from trafico_lib.cli import main
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for k in STORE_VARIABLES:
            if k in env:
                mp.setenv(k, env[k])
            else:
                mp.delenv(k, raising=False)
        mp.chdir(work)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args), prog="update_traficov2.py")
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


@pytest.fixture(params=["direct", "rest"])
def old_depot(request, empty_db_url, tmp_path):
    work, env, run = _migrate(request.param, empty_db_url, tmp_path)
    if request.param == "direct":
        with psycopg.connect(empty_db_url) as c:
            build_old_deployment(c)
        env["TRAFICO_DATABASE_URL"] = empty_db_url
        p = run(["--init-db"])
        assert p.returncode == 0 and "Adopted in place" in p.stdout, p.stdout + p.stderr
        yield request.param, empty_db_url, run, None, work
        return
    with harness.supabase_project(empty_db_url, tmp_path / "pgrst", schema=False,
                                  prepare=build_old_deployment) as server:
        before = {t: _anon_read(server, t) for t in OLD_ROWS}
        env.update(url_supabase=server.url, key_supabase=server.service_key)  # the old tool's variables
        printed = run(["--print-sql"])
        assert printed.returncode == 0, printed.stderr
        with psycopg.connect(empty_db_url, autocommit=True) as c:
            c.execute(printed.stdout)  # pasted into the SQL editor
        server.reload_schema()
        server.anon_before = before
        yield request.param, empty_db_url, run, server, work


def test_migrating_from_the_old_script_keeps_every_row_id_desk_edit_and_date_the_desk_reads(old_depot):
    from old_deployment import DESK_EDITS, SOURCES, desk_unparsed, old_ids
    store, url, run, server, work = old_depot
    with psycopg.connect(url) as c:
        ids_before = old_ids(c)
    snapshot = {t: _table_rows(url, t) for t in OLD_ROWS}

    dry = run(["--dry-run", "--no-notebook"])
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "adopt" in dry.stdout.lower(), dry.stdout
    assert {t: _table_rows(url, t) for t in OLD_ROWS} == snapshot  # the dry run wrote nothing

    first = run(["--mode", "incremental"] if store == "direct" else ["--mode", "incremental", "--no-notebook"])
    assert first.returncode == 0, first.stdout + first.stderr
    for table, ids in ids_before.items():
        rows = _table_rows(url, table)
        assert ids <= {r["id"] for r in rows}, table                      # every old id kept
        active = [r for r in rows if r["activo"]]
        assert all(r["sync_key"] for r in active), table                  # every active row adopted or new
        assert len({r["sync_key"] for r in active}) == len(active), table  # no second copy of a key
        assert desk_unparsed(rows, table) == [], table                    # the desk's app parses every date
    for table, id_, values in DESK_EDITS:                                 # every desk edit kept
        row = next(r for r in _table_rows(url, table) if r["id"] == id_)
        assert {k: row[k] for k in values} == values, (table, id_)
    desk_only = {"chofer", "Observaciones", "Observaciones trafico", "Fecha y Hora Fin", "fecha_registro"}
    for table, rows in snapshot.items():                                  # the desk's columns never written
        now = {r["id"]: r for r in _table_rows(url, table)}
        mine = desk_only - set(SPECS[table].target_column_names)
        assert {r["id"]: {k: v for k, v in r.items() if k in mine} for r in rows} == \
            {i: {k: v for k, v in now[i].items() if k in mine} for i in (r["id"] for r in rows)}, table
    # an old expo booking row is its booking's first slot
    assert _query(url, "SELECT sync_key FROM traficov2_arribos_ctns_expo WHERE id = 1") == [("BKG2611012|1",)]
    # every source key active in its target (or rejected)
    containers = {r[0] for r in _query(url, 'SELECT sync_key FROM traficov2_arribos WHERE activo')}
    assert {"MSKU7867982", "RIPU9687646", "TCLU1234560"} <= containers
    bookings = {r[0] for r in _query(url, 'SELECT "Booking" FROM traficov2_arribos_ctns_expo WHERE activo')}
    assert {b for _, b, *_ in SOURCES["arribos_expo_ctns"][1]} <= bookings

    health = run(["--health-check"])
    assert health.returncode == 0, health.stdout + health.stderr

    second = run(["--mode", "incremental", "--no-notebook"])
    assert second.returncode == 0, second.stdout + second.stderr
    total = [line for line in second.stdout.splitlines() if "Total:" in line]
    assert total and "Inserted 0, Updated 0" in total[-1], second.stdout
    if server is not None:  # the desk's app, with the public key, still reads every row it read
        for t, rows in server.anon_before.items():
            now = {r["id"]: r for r in _anon_read(server, t)}
            assert {r["id"] for r in rows} <= set(now), t
