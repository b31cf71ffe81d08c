"""The REST store's lease when its run dies, and while it lives (issue 21, point 9), against a
real PostgREST: a run killed mid-merge (SIGKILL: nothing of it runs again) leaves its lease,
which the health check shows with its run and age and, once past its short expiry, as stale;
until then another run is refused with a message that says when the table frees, and after it
the next run takes the table over. A live run whose every call outlasts the lease keeps it:
its heartbeat renews it."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg

import rest_server as harness
from trafico_lib import pipeline as P
from trafico_lib.health import gather_facts, history_frame, notebook_result, render_block, to_json
from trafico_lib.rules.iso6346 import check_digit
from trafico_lib.sample import create_source_tables
from trafico_lib.stores.rest.store import RestStore
from trafico_lib.tables import get_table

ROOT = Path(__file__).resolve().parent.parent
LEASE = 3  # seconds: the configured expiry, short for the tests (90 by default)
KILLED_LEASE = 6  # the killed run's: long enough for the checks made before it lapses
SPEC = get_table("arribos")


def _containers(n: int) -> list[str]:
    return [f"MSCU{i:06d}{check_digit(f'MSCU{i:06d}')}" for i in range(n)]


def _slow_project(url, tmp_path, *, rows: int, seconds_per_row: float):
    """arribos with ``rows`` rows whose every insert into the target takes ``seconds_per_row``."""
    def sources(c):
        create_source_tables(c)
        c.cursor().executemany('INSERT INTO arribos ("Fecha", "Contenedor", "Cliente") VALUES (%s, %s, %s)',
                               [("23/11/2026", k, f"Cliente {i % 7}") for i, k in enumerate(_containers(rows))])
        c.execute(f"""CREATE FUNCTION slow_row() RETURNS trigger LANGUAGE plpgsql AS $$
                      BEGIN PERFORM pg_sleep({seconds_per_row}); RETURN NEW; END $$""")
        c.execute("CREATE TRIGGER slow BEFORE INSERT ON traficov2_arribos FOR EACH ROW EXECUTE FUNCTION slow_row()")
    return harness.supabase_project(url, tmp_path / "pgrst", prepare=sources)


def _lease_row(url):
    with psycopg.connect(url) as c:
        return c.execute("SELECT lease_run_id, lease_holder, lease_expires_at FROM traficov2_sync_state "
                         "WHERE table_name = 'traficov2_arribos'").fetchone()


def _target_rows(url) -> int:
    with psycopg.connect(url) as c:
        return c.execute("SELECT count(*) FROM traficov2_arribos").fetchone()[0]


def _config(server, make_config, monkeypatch):
    """The project's URL and key from the environment, the short lease, no waiting for a held table."""
    monkeypatch.setenv("SUPABASE_URL", server.url)
    monkeypatch.setenv("SUPABASE_KEY", server.service_key)
    return make_config({"supabase": {"lease_seconds": KILLED_LEASE}, "database": {"lock_timeout_seconds": 0},
                        "sync_settings": {"arribos": {"batch_size": 50}}})


