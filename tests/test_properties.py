"""The engine's promises, over random sources and random sequences of runs (hypothesis).

Each example starts from empty tables, fills a source table with rows in the live formats
(container numbers with dashes, blanks and lower case, bad check digits, placeholders, missing
keys, keys that differ only by their spelling, ``dd/mm`` dates around New Year, unreadable
dates, accented names) and then runs a random sequence of steps: full and incremental runs,
source rows edited, added and deleted, the traffic desk typing drivers, exit records appearing
and disappearing. After every run it checks:

* **nothing lost**: every source row is in its target (by key) or in the rejects (by source id);
* **a rerun writes nothing**: the same run again inserts and updates no row;
* **the desk's edits follow the rule**: a driver the desk typed stays while the source only
  changes other columns or empties its own driver;
* **statuses never go back**: a key once ``Realizado`` stays ``Realizado``;
* **a full run leaves active only the keys the source holds.**

Both a table with change timestamps (``arribos``) and one without (``pendiente_desconsolidar``,
the hash path) are drawn. The direct store only (the REST and pooler paths run the same
scenarios in ``test_engine.py``); NUL bytes and stray bytes only reach trafico through CSV
files, which ``test_engine.py`` covers, since PostgreSQL text cannot hold a NUL.
"""
from __future__ import annotations

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trafico_lib import pipeline as P
from trafico_lib.engine.stage import build_sync_key
from trafico_lib.rules.iso6346 import check_digit
from trafico_lib.sample import create_source_tables
from trafico_lib.tables import TABLES

OWNERS = ["MSCU", "TCNU", "CSQU", "GYOU", "HLXU"]
PLACEHOLDERS = ["-", "", " ", "N/A", None]
NAMES = ["Ñandú SRL", "Logística Río", "Cliente Uno", "Pérez e hijos", "ACME"]


def _container(owner: str, serial: int, *, good: bool, style: int) -> str:
    base = f"{owner}{serial:06d}"
    digit = check_digit(base)
    if not good:
        digit = (digit + 1) % 10
    code = f"{base}{digit}"
    return [code, f"{code[:4]}-{code[4:10]}-{code[10]}", f"{code[:4]} {code[4:10]} {code[10]}",
            code.lower(), f" {code} "][style]


containers = st.builds(_container, st.sampled_from(OWNERS), st.integers(0, 6),
                       good=st.booleans().map(lambda b: b or True) | st.just(False), style=st.integers(0, 4))
keys = st.one_of(containers, containers, containers, st.sampled_from(PLACEHOLDERS))
fechas = st.sampled_from(["30/12", "31/12", "01/01", "02/01", "31/12/2026", "01/01/2027", "99/99/9999", "-", None])
rows = st.fixed_dictionaries({
    "Contenedor": keys, "Cliente": st.sampled_from(NAMES + PLACEHOLDERS), "Fecha": fechas,
    "Chofer": st.sampled_from(["SRC-A", "SRC-B", "-", None]),
})
steps = st.lists(st.one_of(
    st.tuples(st.just("run"), st.sampled_from(["full", "incremental"])),
    st.tuples(st.just("edit_source"), st.integers(0, 3), st.sampled_from(NAMES)),
    st.tuples(st.just("empty_source_chofer"), st.integers(0, 3)),
    st.tuples(st.just("add"), rows),
    st.tuples(st.just("delete"), st.integers(0, 40)),
    st.tuples(st.just("desk"), st.integers(0, 3), st.sampled_from(["DESK-1", "DESK-2"])),
    st.tuples(st.just("exits"), st.booleans()),
    # the desk types a driver, then the source changes that row: empties its driver, or another column
    st.tuples(st.just("desk_then_source"), st.integers(0, 3), st.sampled_from(["empty", "other"])),
), min_size=2, max_size=7)


def _insert(c, table: str, row: dict) -> None:
    cols = [k for k in row if k in TABLES[table].column_names]
    c.execute(psycopg.sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        psycopg.sql.Identifier(table), psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, cols)),
        psycopg.sql.SQL(", ").join(psycopg.sql.Placeholder() * len(cols))), [row[k] for k in cols])


def _nth(c, sql: str, i: int):
    got = c.execute(sql).fetchall()
    return got[i % len(got)][0] if got else None


