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


# ---- typed columns over runs (issue 21: live data) ----------------------------------------------
#
# Every typed column of every table, the expo slots included, gets missing values, placeholders,
# float-looking integers, unreadable text, and quantities that shrink and grow from run to run.
# Once the source stops changing and one more run is made: every run exited ok, every column the
# desk does not own equals the source's value as typed, nothing is lost (every source row is in
# its target or in the rejects), and a rerun writes nothing.

TYPED_VALUES = {
    "date": ["01/12/2026", "2026-12-02", "31/12", "-", "", None, "99/99/9999", "15-11-26 10:30"],
    "time": ["0700 ", "8:00 ", "14:30", "-", None, "25:99", "2026-11-28 14:32:00"],
    "numeric": ["1429.0", "1.429,5", "12", "0.5", "-", None, "abc", "7,25", "3.0"],
    "integer": ["1", "2.0", "3,0", "0", "", None, "-", "7", "12", "abc", "-5", "1e3", "4.0"],
}
TEXT_VALUES = ["Cliente Uno", "Ñandú SRL", "-", None, "  espacios  "]


def _typed_key(table: str, i: int) -> str:
    spec = TABLES[table]
    if spec.slots:
        return f"BKG{i:04d}"
    if "Operacion" in spec.key:
        return f"4{i:04d}-1-1"
    base = f"MSCU{i:06d}"
    return base + str(check_digit(base))


typed_steps = st.lists(st.one_of(
    st.tuples(st.just("set"), st.integers(0, 5), st.integers(0, 20), st.integers(0, 20)),
    st.tuples(st.just("run"), st.sampled_from(["full", "incremental"])),
    st.tuples(st.just("delete"), st.integers(0, 5)),
    st.tuples(st.just("add"), st.integers(6, 8)),
), min_size=1, max_size=6)


def _typed_row(table: str, i: int, seed: int) -> dict:
    spec = TABLES[table]
    row = {}
    for k, c in enumerate(spec.columns):
        if c.name in spec.key:
            row[c.name] = _typed_key(table, i)
        elif spec.slots and c.name == spec.slots.item:
            row[c.name] = None  # a pending booking row: its quantity is its slots
        elif c.type == "text":
            row[c.name] = TEXT_VALUES[(seed + k) % len(TEXT_VALUES)]
        else:
            pool = TYPED_VALUES[c.type]
            row[c.name] = pool[(seed * 7 + k) % len(pool)]
    return row


def _typed_equal(want, got) -> bool:
    from decimal import Decimal

    import pandas as pd
    if want is None or want is pd.NA or (isinstance(want, float) and want != want):
        return got is None
    if got is None:
        return False
    if isinstance(got, Decimal):
        return round(float(want), 3) == float(got)
    if isinstance(got, int) and not isinstance(got, bool):
        return int(want) == got
    return want == got


# every integer column of every row grows, shrinks, empties and comes back, a run after each
QUANTITY_WAVES = ["3", "1.0", "", "5", "2,0", "-", "4"]