def test_a_killed_rest_run_leaves_a_lease_health_shows_and_the_next_run_takes_over_after_its_expiry(
        empty_db_url, tmp_path, make_config, monkeypatch):
    with _slow_project(empty_db_url, tmp_path, rows=600, seconds_per_row=0.02) as server:
        cfg = _config(server, make_config, monkeypatch)
        config = tmp_path / "killed.json"
        config.write_text(json.dumps({"supabase": {"lease_seconds": KILLED_LEASE},
                                      "sync_settings": {"arribos": {"batch_size": 50}},
                                      "csv_sources": {"backup_path": str(tmp_path / "backup")}}), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k not in ("TRAFICO_DATABASE_URL", "url_supabase", "key_supabase")}
        env.update(SUPABASE_URL=server.url, SUPABASE_KEY=server.service_key)
        proc = subprocess.Popen([sys.executable, str(ROOT / "update_traficov2.py"), "--no-notebook", "--table",
                                 "arribos", "--mode", "full", "--config", str(config)],
                                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        store = RestStore(server.url, server.service_key, lease_seconds=KILLED_LEASE)
        ctx = P.start("arribos", mode="full", cfg=cfg, store=store)  # a second run, ready to write
        stg, _ = P.prepare(ctx)
        try:
            deadline = time.monotonic() + 60
            while _target_rows(empty_db_url) == 0:  # killed mid-merge: a batch or more committed
                assert proc.poll() is None and time.monotonic() < deadline, "the run ended before it merged"
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        dead_run, holder, _ = _lease_row(empty_db_url)
        assert dead_run and holder.endswith(f":{proc.pid}")
        assert 0 < _target_rows(empty_db_url) < 600

        # within its expiry: refused, saying who holds the table and when it frees
        refused = P.apply(ctx, stg)
        assert refused.status == "locked", refused.error
        assert f"another run ({dead_run} on {holder}) holds the table until" in refused.error
        assert "lapses then and the next run takes the table over" in refused.error
        facts = gather_facts(cfg)
        lease, = facts["leases"]
        assert (lease["table"], lease["run_id"], lease["holder"], lease["stale"]) == ("arribos", dead_run, holder, False)
        assert lease["since"] <= lease["renewed_at"] < lease["expires_at"]
        block = render_block(facts)
        assert f"Lease: traficov2_arribos held by run {dead_run} ({holder}) since " in block
        assert json.loads(to_json(facts))["leases"][0]["run_id"] == dead_run
        assert notebook_result(facts, history_frame([]))["leases"][0]["run_id"] == dead_run  # the notebook's

        # past its expiry: stale (nobody renews it), and the next run takes the table over
        time.sleep(max(0.0, KILLED_LEASE - (facts["database"]["now"] - lease["renewed_at"]).total_seconds()) + 0.3)
        stale = gather_facts(cfg)
        assert [x["stale"] for x in stale["leases"]] == [True]
        assert "stale: its run died; the next run takes the table over" in render_block(stale)
        assert any(dead_run in w and "stale" in w for w in stale["warnings"])
        with psycopg.connect(empty_db_url, autocommit=True) as c:
            c.execute("DROP TRIGGER slow ON traficov2_arribos")
        taken = P.run_table("arribos", mode="full", cfg=cfg, store=store)
        assert taken.status == "ok", taken.error
        assert _target_rows(empty_db_url) == 600
        assert _lease_row(empty_db_url) == (None, None, None)  # released at its end
        assert gather_facts(cfg)["leases"] == []


def test_a_live_rest_run_whose_calls_outlast_the_lease_keeps_it(empty_db_url, tmp_path, make_config):
    """Each merge call takes 4 s, longer than the 3 s lease: the heartbeat renews it meanwhile
    (more often than the two batches could), so another run asking all along gets the table
    only once the run has written every row and let it go."""
    with _slow_project(empty_db_url, tmp_path, rows=40, seconds_per_row=0.2) as server:
        cfg = make_config({"sync_settings": {"arribos": {"batch_size": 20}}})
        store = RestStore(server.url, server.service_key, lease_seconds=LEASE)
        other = RestStore(server.url, server.service_key, lease_seconds=LEASE)
        done: list = []
        run = threading.Thread(target=lambda: done.append(P.run_table("arribos", mode="full", cfg=cfg, store=store)))
        run.start()
        refused, renewals, taken_with = 0, set(), None
        while run.is_alive() and taken_with is None:
            with psycopg.connect(empty_db_url) as c:
                held = c.execute("SELECT lease_run_id, lease_renewed_at FROM traficov2_sync_state "
                                 "WHERE table_name = 'traficov2_arribos'").fetchone()
            if held and held[0] is not None:
                renewals.add(held[1])
                got = other.take_lease(SPEC, "intruder", holder="elsewhere:1", seconds=60)
                if got["taken"]:
                    taken_with = _target_rows(empty_db_url)  # the rows written when the other run got in
                else:
                    refused += 1
            time.sleep(0.25)
        run.join()
        res, = done
        assert res.status == "ok", res.error
        assert res.counts["inserted"] == 40 == _target_rows(empty_db_url)
        assert taken_with in (None, 40), taken_with  # never while the run was writing
        assert refused >= 20 and len(renewals) > 4  # asked all along; renewed between the batches' renewals


def test_a_batch_renews_a_stale_lease_first_and_a_stalled_run_learns_it_lost_the_table(empty_db_url, tmp_path):
    """Before a batch the lease is renewed when its last renewal is a sixth of the lease old (not
    every batch: one call each doubled a full sync's calls); a run that stalled past its expiry
    (no heartbeat beat meanwhile: the process stopped) asks before it writes again, and stops,
    writing nothing more, when another run holds the table by then."""
    import pytest

    from trafico_lib.stores.rest.lease import Lease, LeaseLost
    with _slow_project(empty_db_url, tmp_path, rows=1, seconds_per_row=0) as server:
        store = RestStore(server.url, server.service_key)
        lease = Lease(store, SPEC, "run-a", "host-a:1", LEASE)
        lease.kept(store.take_lease(SPEC, "run-a", holder="host-a:1", seconds=LEASE), time.monotonic())
        asked = len(server.proxy.requests)
        lease.renew()  # renewed a moment ago: not asked again
        assert len(server.proxy.requests) == asked
        time.sleep(LEASE / 6 + 0.1)
        lease.renew()  # a sixth of the lease old: renewed
        assert [p for _, p in server.proxy.requests[asked:]] == ["/rpc/traficov2_take_lease"]
        time.sleep(LEASE + 0.5)  # stalled past its expiry; another run takes the table
        other = RestStore(server.url, server.service_key)
        assert other.take_lease(SPEC, "run-b", holder="host-b:1", seconds=60)["taken"]
        with pytest.raises(LeaseLost, match="run-b on host-b:1 holds it now"):
            lease.renew()