def _reset(c, table: str) -> None:
    spec = TABLES[table]
    c.execute(f'TRUNCATE {spec.source}, {spec.target}, traficov2_sync_log, traficov2_sync_state, '
              f'traficov2_sync_rejects, traficov2_sync_changes RESTART IDENTITY')


class Model:
    """What the test expects of the target beyond the invariants: the desk's drivers, the keys
    that reached Realizado."""

    def __init__(self):
        self.desk: dict[str, str] = {}
        self.done: set[str] = set()


def res_date(res):
    from datetime import datetime
    return datetime.strptime(res.run_id[:8], "%Y%m%d").date()


def _check(c, cfg, table: str, model: Model, res) -> None:
    spec = TABLES[table]
    assert res.status == "ok", res.error
    # nothing lost: every source row, read whole (none set aside), by the registry's key
    from datetime import timedelta

    from trafico_lib.normalize import normalize_frame
    from trafico_lib.stores import PostgresStore
    ex = PostgresStore(cfg.database_url).read_source(spec, mode="full", state={}, lookback=timedelta(0))
    try:
        norm = normalize_frame(ex.frame, spec, res_date(res)).frame
    finally:
        ex.close()
    want = build_sync_key(norm, spec)
    present = {r[0] for r in c.execute(f"SELECT sync_key FROM {spec.target} WHERE activo")}
    rejected = {r[0] for r in c.execute(
        "SELECT raw_row->>'_source_id' FROM traficov2_sync_rejects WHERE table_name = %s", (spec.target,))}
    lost = [(sid, k) for sid, k in zip(norm["_source_id"], want)
            if (k is None or k not in present) and str(sid) not in rejected]
    assert not lost, lost
    # after a full run no active key is one the source no longer holds (incremental runs
    # deactivate nothing: a source row deleted is only seen missing by a full read)
    if res.mode == "full":
        assert present <= {k for k in want if k}
    # the desk's drivers
    chofer = dict(c.execute(f'SELECT sync_key, "Chofer" FROM {spec.target} WHERE activo').fetchall())
    for key, value in model.desk.items():
        if key in chofer:
            assert chofer[key] == value, (key, chofer[key], value)
    # statuses never go back
    estado = dict(c.execute(f'SELECT sync_key, "Estado" FROM {spec.target}').fetchall())
    for key in model.done:
        assert "Realizado" in (estado.get(key) or ""), (key, estado.get(key))
    model.done |= {k for k, v in estado.items() if v and "Realizado" in v}


@pytest.fixture
def prop_env(conn, db_url, make_config, tmp_path):
    create_source_tables(conn)
    data = tmp_path / "exits"
    data.mkdir()
    cfg = make_config({"csv_sources": {"data_path": str(data)}, "database": {"lookback_minutes": 0}}, db_url=db_url)
    return conn, cfg, data


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(table=st.sampled_from(["arribos", "pendiente_desconsolidar"]),
       initial=st.lists(rows, min_size=1, max_size=14), plan=steps)
