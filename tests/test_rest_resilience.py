"""A sync over Supabase's REST API (a real PostgREST) when the table is larger than the read
cap, when the gateway fails now and then, and when a batch runs into the statement timeout."""
from __future__ import annotations

import psycopg

import rest_server as harness
from trafico_lib import pipeline as P
from trafico_lib.rules.iso6346 import check_digit
from trafico_lib.sample import create_source_tables
from trafico_lib.stores.rest.store import RestStore

N = 2500


def _containers(n: int) -> list[str]:
    return [f"MSCU{i:06d}{check_digit(f'MSCU{i:06d}')}" for i in range(n)]


def _project(url, tmp_path, *, slow: int = 0, timeout: str | None = None):
    def sources(c):
        create_source_tables(c)
        with c.cursor() as cur, cur.copy('COPY arribos ("Fecha", "Contenedor", "Cliente", "Peso") FROM STDIN') as cp:
            for i, k in enumerate(_containers(N)):
                cp.write_row(("23/11/2026", k, "SLOW" if i < slow else f"Cliente {i % 7}", f"{1000 + i},5"))
        if slow:  # each SLOW row takes 0.3 s to insert: a batch of several runs into the timeout
            c.execute("""CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$
                         BEGIN IF NEW."Cliente" = 'SLOW' THEN PERFORM pg_sleep(0.3); END IF; RETURN NEW; END $$""")
            c.execute("CREATE TRIGGER slow BEFORE INSERT ON traficov2_arribos FOR EACH ROW EXECUTE FUNCTION slow_row()")
        if timeout:
            c.execute(f"ALTER ROLE service_role SET statement_timeout = '{timeout}'")
    return harness.supabase_project(url, tmp_path, prepare=sources)


def test_a_table_larger_than_the_cap_through_a_gateway_that_fails_now_and_then(empty_db_url, tmp_path, make_config):
    cfg = make_config({"sync_settings": {"arribos": {"batch_size": 400}}})
    with _project(empty_db_url, tmp_path) as server:
        store = RestStore(server.url, server.service_key)
        server.proxy.fail_next(503, 502)  # the first reads
        res = P.run_table("arribos", mode="full", cfg=cfg, store=store)
        assert res.status == "ok", res.error
        assert res.counts["read"] == N and res.counts["inserted"] == N
        server.proxy.fail_next(504)
        before = len(server.proxy.requests)
        again = P.run_table("arribos", mode="full", cfg=cfg, store=store)
        assert again.status == "ok" and again.counts["inserted"] == again.counts["updated"] == 0
        assert again.counts["unchanged"] == N and again.counts["read"] == N
        sent = [r for r in server.proxy.requests[before:] if r[1].startswith("/rpc/traficov2_merge_")]
        assert sent == []  # every row set aside as last written: none sent back to be merged
    with psycopg.connect(empty_db_url) as c:
        assert c.execute("SELECT count(*) FROM traficov2_arribos WHERE activo").fetchone()[0] == N


def test_a_batch_that_hits_the_statement_timeout_is_halved(empty_db_url, tmp_path, make_config):
    """Supabase gives each API role a statement timeout; a batch that runs into it (57014) is
    split in halves until the parts fit, and every row lands."""
    cfg = make_config({"sync_settings": {"arribos": {"batch_size": 8}}})
    try:
        with _project(empty_db_url, tmp_path, slow=8, timeout="1s") as server:
            res = P.run_table("arribos", mode="full", cfg=cfg, store=RestStore(server.url, server.service_key))
            assert res.status == "ok", res.error
            assert res.counts["inserted"] == N and res.counts["rejected"] == 0
            merges = [r for r in server.proxy.requests if r[1].startswith("/rpc/traficov2_merge_arribos")]
            batches = -(-N // 8)
            # the first batch (8 slow rows, 2.4 s) and its halves (1.2 s) ran into the timeout:
            # 1 + 2 failed calls, then 4 quarters that fit
            assert len(merges) == batches + 6, len(merges)
    finally:
        with psycopg.connect(empty_db_url, autocommit=True) as c:
            c.execute("ALTER ROLE service_role RESET statement_timeout")
    with psycopg.connect(empty_db_url) as c:
        assert c.execute("""SELECT count(*) FROM traficov2_arribos WHERE "Cliente" = 'SLOW'""").fetchone()[0] == 8


def test_two_runs_of_a_table_at_once_over_rest(empty_db_url, tmp_path, make_config):
    """Two runs of one table started together: the lease lets one write; the other writes
    nothing and says the table is held (or, started late, finds nothing left to do). The
    target holds each row once."""
    from concurrent.futures import ThreadPoolExecutor
    cfg = make_config({"sync_settings": {"arribos": {"batch_size": 50}}})
    with _project(empty_db_url, tmp_path) as server:
        stores = [RestStore(server.url, server.service_key) for _ in range(2)]
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda s: P.run_table("arribos", mode="full", cfg=cfg, store=s), stores))
    statuses = sorted(r.status for r in results)
    assert statuses in (["locked", "ok"], ["ok", "ok"]), [(r.status, r.error) for r in results]
    assert sum(r.counts.get("inserted", 0) for r in results if r.status == "ok") == N
    locked = [r for r in results if r.status == "locked"]
    assert all("holds the table" in r.error or "another run" in r.error for r in locked)
    with psycopg.connect(empty_db_url) as c:
        assert c.execute("SELECT count(*), count(DISTINCT sync_key) FROM traficov2_arribos").fetchone() == (N, N)


def test_many_rejected_rows_are_recorded_in_a_few_calls_and_once_a_day(empty_db_url, tmp_path, make_config):
    """1,100 rows without a container number: recorded in chunks (3 calls, not 1,100), every
    one of them; the next run finds the same problems and records none again."""
    n = 1100
    cfg = make_config({"sync_settings": {"pendiente_desconsolidar": {"batch_size": 500}}})

    def sources(c):
        create_source_tables(c)
        with c.cursor() as cur:
            cur.executemany('INSERT INTO pendiente_desconsolidar ("Contenedor", "Cliente") VALUES (%s, %s)',
                            [("-", f"Cliente {i}") for i in range(n)])
    with harness.supabase_project(empty_db_url, tmp_path, prepare=sources) as server:
        store = RestStore(server.url, server.service_key)
        res = P.run_table("pendiente_desconsolidar", mode="full", cfg=cfg, store=store)
        assert res.status == "ok", res.error
        assert res.counts["rejected"] == n and res.counts["inserted"] == 0
        calls = [r for r in server.proxy.requests if "record_reject" in r[1]]
        assert calls == [("POST", "/rpc/traficov2_record_rejects")] * 3
        again = P.run_table("pendiente_desconsolidar", mode="full", cfg=cfg, store=store)
        assert again.counts["rejected"] == n
    with psycopg.connect(empty_db_url) as c:
        rows = c.execute("SELECT count(*), count(DISTINCT raw_row->>'Cliente') FROM traficov2_sync_rejects").fetchone()
    assert rows == (n, n)
