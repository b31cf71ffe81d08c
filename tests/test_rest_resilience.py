"""A sync over Supabase's REST API (a real PostgREST) when the table is larger than the read
cap, when the gateway fails now and then, and when a batch runs into the statement timeout."""
from __future__ import annotations

import psycopg
import pytest

import rest_server as harness
from trafico_lib import pipeline as P
from trafico_lib.cli.output import format_summary
from trafico_lib.rules.iso6346 import check_digit
from trafico_lib.sample import create_source_tables
from trafico_lib.stores.rest.store import RestStore

N = 2500


def _containers(n: int) -> list[str]:
    return [f"MSCU{i:06d}{check_digit(f'MSCU{i:06d}')}" for i in range(n)]


def _project(url, tmp_path, *, n: int = N, slow: int = 0, slow_seconds: float = 0.3, timeout: str | None = None):
    def sources(c):
        create_source_tables(c)
        with c.cursor() as cur, cur.copy('COPY arribos ("Fecha", "Contenedor", "Cliente", "Peso") FROM STDIN') as cp:
            for i, k in enumerate(_containers(n)):
                cp.write_row(("23/11/2026", k, "SLOW" if i < slow else f"Cliente {i % 7}", f"{1000 + i},5"))
        if slow:  # each SLOW row takes slow_seconds to insert: a batch of several runs into the timeout
            c.execute(f"""CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$
                          BEGIN IF NEW."Cliente" = 'SLOW' THEN PERFORM pg_sleep({float(slow_seconds)});
                          END IF; RETURN NEW; END $$""")
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
        again = P.run_table("arribos", mode="full", cfg=cfg, store=store, skip_unchanged=False)  # the read path
        assert again.status == "ok" and again.counts["inserted"] == again.counts["updated"] == 0
        assert again.counts["unchanged"] == N and again.counts["read"] == N
        sent = [r for r in server.proxy.requests[before:] if r[1].startswith("/rpc/traficov2_merge_")]
        assert sent == []  # every row set aside as last written: none sent back to be merged
    with psycopg.connect(empty_db_url) as c:
        assert c.execute("SELECT count(*) FROM traficov2_arribos WHERE activo").fetchone()[0] == N


