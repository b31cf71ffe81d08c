"""The direct path at scale: the source is read in chunks (one server-side cursor), staged in
the database, and merged in slices. The work per slice is constant whatever ran before it,
every source row is read exactly once across chunk boundaries, and neither the chunk size
nor the batch size changes what lands in the target.

Small slices and chunks come from patching ``STATEMENT_ROWS`` and ``database.chunk_rows`` to a
few dozen rows, so a table of 1,200 rows crosses many boundaries; the statements still run on
the real server."""
from __future__ import annotations

import psycopg
import pytest

from trafico_lib import pipeline as P
from trafico_lib.sample import create_source_tables

N = 1200  # rows in the source: 24 batches of 50


def _containers(n: int, start: int = 0) -> list[str]:
    from trafico_lib.rules.iso6346 import check_digit
    out = []
    for i in range(start, start + n):
        code = f"MSCU{i:06d}"
        out.append(f"{code}{check_digit(code)}")
    return out


@pytest.fixture
def source(conn):
    create_source_tables(conn)
    with conn.cursor() as cur, cur.copy('COPY arribos ("Fecha", "Contenedor", "Cliente", "Peso", "Chofer") '
                                        "FROM STDIN") as cp:
        for i, c in enumerate(_containers(N)):
            cp.write_row(("23/11/2026", c if i % 3 else f"{c[:4]}-{c[4:10]}-{c[10]}", f"Cliente {i % 7}",
                          f"{1000 + i},5", "" if i % 5 else f"Chofer {i}"))
    return conn


def _cfg(make_config, db_url, batch_size: int, chunk_rows: int = 50_000):
    return make_config({"sync_settings": {"arribos": {"batch_size": batch_size}},
                        "database": {"chunk_rows": chunk_rows}}, db_url=db_url)


@pytest.fixture
def small_slices(monkeypatch):
    from trafico_lib.stores.pg import merge
    monkeypatch.setattr(merge, "STATEMENT_ROWS", 50)


class StatementSpy:
    """Counts the statements the sync's own connections send to the real server.

    A spy, not a mock: every statement still runs on the real PostgreSQL; the counts are taken
    at the client because the embedded server has no pg_stat_statements.
    """

    def __init__(self, monkeypatch):
        self.sent: list[str] = []
        spy = self
        real_execute, real_copy = psycopg.Cursor.execute, psycopg.Cursor.copy

        def execute(cur, query, params=None, **kw):
            spy.sent.append(_text(query, cur))
            return real_execute(cur, query, params, **kw)

        def copy(cur, statement, params=None, **kw):
            spy.sent.append(_text(statement, cur))
            return real_copy(cur, statement, params, **kw)
        monkeypatch.setattr(psycopg.Cursor, "execute", execute)
        monkeypatch.setattr(psycopg.Cursor, "copy", copy)


def _text(query, cur) -> str:
    return query.as_string(cur) if hasattr(query, "as_string") else str(query)


def test_each_batch_sends_the_same_statements_and_no_ddl(source, make_config, db_url, monkeypatch, small_slices):
    cfg = _cfg(make_config, db_url, 50)
    spy = StatementSpy(monkeypatch)
    marks: list[int] = []
    res = P.run_table("arribos", mode="full", cfg=cfg, on_batch=lambda done, total: marks.append(len(spy.sent)))
    assert res.status == "ok" and res.counts["inserted"] == N
    assert len(marks) == N // 50
    per_batch = [b - a for a, b in zip(marks, marks[1:])]
    assert len(set(per_batch)) == 1, per_batch  # constant, whatever the target already holds
    assert per_batch[0] <= 8
    after_first = spy.sent[marks[0]:marks[-1]]
    ddl = [s for s in after_first if s.lstrip().upper().startswith(("CREATE", "DROP", "ALTER"))]
    assert ddl == []


def test_the_sync_holds_the_same_locks_after_many_batches(source, make_config, db_url, small_slices):
    """Temp tables re-created per batch piled up locks until 'out of shared memory'."""
    cfg = _cfg(make_config, db_url, 50)
    locks: list[int] = []
    with psycopg.connect(db_url, autocommit=True) as mon:
        def count(done, total):
            locks.append(mon.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                "WHERE a.datname = current_database() AND a.application_name = 'trafico' "
                "AND a.state <> 'idle'").fetchone()[0])
        assert P.run_table("arribos", mode="full", cfg=cfg, on_batch=count).status == "ok"
    assert len(locks) == N // 50 and locks[0] > 0
    assert max(locks) == min(locks), locks