def test_the_engine_keeps_its_promises_over_random_sources_and_runs(prop_env, table, initial, plan):
    c, cfg, data = prop_env
    _reset(c, table)
    (data / "salidas.csv").unlink(missing_ok=True)
    spec, model = TABLES[table], Model()
    for row in initial:
        _insert(c, table, row)
    src_ids = f"SELECT id FROM {table} ORDER BY id"
    active = f"SELECT sync_key FROM {spec.target} WHERE activo ORDER BY sync_key"
    # the source row behind the i-th active target row (the same i the desk's edits pick)
    synced = (f"SELECT s.id FROM {spec.target} t JOIN {table} s ON s.id::text = t.source_id "
              f"WHERE t.activo ORDER BY t.sync_key")
    for step in [("run", "full"), *plan, ("run", "incremental")]:
        kind = step[0]
        if kind == "run":
            res = P.run_table(table, mode=step[1], cfg=cfg)
            _check(c, cfg, table, model, res)
            again = P.run_table(table, mode=step[1], cfg=cfg)
            assert again.status == "ok" and (again.counts["inserted"], again.counts["updated"]) == (0, 0), again.counts
        elif kind == "edit_source":
            sid = _nth(c, synced, step[1]) or _nth(c, src_ids, step[1])
            if sid is not None:
                set_ts = ", updated_at = clock_timestamp()" if "updated_at" in _columns(c, table) else ""
                c.execute(f'UPDATE {table} SET "Cliente" = %s{set_ts} WHERE id = %s', (step[2], sid))
        elif kind == "empty_source_chofer":
            sid = _nth(c, synced, step[1]) or _nth(c, src_ids, step[1])
            if sid is not None:
                set_ts = ", updated_at = clock_timestamp()" if "updated_at" in _columns(c, table) else ""
                c.execute(f"""UPDATE {table} SET "Chofer" = '-'{set_ts} WHERE id = %s""", (sid,))
        elif kind == "add":
            _insert(c, table, step[1])
        elif kind == "delete":
            sid = _nth(c, src_ids, step[1])
            if sid is not None:
                c.execute(f"DELETE FROM {table} WHERE id = %s", (sid,))
        elif kind == "desk":
            key = _nth(c, active, step[1])
            if key is not None:
                c.execute(f'UPDATE {spec.target} SET "Chofer" = %s WHERE sync_key = %s', (step[2], key))
                model.desk[key] = step[2]
        elif kind == "desk_then_source":
            key, sid = _nth(c, active, step[1]), _nth(c, synced, step[1])
            if key is not None and sid is not None:
                c.execute(f"""UPDATE {spec.target} SET "Chofer" = 'DESK-3' WHERE sync_key = %s""", (key,))
                model.desk[key] = "DESK-3"
                change = """ "Chofer" = '-'""" if step[2] == "empty" else """ "Cliente" = 'Otro'"""
                set_ts = ", updated_at = clock_timestamp()" if "updated_at" in _columns(c, table) else ""
                c.execute(f"UPDATE {table} SET{change}{set_ts} WHERE id = %s", (sid,))
        elif kind == "exits":
            if step[1]:
                known = [r[0] for r in c.execute(f"SELECT sync_key FROM {spec.target} ORDER BY sync_key LIMIT 3")]
                (data / "salidas.csv").write_text(
                    "orden_ing,suborden,renglon,contenedor,validada\n"
                    + "".join(f"1,1,{i},{k},2026-11-2{i} 10:00:00\n" for i, k in enumerate(known, 1)),
                    encoding="utf-8")
            else:
                (data / "salidas.csv").unlink(missing_ok=True)


def _columns(c, table: str) -> set[str]:
    return {r[0] for r in c.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s", (table,))}


# ---- the desk's field against the source's other fields, per field (issue 21 points 1, 2) ----------

def _run_while_the_desk_holds(c, db_url, cfg, table: str, key: str, field: str, value: str, mode: str):
    """A run while a desk transaction (a second, real connection) holds ``field`` = ``value``
    of ``key``'s target row uncommitted; it commits once the run waits on a row lock (or has
    finished without needing the row)."""
    import threading
    import time
    out = []
    with psycopg.connect(db_url) as desk:
        desk.execute(psycopg.sql.SQL("UPDATE {} SET {} = %s WHERE sync_key = %s").format(
            psycopg.sql.Identifier(TABLES[table].target), psycopg.sql.Identifier(field)), (value, key))
        t = threading.Thread(target=lambda: out.append(P.run_table(table, mode=mode, cfg=cfg)))
        t.start()
        deadline = time.monotonic() + 30
        while t.is_alive() and time.monotonic() < deadline:
            if c.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]:
                break
            time.sleep(0.01)
        desk.commit()
        t.join(60)
    assert out, "the run did not finish"
    return out[0]


field_steps = st.lists(st.one_of(
    st.tuples(st.just("run"), st.sampled_from(["full", "incremental"])),
    # the desk types its field on the i-th row
    st.tuples(st.just("desk"), st.integers(0, 4), st.sampled_from(["DESK-1", "DESK-2"])),
    # the source changes the other preserved field (or empties it), or a column nobody preserves
    st.tuples(st.just("source"), st.integers(0, 4), st.sampled_from(["SRC-1", "SRC-2", "-"])),
    st.tuples(st.just("source_cliente"), st.integers(0, 4), st.sampled_from(NAMES)),
    # the source changes the other field of a row, then a desk transaction holds its field's edit
    # of that row across a run, committed while the run waits on the row
    st.tuples(st.just("held"), st.integers(0, 4), st.sampled_from(["HELD-1", "HELD-2"]),
              st.sampled_from(["full", "incremental"])),
), min_size=2, max_size=8)


