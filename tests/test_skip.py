"""A run pays for its changes (pipeline/probe.py): a table whose source probe and context are what
its last successful writing run recorded is one log row, nothing read, on the direct and the REST
store; the real command line's no-op sync imports no Great Expectations and starts no kernel, and
a table that changed still gets its archived notebook in the same run."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from test_engine import insert
from test_probe import src, store_config  # noqa: F401 - fixtures (direct and REST)
from trafico_lib import pipeline as P
from trafico_lib.sample import load_samples
from trafico_lib.errors import TableLocked
from trafico_lib.stores import PostgresStore, open_store
from trafico_lib.stores.pg.lock import lock_key
from trafico_lib.tables import TABLES

ROOT = Path(__file__).resolve().parent.parent




ROWS = [{"Contenedor": "MSCU1234566", "Chofer": "A", "updated_at": "2026-12-01 10:00+00"},
        {"Contenedor": "TGHU8765432", "Chofer": "B", "updated_at": "2026-12-01 11:00+00"}]


def _log(conn, run_id: str) -> list[tuple]:
    return conn.execute("SELECT operation, details FROM traficov2_sync_log WHERE details->>'run_id' = %s",
                        (run_id,)).fetchall()


def test_an_unchanged_source_is_one_log_row_and_any_change_runs_again(store_config, src):
    cfg = store_config()
    insert(src, "arribos", ROWS)
    first = P.run_table("arribos", mode="incremental", cfg=cfg)
    assert first.status == "ok" and first.counts["inserted"] == 2 and first.unchanged_since is None

    again = P.run_table("arribos", mode="incremental", cfg=cfg)
    assert (again.status, again.unchanged_since, again.source_rows) == ("ok", first.run_id, 2)
    assert again.counts["read"] == 0 and again.notebook is None
    [(operation, details)] = _log(src, again.run_id)  # one log row, as any run's: it counts as a run
    assert operation == "SYNC" and details["unchanged_since"] == first.run_id and details["notebook"] is None
    state = src.execute("SELECT last_run_id, probe_run_id FROM traficov2_sync_state "
                        "WHERE table_name = 'traficov2_arribos'").fetchone()
    assert state == (again.run_id, first.run_id)  # its last success (health, lag); the probe stays the first's

    # a full run is skipped only after a full run (whose deactivations were judged)
    full = P.run_table("arribos", mode="full", cfg=cfg)
    assert full.unchanged_since is None and full.counts["read"] == 2
    assert P.run_table("arribos", mode="full", cfg=cfg).unchanged_since == full.run_id
    assert P.run_table("arribos", mode="incremental", cfg=cfg).unchanged_since == full.run_id

    # a dry run always reads: a person asked to see the plan
    dry = P.run_table("arribos", mode="incremental", cfg=cfg, dry_run=True)
    assert dry.status == "dry-run" and dry.counts["read"] > 0

    # an update, an insert, a delete: each is read
    src.execute("""UPDATE arribos SET "Chofer" = 'C', updated_at = '2026-12-02 10:00+00'
                   WHERE "Contenedor" = 'MSCU1234566'""")
    upd = P.run_table("arribos", mode="incremental", cfg=cfg)
    assert upd.unchanged_since is None and upd.counts["updated"] == 1
    insert(src, "arribos", [{"Contenedor": "CSQU3054383", "updated_at": "2026-12-03 09:00+00"}])
    assert P.run_table("arribos", mode="incremental", cfg=cfg).counts["inserted"] == 1
    src.execute("""DELETE FROM arribos WHERE "Contenedor" = 'CSQU3054383'""")
    gone = P.run_table("arribos", mode="full", cfg=cfg)
    assert gone.unchanged_since is None and gone.counts["deactivated"] == 1
    assert P.run_table("arribos", mode="full", cfg=cfg).unchanged_since == gone.run_id

    # a changed context (the configuration) is read again
    stricter = store_config({"sync_settings": {"arribos": {"batch_size": 7}}})
    assert P.run_table("arribos", mode="full", cfg=stricter).unchanged_since is None
    assert P.run_table("arribos", mode="full", cfg=stricter).unchanged_since is not None


def test_a_failed_last_run_is_never_skipped(store_config, src):
    cfg = store_config()
    insert(src, "arribos", ROWS)
    first = P.run_table("arribos", mode="full", cfg=cfg)
    open_store(cfg).write_log(TABLES["arribos"], "ERROR", {"run_id": "r-failed", "error": "boom"})
    retried = P.run_table("arribos", mode="full", cfg=cfg)
    assert retried.unchanged_since is None and retried.counts["read"] == 2
    assert P.run_table("arribos", mode="full", cfg=cfg).unchanged_since == retried.run_id != first.run_id


def test_a_csv_source_is_never_skipped(store_config, src):
    cfg = store_config({"sync_settings": {"remisiones": {"source": "csv"}}})
    first = P.run_table("remisiones", mode="full", cfg=cfg)
    assert first.status == "ok" and first.counts["read"] > 0
    again = P.run_table("remisiones", mode="full", cfg=cfg)
    assert again.unchanged_since is None and again.counts["read"] == first.counts["read"]


def test_a_skipped_run_waits_for_the_tables_lock_and_never_overlaps_another_run(src, make_config, db_url):
    cfg = make_config({"database": {"lock_timeout_seconds": 0.3}}, db_url=db_url)
    insert(src, "arribos", ROWS)
    first = P.run_table("arribos", mode="full", cfg=cfg)
    with psycopg.connect(db_url) as other, other.transaction():  # another run of the table holds it
        other.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (lock_key("traficov2_arribos"),))
        held = P.run_table("arribos", mode="full", cfg=cfg)
    assert held.status == "locked" and _log(src, held.run_id) == []
    assert P.run_table("arribos", mode="full", cfg=cfg).unchanged_since == first.run_id


# ---- a skipped run's record over REST: one call (traficov2_record_skip, schema step 016) ----------

STATE = ("SELECT last_run_id, watermark, source_rows, probe_run_id, probe_digest, probe_context, lease_run_id "
         "FROM traficov2_sync_state WHERE table_name = 'traficov2_arribos'")
VARYING = ("run_id", "run_seconds", "store")  # what differs between any two runs' log rows


def _skip_row(conn, run_id: str) -> tuple:
    [(operation, source, details)] = conn.execute(
        "SELECT operation, source_table, details FROM traficov2_sync_log WHERE details->>'run_id' = %s",
        (run_id,)).fetchall()
    return operation, source, {k: v for k, v in details.items() if k not in VARYING}


@pytest.mark.parametrize("store_config", ["rest"], indirect=True)
def test_a_skipped_rest_run_is_one_call_recording_what_the_direct_path_records(store_config, src, db_url, request):
    server = request.node.postgrest
    cfg = store_config()
    insert(src, "arribos", ROWS)
    rest = open_store(cfg)  # one store, its schema check and table list asked once (a watch's, a runner's)
    first = P.run_table("arribos", mode="full", cfg=cfg, store=rest)
    by_direct = P.run_table("arribos", mode="full", cfg=cfg, store=PostgresStore(db_url))
    assert by_direct.unchanged_since == first.run_id
    direct_state = src.execute(STATE).fetchone()

    before = len(server.proxy.requests)
    by_rest = P.run_table("arribos", mode="full", cfg=cfg, store=rest)
    calls = [p.split("?")[0] for _, p in server.proxy.requests[before:]]
    assert (by_rest.status, by_rest.unchanged_since, by_rest.source_rows) == ("ok", first.run_id, 2)
    assert len(calls) <= 5, calls  # was 9: lease, state check, log, state, release were a call each
    assert calls.count("/rpc/traficov2_record_skip") == 1, calls
    assert not {"/rpc/traficov2_take_lease", "/rpc/traficov2_record_log", "/rpc/traficov2_release_lease"} & set(calls)

    assert _skip_row(src, by_rest.run_id) == _skip_row(src, by_direct.run_id)
    rest_state = src.execute(STATE).fetchone()
    assert rest_state[0] == by_rest.run_id and direct_state[0] == by_direct.run_id
    assert rest_state[1:] == direct_state[1:]  # watermark, source rows, the first run's probe; no lease left
    assert rest_state[-1] is None


@pytest.mark.parametrize("store_config", ["rest"], indirect=True)
def test_a_skipped_rest_run_refuses_a_live_lease_of_another_run_and_writes_nothing(store_config, src):
    cfg = store_config({"database": {"lock_timeout_seconds": 0.3}})
    insert(src, "arribos", ROWS)
    first = P.run_table("arribos", mode="full", cfg=cfg)
    src.execute("UPDATE traficov2_sync_state SET lease_run_id = 'r-other', lease_holder = 'elsewhere:1', "
                "lease_expires_at = now() + interval '1 minute' WHERE table_name = 'traficov2_arribos'")
    held = P.run_table("arribos", mode="full", cfg=cfg)
    assert held.status == "locked" and "another run (r-other on elsewhere:1) holds the table" in held.error
    assert _log(src, held.run_id) == []
    assert src.execute(STATE).fetchone()[0::6] == (first.run_id, "r-other")  # state and lease untouched
    src.execute("UPDATE traficov2_sync_state SET lease_expires_at = now() - interval '1 second' "
                "WHERE table_name = 'traficov2_arribos'")  # that run died: its lease lapsed
    taken_over = P.run_table("arribos", mode="full", cfg=cfg)
    assert taken_over.unchanged_since == first.run_id
    assert src.execute(STATE).fetchone()[0::6] == (taken_over.run_id, None)


def test_a_skip_whose_table_another_run_recorded_meanwhile_writes_nothing(store_config, src):
    cfg = store_config()
    insert(src, "arribos", ROWS)
    first = P.run_table("arribos", mode="full", cfg=cfg)
    store = open_store(cfg)
    with pytest.raises(TableLocked, match=f"another run \\({first.run_id}\\) finished"):
        store.record_skip(TABLES["arribos"], "r-late", "r-older", {"run_id": "r-late"})
    assert _log(src, "r-late") == []
    assert src.execute(STATE).fetchone()[0::6] == (first.run_id, None)
    store.record_skip(TABLES["arribos"], "r-now", first.run_id, {"run_id": "r-now"})
    assert [op for op, _ in _log(src, "r-now")] == ["SYNC"]
    assert src.execute(STATE).fetchone()[0::6] == ("r-now", None)


# ---- the real command line, in a process of its own ----------------------------------------------

WRAPPER = """import json, sys
from trafico_lib.cli import main as cli_main
from trafico_lib.cli.runner import main as runner_main
code = (runner_main if sys.argv[2] == "sync" else cli_main)(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    json.dump({"code": code, "modules": sorted(sys.modules)}, f)
sys.exit(code)
"""


def _sync(tmp_path: Path, config: str, *extra: str, command: tuple[str, ...] = ("sync",)) -> tuple[dict, str]:
    """``make sync`` (the runner's command line; ``command=()``: ``update_traficov2.py``'s) in a
    process of its own: what it printed, its exit code and the modules it had imported when it finished."""
    wrapper, out = tmp_path / "wrapper.py", tmp_path / "modules.json"
    wrapper.write_text(WRAPPER, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "TRAFICO_DATABASE_URL"}
    p = subprocess.run([sys.executable, str(wrapper), str(out), *command, "--config", config, *extra],
                       cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(out.read_text(encoding="utf-8")), p.stdout


def _archived(tmp_path: Path, run_id: str) -> list[str]:
    return sorted(p.name for p in (tmp_path / "runs").rglob(f"{run_id}_*"))


def test_a_no_op_sync_imports_no_gx_and_starts_no_kernel_and_a_changed_table_gets_its_notebook(
        db_url, make_config, tmp_path):
    cfg = make_config(db_url=db_url)
    with psycopg.connect(db_url, autocommit=True) as c:
        load_samples(c, cfg)
    config = Path(cfg.source_path).name
    first = P.run_table("remisiones", mode="incremental", cfg=cfg)  # the library's run, as --no-notebook's
    for table in ("arribos", "pendiente_desconsolidar", "arribos_expo_ctns"):
        P.run_table(table, mode="incremental", cfg=cfg)

    ran, printed = _sync(tmp_path, config, "--run-id", "20261206T120000-aaaaaa")
    assert "great_expectations" not in ran["modules"]  # nothing validated: no GX import
    assert not any(m.split(".")[0] in ("papermill", "jupyter_client") for m in ran["modules"])  # no kernel
    assert _archived(tmp_path, "20261206T120000-aaaaaa") == []  # no notebook archived
    assert f"remisiones: unchanged since {first.run_id} (65 source rows); log row only, no notebook" in printed
    assert "4 tables unchanged (log rows only)" in printed

    # a source row changes: that table runs its notebook, archived; the others stay log rows
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("""UPDATE remisiones SET "Chofer" = 'Otro chofer' WHERE id = (SELECT min(id) FROM remisiones)""")
    ran, printed = _sync(tmp_path, config, "--run-id", "20261206T120500-bbbbbb")
    assert _archived(tmp_path, "20261206T120500-bbbbbb") == [
        "20261206T120500-bbbbbb_sync_remisiones.html", "20261206T120500-bbbbbb_sync_remisiones.ipynb"]
    assert "remisiones: Inserted 0, Updated 1" in printed
    assert "arribos: unchanged since" in printed


def test_a_run_the_probe_sent_that_changed_nothing_is_its_log_row_and_its_notebook_is_dropped(
        db_url, make_config, tmp_path):
    cfg = make_config(db_url=db_url)
    with psycopg.connect(db_url, autocommit=True) as c:
        load_samples(c, cfg)
    config = Path(cfg.source_path).name
    P.run_table("remisiones", mode="incremental", cfg=cfg)
    with psycopg.connect(db_url, autocommit=True) as c:  # a touched change time: the probe differs, no value does
        c.execute("UPDATE remisiones SET fecha_modificacion = now() WHERE id = (SELECT min(id) FROM remisiones)")
    _, printed = _sync(tmp_path, config, "--table", "remisiones", "--run-id", "20261206T121000-cccccc")
    assert "remisiones: Inserted 0, Updated 0, Errors 0 | unchanged 65" in printed
    assert _archived(tmp_path, "20261206T121000-cccccc") == []  # the archive keeps what matters
    with psycopg.connect(db_url) as c:
        [(details,)] = c.execute("SELECT details FROM traficov2_sync_log WHERE details->>'run_id' = %s",
                                 ("20261206T121000-cccccc",)).fetchall()
    assert details["notebook"] is None and details["counts"]["read"] == 65  # the log row links no page


def test_a_read_whose_rows_were_all_set_aside_validates_nothing_and_imports_no_gx(db_url, make_config, tmp_path):
    """The probe differs (a touched change time), so the table is read; every row is as last
    written, set aside unread: the validation of an empty frame never imports Great Expectations."""
    cfg = make_config(db_url=db_url)
    with psycopg.connect(db_url, autocommit=True) as c:
        load_samples(c, cfg)
    P.run_table("remisiones", mode="full", cfg=cfg)
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("UPDATE remisiones SET fecha_modificacion = fecha_modificacion + interval '1 second' "
                  "WHERE id = (SELECT min(id) FROM remisiones)")
    ran, printed = _sync(tmp_path, Path(cfg.source_path).name, "--no-notebook", "--table", "remisiones",
                         "--mode", "full", command=())
    assert "remisiones: Inserted 0, Updated 0, Errors 0 | unchanged 65" in printed, printed
    assert "great_expectations" not in ran["modules"]


def test_a_run_that_reads_takes_one_probe_the_one_it_records(src, make_config, db_url, monkeypatch):
    """The skip rule's probe is the one the read keeps and the run records: a run pays for one
    scan of its source, not two (a 1M-row probe is ~0.7 s)."""
    cfg = make_config(db_url=db_url)
    insert(src, "arribos", ROWS)
    from trafico_lib.stores.postgres import PostgresStore
    taken = []
    real = PostgresStore.source_probe

    def counted(self, spec, **kw):
        taken.append(spec.name)
        return real(self, spec, **kw)
    monkeypatch.setattr(PostgresStore, "source_probe", counted)
    first = P.run_table("arribos", mode="incremental", cfg=cfg)
    assert first.counts["inserted"] == 2 and taken == ["arribos"]
    src.execute("""UPDATE arribos SET "Chofer" = 'C', updated_at = now() WHERE "Contenedor" = 'MSCU1234566'""")
    taken.clear()
    second = P.run_table("arribos", mode="incremental", cfg=cfg)
    assert second.counts["updated"] == 1 and taken == ["arribos"]
    stored = src.execute("SELECT probe_run_id FROM traficov2_sync_state WHERE table_name = 'traficov2_arribos'")
    assert stored.fetchone() == (second.run_id,)
    assert P.run_table("arribos", mode="incremental", cfg=cfg).unchanged_since == second.run_id