def test_a_batch_that_hits_the_statement_timeout_is_halved(empty_db_url, tmp_path, make_config):
    """Supabase gives each API role a statement timeout; a batch that runs into it (57014) is
    split in halves until the parts fit, and every row lands. The role's timeout is short
    (0.7 s) and the table small (40 rows, 5 batches): the halving is the same as at 2,500 rows,
    without waiting on 300 merge calls."""
    n = 40
    cfg = make_config({"sync_settings": {"arribos": {"batch_size": 8}}})
    try:
        with _project(empty_db_url, tmp_path, n=n, slow=8, slow_seconds=0.2, timeout="700ms") as server:
            res = P.run_table("arribos", mode="full", cfg=cfg, store=RestStore(server.url, server.service_key))
            assert res.status == "ok", res.error
            assert res.counts["inserted"] == n and res.counts["rejected"] == 0
            merges = [r for r in server.proxy.requests if r[1].startswith("/rpc/traficov2_merge_arribos")]
            batches = -(-n // 8)
            # the first batch (8 slow rows, 1.6 s) and its halves (0.8 s) ran into the timeout:
            # 1 + 2 failed calls, then 4 quarters (0.4 s) that fit
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
        again = P.run_table("pendiente_desconsolidar", mode="full", cfg=cfg, store=store, skip_unchanged=False)
        assert again.counts["rejected"] == n
    with psycopg.connect(empty_db_url) as c:
        rows = c.execute("SELECT count(*), count(DISTINCT raw_row->>'Cliente') FROM traficov2_sync_rejects").fetchone()
    assert rows == (n, n)


def _thirty_new_and_eighty_changed(url, tmp_path):
    """A project whose arribos holds 90 rows to sync first; then (:func:`_change_them`) 80 of
    them change, 10 leave and 30 are new: the next full run inserts 30, updates 80 and
    deactivates 10."""
    def sources(c):
        create_source_tables(c)
        c.cursor().executemany('INSERT INTO arribos ("Fecha", "Contenedor", "Cliente") VALUES (%s, %s, %s)',
                               [("23/11/2026", k, "Antes") for k in _containers(90)])
    return harness.supabase_project(url, tmp_path, prepare=sources)


def _change_them(url):
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DELETE FROM arribos WHERE id > 80")
        c.execute("""UPDATE arribos SET "Cliente" = 'Después', updated_at = now()""")
        c.cursor().executemany('INSERT INTO arribos ("Fecha", "Contenedor", "Cliente") VALUES (%s, %s, %s)',
                               [("23/11/2026", k, "Nuevo") for k in _containers(120)[90:]])


def _fail_log_inserts(proxy, *statuses, after=False):
    """The next log inserts answered with ``statuses``, however the store sends them (the
    table's endpoint, or the function that records the row once)."""
    for path in ("/traficov2_sync_log", "/rpc/traficov2_record_log"):
        proxy.fail_path(path, *statuses, after=after)


def _log_counts(url) -> list[dict]:
    with psycopg.connect(url) as c:
        return [r[0]["counts"] for r in c.execute(
            "SELECT details FROM traficov2_sync_log WHERE operation = 'SYNC' ORDER BY id").fetchall()]


def test_a_503_on_the_sync_log_insert_keeps_the_runs_counts(empty_db_url, tmp_path, make_config):
    """Issue 21 point 10: the gateway answers 503 to the log insert (once before PostgREST sees
    it, once after PostgREST committed it): the insert alone is asked again, not the run, and
    the one log row and the run's result say what the run wrote (30 inserted, 80 updated, 10
    deactivated)."""
    cfg = make_config({"sync_settings": {"arribos": {"batch_size": 25}}})
    with _thirty_new_and_eighty_changed(empty_db_url, tmp_path) as server:
        store = RestStore(server.url, server.service_key)
        assert P.run_table("arribos", mode="full", cfg=cfg, store=store).counts["inserted"] == 90
        _change_them(empty_db_url)
        _fail_log_inserts(server.proxy, 503)
        _fail_log_inserts(server.proxy, 503, after=True)
        res = P.run_table("arribos", mode="full", cfg=cfg, store=store)
        assert res.status == "ok", res.error
        counts = res.counts
        assert (counts["inserted"], counts["updated"], counts["deactivated"], res.attempts) == (30, 80, 10, 1)
        assert "arribos: Inserted 30, Updated 80, Errors 0" in format_summary([res.to_dict()])  # the CLI's
        logged = [r for r in server.proxy.requests if r[1].startswith("/rpc/traficov2_record_log")]
        assert len(logged) == 3  # the first run's, then this run's twice (once refused before PostgREST)
    logged = [(c["inserted"], c["updated"], c["deactivated"]) for c in _log_counts(empty_db_url)]
    assert logged == [(90, 0, 0), (30, 80, 10)]
    with psycopg.connect(empty_db_url) as c:
        assert c.execute("""SELECT count(*) FILTER (WHERE "Cliente" = 'Después'), count(*) FILTER
                            (WHERE "Cliente" = 'Nuevo'), count(*) FILTER (WHERE NOT activo)
                            FROM traficov2_arribos""").fetchone() == (80, 30, 10)


def test_a_run_retried_after_its_writes_committed_logs_what_it_wrote(empty_db_url, tmp_path, make_config):
    """Issue 21 point 10, the gateway down for longer than the log insert's own retries: the
    run is tried again, finds its rows written (each batch committed on its own), and its log
    row and result still count them: 30 inserted, 80 updated, 10 deactivated, as written by the
    first attempt."""
    cfg = make_config({"sync_settings": {"arribos": {"batch_size": 25}}})
    with _thirty_new_and_eighty_changed(empty_db_url, tmp_path) as server:
        store = RestStore(server.url, server.service_key)
        P.run_table("arribos", mode="full", cfg=cfg, store=store)
        _change_them(empty_db_url)
        _fail_log_inserts(server.proxy, *[503] * store.client.attempts)
        res = P.run_table("arribos", mode="full", cfg=cfg, store=store)
        assert res.status == "ok", res.error
        assert res.attempts == 2  # the run itself was tried again
        counts = res.counts
        assert (counts["inserted"], counts["updated"], counts["deactivated"], counts["unchanged"]) == (30, 80, 10, 0)
        assert "arribos: Inserted 30, Updated 80, Errors 0" in format_summary([res.to_dict()])  # the CLI's
        assert store.written == {}  # the run recorded: nothing left to carry into another run
    logged = [(c["inserted"], c["updated"], c["deactivated"], c["unchanged"]) for c in _log_counts(empty_db_url)]
    assert logged == [(90, 0, 0, 0), (30, 80, 10, 0)]


def test_direct_path_a_failed_log_insert_takes_the_runs_writes_with_it(db_url, make_config):
    """Point 10's analogue on the direct path, which has none: the merge, the log row and the
    state commit in one transaction, so a log insert that fails (a serialization failure,
    transient) rolls the whole run back, and the retry writes, and logs, everything again."""
    with psycopg.connect(db_url, autocommit=True) as c:
        create_source_tables(c)
        c.cursor().executemany('INSERT INTO arribos ("Fecha", "Contenedor", "Cliente") VALUES (%s, %s, %s)',
                               [("23/11/2026", k, "Antes") for k in _containers(90)])
    cfg = make_config({"sync_settings": {"arribos": {"batch_size": 25}}}, db_url=db_url)
    assert P.run_table("arribos", mode="full", cfg=cfg).counts["inserted"] == 90
    _change_them(db_url)
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("CREATE SEQUENCE log_attempts")
        c.execute("""CREATE FUNCTION fail_first_log() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN IF nextval('log_attempts') = 1 THEN
                       RAISE EXCEPTION 'injected' USING ERRCODE = '40001'; END IF; RETURN NEW; END $$""")
        c.execute("CREATE TRIGGER fail_first_log BEFORE INSERT ON traficov2_sync_log "
                  "FOR EACH ROW EXECUTE FUNCTION fail_first_log()")
    res = P.run_table("arribos", mode="full", cfg=cfg)
    assert res.status == "ok" and res.attempts == 2, res.error
    assert (res.counts["inserted"], res.counts["updated"], res.counts["deactivated"]) == (30, 80, 10)
    logged = [(c["inserted"], c["updated"], c["deactivated"]) for c in _log_counts(db_url)]
    assert logged == [(90, 0, 0), (30, 80, 10)]


def test_a_rest_run_that_fails_after_a_batch_committed_logs_what_it_wrote(empty_db_url, tmp_path, make_config):
    """The gateway fails every merge call after the first, past every retry: the run fails, and
    its ERROR row counts the batch that committed (the first 25 of the 80 changed rows)."""
    cfg = make_config({"sync_settings": {"arribos": {"batch_size": 25, "retry_attempts": 2}}})
    with _thirty_new_and_eighty_changed(empty_db_url, tmp_path) as server:
        store = RestStore(server.url, server.service_key)
        P.run_table("arribos", mode="full", cfg=cfg, store=store)
        _change_them(empty_db_url)
        server.proxy.fail_path("/rpc/traficov2_merge_arribos", 0, *[503] * (2 * store.client.attempts))
        res = P.run_table("arribos", mode="full", cfg=cfg, store=store)
        assert res.status == "error" and "503" in res.error
    with psycopg.connect(empty_db_url) as c:
        error, = c.execute("SELECT details FROM traficov2_sync_log WHERE operation = 'ERROR'").fetchone()
        written = c.execute("""SELECT count(*) FROM traficov2_arribos WHERE "Cliente" = 'Después'""").fetchone()[0]
    assert written == 25 and error["counts"] == {"inserted": 0, "updated": 25, "deactivated": 0}


def test_a_503_after_a_merge_call_committed_still_counts_its_rows(empty_db_url, tmp_path, make_config):
    """Issue 21 point 10, on the merge itself: the gateway answers 503 to a merge call after
    PostgREST committed it (twice, on two batches). The call is asked again and answered from
    its receipt (``traficov2_sync_calls``), not merged again, which would find its rows written
    and count them unchanged: the run's result and log row say 30 inserted, 80 updated."""
    cfg = make_config({"sync_settings": {"arribos": {"batch_size": 25}}})
    with _thirty_new_and_eighty_changed(empty_db_url, tmp_path) as server:
        store = RestStore(server.url, server.service_key)
        P.run_table("arribos", mode="full", cfg=cfg, store=store)
        _change_them(empty_db_url)
        merge_path = "/rpc/traficov2_merge_arribos"
        before = sum(r[1].startswith(merge_path) for r in server.proxy.requests)
        server.proxy.fail_path(merge_path, 0, 503, 503, after=True)  # the 2nd and 3rd calls, once committed
        res = P.run_table("arribos", mode="full", cfg=cfg, store=store)
        assert res.status == "ok", res.error
        counts = res.counts
        assert (counts["inserted"], counts["updated"], counts["deactivated"], counts["unchanged"], res.attempts) == \
            (30, 80, 10, 0, 1)
        merges = sum(r[1].startswith(merge_path) for r in server.proxy.requests) - before
        assert merges == 5 + 2  # 110 rows in batches of 25, two of them asked twice
    logged = [(c["inserted"], c["updated"], c["deactivated"]) for c in _log_counts(empty_db_url)]
    assert logged == [(90, 0, 0), (30, 80, 10)]


def test_a_rest_run_stopped_midway_says_its_merged_batches_stay(empty_db_url, tmp_path, make_config):
    """A REST run stopped (Ctrl-C, SIGTERM) after its first batch: its ERROR row must not say
    "rolled back, nothing written" (each merge call committed on its own): it says the merged
    batches stay, and its counts say how many rows. The direct path's stays "rolled back"."""
    cfg = make_config({"sync_settings": {"arribos": {"batch_size": 25}}})
    with _thirty_new_and_eighty_changed(empty_db_url, tmp_path) as server:
        store = RestStore(server.url, server.service_key)

        def stop(done: int, total: int) -> None:
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            P.run_table("arribos", mode="full", cfg=cfg, store=store, on_batch=stop)
    with psycopg.connect(empty_db_url) as c:
        details = c.execute("SELECT details FROM traficov2_sync_log WHERE operation = 'ERROR'").fetchone()[0]
        written = c.execute("SELECT count(*) FROM traficov2_arribos").fetchone()[0]
    assert written == 25
    assert "rolled back" not in details["error"] and "batches merged before the stop stay" in details["error"]
    assert details["counts"]["inserted"] == 25