def test_batch_size_changes_nothing_in_the_result(source, make_config, db_url, monkeypatch):
    """The same source synced with 50-row slices and 97-row chunks, and with 5,000-row batches
    in one chunk (a full run, desk edits and source edits, an incremental run) leaves the same
    target and the same recorded changes."""
    from trafico_lib.stores.pg import merge
    source.execute("CREATE TABLE arribos_as_loaded AS SELECT * FROM arribos")
    results = {}
    for batch_size, chunk_rows in ((50, 97), (5000, 50_000)):
        monkeypatch.setattr(merge, "STATEMENT_ROWS", batch_size)
        with psycopg.connect(db_url, autocommit=True) as c:
            c.execute("TRUNCATE traficov2_arribos, traficov2_sync_changes, traficov2_sync_log, "
                      "traficov2_sync_state, traficov2_sync_rejects, arribos")
            c.execute("INSERT INTO arribos SELECT * FROM arribos_as_loaded")
        cfg = _cfg(make_config, db_url, batch_size, chunk_rows)
        first = P.run_table("arribos", mode="full", cfg=cfg)
        with psycopg.connect(db_url, autocommit=True) as c:
            c.execute("""UPDATE traficov2_arribos SET "Chofer" = 'MESA' WHERE sync_key IN
                         (SELECT sync_key FROM traficov2_arribos ORDER BY sync_key LIMIT 30)""")
            c.execute("""UPDATE arribos SET "Cliente" = 'Cliente X', updated_at = now() WHERE id % 4 = 0""")
        second = P.run_table("arribos", mode="incremental", cfg=cfg)
        with psycopg.connect(db_url, autocommit=True) as c:
            rows = c.execute('SELECT sync_key, "Fecha", "Contenedor", "Cliente", "Peso", "Chofer", activo, '
                             "row_hash, source_preserved, validation_warnings FROM traficov2_arribos "
                             "ORDER BY sync_key").fetchall()
            changes = c.execute("SELECT sync_key, field, old, new FROM traficov2_sync_changes "
                                "ORDER BY 1, 2").fetchall()
        assert first.counts["inserted"] == N and second.counts["updated"] == N // 4
        results[batch_size] = (rows, changes, first.counts, second.counts)
    assert len(results[50][0]) == N and len(results[50][1]) == N // 4
    assert results[50] == results[5000]


def test_no_batch_statement_scans_the_target(source, make_config, db_url):
    """With many rows written earlier in the same transaction (statistics cannot know them),
    each slice's statements still reach the target through its key index."""
    from trafico_lib.stores.sql import merge as q
    cfg = _cfg(make_config, db_url, 50)
    ctx = P.start("arribos", mode="full", cfg=cfg)
    val = P.validate(ctx, P.normalize(ctx, P.extract(ctx)))
    P.stage(ctx, P.enrich(ctx, val), val)
    P.stage_remaining(ctx)
    spec, preserve, started, c = ctx.spec, ctx.preserve, P.source_time(ctx), ctx.staging.conn
    plans = {}
    try:
        with c.transaction(force_rollback=True):
            c.execute(q.create_merged(spec, preserve, started))
            # the rows "written before": 30,000 in the target, uncommitted, unknown to the statistics
            c.execute(f"INSERT INTO {spec.target} (sync_key, \"Contenedor\") "
                      "SELECT 'K' || g, 'K' || g FROM generate_series(1, 30000) g")
            c.execute(q.truncate_merged())
            for name, stmt, params in (("fill", q.fill_merged(spec, preserve, started, existing_only=True),
                                        {"lo": 1, "hi": 50}),
                                       ("merge", q.merge(spec), {"run_id": "x"}),
                                       ("refresh", q.refresh_metadata(spec), None),
                                       ("insert", q.insert_new(spec, preserve), {"lo": 51, "hi": 100})):
                plans[name] = "\n".join(r[0] for r in c.execute(psycopg.sql.SQL("EXPLAIN ") + stmt, params))
                c.execute(stmt, params)
    finally:
        ctx.close()
    for name, plan in plans.items():
        assert f"Seq Scan on {spec.target}" not in plan, (name, plan)
        assert "traficov2_arribos_sync_key_key" in plan or "traficov2_arribos_pkey" in plan, (name, plan)