@settings(max_examples=16, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(table=st.sampled_from(["arribos", "pendiente_desconsolidar"]), desk_field=st.sampled_from(["Chofer", "Estado"]),
       n=st.integers(1, 5), plan=field_steps)
def test_each_preserved_field_is_the_desks_where_it_typed_it_last_else_the_sources(
        prop_env, db_url, table, desk_field, n, plan):
    """The desk edits one preserved field (``desk_field``) while the source changes the other
    one and ``Cliente``, interleaved with runs, some of them racing a desk transaction held
    across their merge. After every run that raced nothing, and after the source stops changing
    and one more run: the desk's field is the desk's value where it typed it, else the
    source's; the other preserved field and ``Cliente`` are the source's (per-field edit
    times; nothing a racing run left alone is lost); and a rerun writes nothing."""
    c, cfg, data = prop_env
    _reset(c, table)
    (data / "salidas.csv").unlink(missing_ok=True)
    spec = TABLES[table]
    other = "Estado" if desk_field == "Chofer" else "Chofer"
    stamp = ", updated_at = clock_timestamp()" if "updated_at" in _columns(c, table) else ""
    source: dict[str, dict] = {}  # key -> the source's values (as the target holds them)
    for i in range(n):
        key = _container(OWNERS[i % len(OWNERS)], i, good=True, style=0)
        row = {"Contenedor": key, "Cliente": NAMES[i % len(NAMES)], "Chofer": "SRC-C", "Estado": "SRC-E"}
        _insert(c, table, row)
        source[key] = {k: row[k] for k in ("Cliente", "Chofer", "Estado")}
    keys = sorted(source)
    ids = dict(c.execute(f'SELECT "Contenedor", id FROM {table}').fetchall())
    desk: dict[str, str] = {}

    def check(res) -> None:
        assert res.status == "ok", res.error
        got = {r[0]: dict(zip(("Cliente", "Chofer", "Estado"), r[1:])) for r in c.execute(
            f'SELECT sync_key, "Cliente", "Chofer", "Estado" FROM {spec.target} WHERE activo')}
        assert set(got) == set(keys)
        for key in keys:
            want = dict(source[key])
            if key in desk:
                want[desk_field] = desk[key]
            assert got[key] == want, (key, got[key], want)

    def change_source(key: str, column: str, value: str) -> None:
        c.execute(psycopg.sql.SQL(f"UPDATE {{}} SET {{}} = %s{stamp} WHERE id = %s").format(
            psycopg.sql.Identifier(table), psycopg.sql.Identifier(column)), (value, ids[key]))
        source[key][column] = None if value == "-" else value

    check(P.run_table(table, mode="full", cfg=cfg))
    for step in plan:
        kind = step[0]
        if kind == "run":
            check(P.run_table(table, mode=step[1], cfg=cfg))
        elif kind == "desk":
            key = keys[step[1] % n]
            c.execute(psycopg.sql.SQL("UPDATE {} SET {} = %s WHERE sync_key = %s").format(
                psycopg.sql.Identifier(spec.target), psycopg.sql.Identifier(desk_field)), (step[2], key))
            desk[key] = step[2]
        elif kind in ("source", "source_cliente"):
            change_source(keys[step[1] % n], other if kind == "source" else "Cliente", step[2])
        elif kind == "held":
            key = keys[step[1] % n]
            change_source(key, other, f"SRC-{step[2]}")
            res = _run_while_the_desk_holds(c, db_url, cfg, table, key, desk_field, step[2], step[3])
            assert res.status == "ok", res.error
            desk[key] = step[2]
    check(P.run_table(table, mode="incremental", cfg=cfg))  # the source stopped changing: one more run
    again = P.run_table(table, mode="incremental", cfg=cfg)
    assert again.status == "ok" and (again.counts["inserted"], again.counts["updated"]) == (0, 0), again.counts