@pytest.mark.parametrize("table", list(TABLES))
@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seeds=st.lists(st.integers(0, 30), min_size=6, max_size=6), plan=typed_steps)
def test_typed_columns_with_missing_float_looking_and_changing_values_converge_to_the_source(
        prop_env, table, seeds, plan):
    import pandas as pd

    from trafico_lib.normalize import normalize_frame
    c, cfg, data = prop_env
    _reset(c, table)
    (data / "salidas.csv").unlink(missing_ok=True)
    spec = TABLES[table]
    typed = [col for col in spec.columns if col.type != "text"]
    for i, seed in enumerate(seeds):
        _insert(c, table, _typed_row(table, i, seed))
    stamp = ", updated_at = clock_timestamp()" if "updated_at" in _columns(c, table) else ""
    integers = [col.name for col in typed if col.type == "integer"]
    waves = [("wave", v) for v in QUANTITY_WAVES] if integers else []
    for step in [("run", "full"), *waves, *plan]:
        if step[0] == "wave":  # every row's integers take one value, then an incremental run
            c.execute(psycopg.sql.SQL("UPDATE {} SET {}{}").format(
                psycopg.sql.Identifier(table), psycopg.sql.SQL(", ").join(
                    psycopg.sql.SQL("{} = %s").format(psycopg.sql.Identifier(n)) for n in integers),
                psycopg.sql.SQL(stamp)), [step[1]] * len(integers))
            step = ("run", "incremental")
        if step[0] == "run":
            res = P.run_table(table, mode=step[1], cfg=cfg)
            assert res.status == "ok", res.error
        elif step[0] == "set" and typed:  # one typed column of one row takes another value
            col = typed[step[2] % len(typed)]
            pool = TYPED_VALUES[col.type]
            c.execute(psycopg.sql.SQL("UPDATE {} SET {} = %s{} WHERE {} = %s").format(
                psycopg.sql.Identifier(table), psycopg.sql.Identifier(col.name), psycopg.sql.SQL(stamp),
                psycopg.sql.Identifier(spec.key[0])), (pool[step[3] % len(pool)], _typed_key(table, step[1])))
        elif step[0] == "delete":
            c.execute(psycopg.sql.SQL("DELETE FROM {} WHERE {} = %s").format(
                psycopg.sql.Identifier(table), psycopg.sql.Identifier(spec.key[0])), (_typed_key(table, step[1]),))
        elif step[0] == "add":
            _insert(c, table, _typed_row(table, step[1], step[1]))
    # the source stops changing; one more run, then a rerun that must write nothing
    last = P.run_table(table, mode="full", cfg=cfg, allow_mass_deactivation=True)
    assert last.status == "ok", last.error
    again = P.run_table(table, mode="full", cfg=cfg)
    assert again.status == "ok" and (again.counts["inserted"], again.counts["updated"]) == (0, 0), again.counts

    cols = [col.name for col in spec.columns]
    raw = pd.DataFrame(c.execute(psycopg.sql.SQL("SELECT id::text, {} FROM {} ORDER BY id").format(
        psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, cols)), psycopg.sql.Identifier(table))).fetchall(),
        columns=["_source_id", *cols], dtype=object)
    norm = normalize_frame(raw, spec, res_date(last)).frame
    rejected = {r[0] for r in c.execute(  # by validation (_source_id) or by the database (source_id)
        "SELECT coalesce(raw_row->>'_source_id', raw_row->>'source_id') FROM traficov2_sync_rejects")}
    slot_cols = [spec.slots.sequence, spec.slots.quantity] if spec.slots else []
    compared = [col.name for col in spec.columns if col.name not in P.start(table, cfg=cfg).preserve
                and col.name not in spec.key and col.name not in slot_cols]
    target_cols = ["sync_key", *compared, *slot_cols]
    got = pd.DataFrame(c.execute(psycopg.sql.SQL("SELECT {} FROM {} WHERE activo").format(
        psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, target_cols)),
        psycopg.sql.Identifier(spec.target))).fetchall(), columns=target_cols, dtype=object)
    for _, row in norm.iterrows():
        key = build_sync_key(row.to_frame().T, spec).iloc[0]
        if spec.slots:
            slots = got[got["sync_key"].str.rsplit("|", n=1).str[0] == key]
            quantity = row[spec.slots.quantity]
            demand = 1 if pd.isna(quantity) else int(quantity)
            per_slot = 0 if demand == 0 else 1  # Cantidad 0: one slot standing for it, Cantidad 0 kept
            demand = max(demand, 1)
            if row["_source_id"] in rejected and len(slots) != demand:
                continue  # a rejected booking row keeps its booking's slots as they were
            assert len(slots) == demand, (key, demand, slots)
            assert (slots[spec.slots.quantity] == per_slot).all() and sorted(slots[spec.slots.sequence]) == list(
                range(1, demand + 1))
            found = slots
        else:
            found = got[got["sync_key"] == key]
            if not len(found):
                assert row["_source_id"] in rejected, (key, "neither in the target nor rejected")
                continue
        for col in compared:
            for value in found[col]:
                assert _typed_equal(row[col], value), (key, col, row[col], value)


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