def test_chunked_read_returns_every_source_row_exactly_once(source, make_config, db_url):
    """Chunks of 7 rows: every source id once, in order, ``_row`` continuing across chunks;
    rows changed, added or deleted by someone else while the chunks are read do not show
    (one snapshot), and the read is released after the last chunk."""
    cfg = _cfg(make_config, db_url, 50, chunk_rows=7)
    ctx = P.start("arribos", mode="full", cfg=cfg)
    ex = P.extract(ctx)
    assert len(ex.frame) == 7 and ex.more
    with psycopg.connect(db_url, autocommit=True) as other:  # while the first chunk is being looked at
        other.execute("""UPDATE arribos SET "Contenedor" = 'CHANGED', "Cliente" = 'changed' WHERE id = 500""")
        other.execute("DELETE FROM arribos WHERE id = 900")
        other.execute("""INSERT INTO arribos ("Contenedor") VALUES ('NEW')""")
    chunks = list(ex.chunks())
    ctx.close()
    ids = [int(i) for c in chunks for i in c["_source_id"]]
    assert ids == list(range(1, N + 1))
    assert [len(c) for c in chunks[:-1]] == [7] * (len(chunks) - 1) and len(chunks) == -(-N // 7)
    rows = [r for c in chunks for r in c["_row"]]
    assert rows == list(range(1, N + 1))
    row_500 = next(c for c in chunks if "500" in set(c["_source_id"])).set_index("_source_id").loc["500"]
    assert row_500["Contenedor"] != "CHANGED" and ex.read == N
    with psycopg.connect(db_url, autocommit=True) as mon:  # the cursor's connection is gone
        assert mon.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'trafico' "
                           "AND state LIKE 'idle in transaction%'").fetchone()[0] == 0


def test_duplicate_keys_across_chunks_latest_wins(source, make_config, db_url):
    """A key repeated in different chunks: the later source row wins, exactly as when the whole
    source fits one chunk, and the superseded row is named (by source id) in the log row."""
    dup_of = {5: 12, 30: 31, 700: 1190}  # (earlier id, later id with the same container)
    for early, late in dup_of.items():
        source.execute('UPDATE arribos SET "Contenedor" = (SELECT "Contenedor" FROM arribos WHERE id = %s), '
                       '"Cliente" = %s WHERE id = %s', (early, f"late {late}", late))
    outcomes = {}
    for chunk_rows in (10, 50_000):
        source.execute("TRUNCATE traficov2_arribos, traficov2_sync_log, traficov2_sync_state, traficov2_sync_changes")
        res = P.run_table("arribos", mode="full", cfg=_cfg(make_config, db_url, 50, chunk_rows=chunk_rows))
        assert res.status == "ok", res.error
        rows = source.execute('SELECT sync_key, source_id, "Cliente" FROM traficov2_arribos ORDER BY 1').fetchall()
        log = source.execute("SELECT details FROM traficov2_sync_log").fetchone()[0]
        outcomes[chunk_rows] = (rows, res.counts, sorted(d["source_id"] for d in log["duplicates"]))
    rows, counts, dups = outcomes[10]
    assert counts["duplicates"] == 3 and counts["inserted"] == N - 3
    assert dups == sorted(str(e) for e in dup_of)
    by_source = {r[1]: r[2] for r in rows}
    assert all(by_source[str(late)] == f"late {late}" for late in dup_of.values())
    assert not set(str(e) for e in dup_of) & set(by_source)
    assert outcomes[10] == outcomes[50_000]


def test_refused_rows_among_duplicates_and_updates_in_small_slices(source, make_config, db_url, small_slices):
    """Rows the database refuses (a CHECK on Peso), on the update path and on the insert path,
    in slices with gaps (rows a later duplicate replaced are dropped from staging): each refused
    row becomes a reject with the database's reason, every other row of its slice is written,
    and the counts add up to the rows staged."""
    cfg = _cfg(make_config, db_url, 50, chunk_rows=97)
    assert P.run_table("arribos", mode="full", cfg=cfg).counts["inserted"] == N
    source.execute("""UPDATE arribos SET "Peso" = '-5', updated_at = now() WHERE id IN (101, 502, 903)""")
    source.execute("""UPDATE arribos SET "Cliente" = 'Cambiado', updated_at = now() WHERE id % 10 = 0""")
    new = _containers(3, start=N)
    # new[2] twice, in different chunks (about 125 rows are read, 97 per chunk): the later row wins
    source.execute("""UPDATE arribos SET "Contenedor" = %s, "Cliente" = 'primero', updated_at = now()
                      WHERE id = 20""", (new[2],))
    source.cursor().executemany('INSERT INTO arribos ("Contenedor", "Cliente", "Peso", updated_at) '
                                'VALUES (%s, %s, %s, now())',
                                [(new[0], "nuevo", "-7"), (new[1], "nuevo", "10"), (new[2], "segundo", "12")])
    res = P.run_table("arribos", mode="incremental", cfg=cfg)
    assert res.status == "ok", res.error
    rejects = source.execute("SELECT sync_key, reasons FROM traficov2_sync_rejects").fetchall()
    bad_keys = {r[0] for r in source.execute(
        "SELECT t.sync_key FROM traficov2_arribos t JOIN arribos a ON a.id::text = t.source_id "
        "WHERE a.id IN (101, 502, 903)").fetchall()}
    assert {r[0] for r in rejects} == bad_keys | {new[0]}
    assert all(any("check constraint" in x for x in r[1]) for r in rejects)
    changed = N // 10 - 1  # id 20 moved to new[2]
    assert res.counts["updated"] == changed and res.counts["inserted"] == 2 and res.counts["duplicates"] == 1
    assert res.counts["rejected"] == 4
    chunks = source.execute("SELECT (details->>'chunks')::int FROM traficov2_sync_log ORDER BY id DESC LIMIT 1")
    assert chunks.fetchone()[0] >= 2
    got = dict(source.execute('SELECT "Contenedor", "Cliente" FROM traficov2_arribos WHERE "Contenedor" = ANY(%s)',
                              (new,)).fetchall())
    assert got == {new[1]: "nuevo", new[2]: "segundo"}
    assert source.execute('SELECT count(*) FROM traficov2_arribos WHERE "Peso" < 0').fetchone()[0] == 0
    assert source.execute("""SELECT count(*) FROM traficov2_arribos WHERE "Cliente" = 'Cambiado'""").fetchone()[0] \
        == changed


def test_a_first_load_inserts_without_lookups_and_still_rejects_refused_rows(source, make_config, db_url,
                                                                            small_slices, monkeypatch):
    """Into an empty target every staged row is new: the slices insert without looking each
    key up in the target, and nothing is deactivated. A row the database refuses (the CHECK on
    Peso) still becomes a reject with its reason while the rest of its slice lands. Once the
    target holds rows, a full run merges again: the refused rows go through the lookup, and a
    row gone from the source is deactivated."""
    source.execute("""UPDATE arribos SET "Peso" = '-5' WHERE id IN (7, 508)""")
    spy = StatementSpy(monkeypatch)
    cfg = _cfg(make_config, db_url, 50, chunk_rows=97)
    res = P.run_table("arribos", mode="full", cfg=cfg)
    assert res.status == "ok", res.error
    assert (res.counts["inserted"], res.counts["rejected"], res.counts["deactivated"]) == (N - 2, 2, 0)
    inserts = [s for s in spy.sent if s.startswith('INSERT INTO "traficov2_arribos"')]
    assert len(inserts) >= N // 50 and not any("LATERAL" in s for s in inserts)
    assert not any(s.startswith('INSERT INTO "_trafico_merged"') for s in spy.sent)
    assert source.execute("SELECT count(*) FROM traficov2_arribos").fetchone()[0] == N - 2
    reasons = source.execute("SELECT reasons FROM traficov2_sync_rejects").fetchall()
    assert len(reasons) == 2 and all(any("check constraint" in x for x in r[0]) for r in reasons)

    spy.sent.clear()
    source.execute("DELETE FROM arribos WHERE id = 3")
    res = P.run_table("arribos", mode="full", cfg=cfg)
    assert res.status == "ok", res.error
    assert (res.counts["inserted"], res.counts["rejected"], res.counts["deactivated"]) == (0, 2, 1)
    assert any(s.startswith('INSERT INTO "traficov2_arribos"') and "LATERAL" in s for s in spy.sent)
    assert source.execute("SELECT count(*) FROM traficov2_arribos WHERE activo").fetchone()[0] == N - 3
