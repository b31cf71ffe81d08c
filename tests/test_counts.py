"""Every count of a run adds up and says what it counts, and one duration measure is shown the
same everywhere (issue 24, points 4 and 5; ``trafico_lib/counts.py``).

On the sample data, on both stores (the direct connection and Supabase's REST API: a real
PostgREST in front of the same database): a first run, a run after one copy of a duplicated
key changed, a no-op run. After each, for every table: rows read = rows kept + duplicate rows
replaced + rows rejected; kept keys = inserted + updated + unchanged (+ held); the target's
rows = the rows before + inserted, its active rows = the active before + inserted −
deactivated; the duplicate rows counted are the rows recorded. Then the durations: the
terminal's line (a cron log), the run's log row, the sync notebook's apply line and the
health history say the same run and write seconds, to the rounding shown.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pandas as pd
import psycopg
import pytest

import cli_inprocess as inprocess
import rest_server as harness
from output_lines import stamped_lines
from trafico_lib import pipeline as P
from trafico_lib.counts import counts_sum, keys, kept_rows, seconds_text
from trafico_lib.engine.plan import Plan
from trafico_lib.health.render import history_frame, history_table
from trafico_lib.sample import load_samples
from trafico_lib.stores import open_store
from trafico_lib.stores.sql.record import DUPLICATE_FIELD
from trafico_lib.tables import TABLES

ROOT = Path(__file__).resolve().parent.parent
KEY = "PLAU6163546"  # two rows in data/arribos_semana.csv: 'PLAU6163546' and, later, 'PLAU-616354-6'

SUM = re.compile(r"(\d+) rows? read = (\d+) kept \+ (\d+) duplicate rows? replaced \+ (\d+) rejected; "
                 r"(\d+) keys? = (\d+) (?:inserted|to insert) \+ (\d+) (?:updated|to update) \+ (\d+) unchanged"
                 r"(?: \+ (\d+) held)?; (\d+) (?:deactivated|to deactivate)")


@pytest.fixture(params=["direct", "rest"])
def cfg(request, conn, make_config, db_url, tmp_path, monkeypatch):
    """The sample sources loaded; the configuration of the store under test: the database's URL,
    or only a Supabase project URL and its service key (PostgREST in front of the same database)."""
    load_samples(conn, make_config(db_url=db_url))
    if request.param == "direct":
        yield make_config(db_url=db_url)
        return
    with harness.running_project(db_url, tmp_path / "postgrest", monkeypatch):
        rest = make_config()
        assert open_store(rest).kind == "supabase-rest"
        yield rest


def _rows(conn, spec) -> tuple[int, int]:
    """(rows, active rows) of the table's target."""
    return conn.execute(f'SELECT count(*), count(*) FILTER (WHERE activo) FROM "{spec.target}"').fetchone()


def _sync(conn, cfg, table: str, mode: str, **kw):
    """One run of ``table``, checked: every count adds up, and says so in words."""
    spec = TABLES[table]
    before, active_before = _rows(conn, spec)
    res = P.run_table(table, mode=mode, cfg=cfg, **kw)
    assert res.status == "ok", res.error
    c = res.counts
    rows, active = _rows(conn, spec)
    assert rows == before + c["inserted"], (table, c)
    assert active == active_before + c["inserted"] - c["deactivated"], (table, c)
    assert kept_rows(c) == c["read"] - c["duplicates"] - c["rejected"] >= 0
    if not spec.slots:  # a row makes one key (a slot table's booking row makes one per slot)
        assert kept_rows(c) == keys(c), (table, c)
    assert keys(c) <= rows, (table, c)  # each key counted once: no more keys than the target holds
    if mode == "full" and not c["deactivated"] and active_before == before:
        assert keys(c) == rows, (table, c)  # every key of the target is one the source holds
    # the log row holds the same counts, and lists each duplicate row counted once (a source row
    # of its own), each recorded in traficov2_sync_changes (once a day: by this run or an earlier one)
    logged = conn.execute("SELECT details FROM traficov2_sync_log WHERE details->>'run_id' = %s AND operation = 'SYNC'",
                          (res.run_id,)).fetchone()[0]
    assert logged["counts"] == c
    shown = {(d["sync_key"], d["source_id"]) for d in logged["duplicates"]}
    assert len(shown) == len(logged["duplicates"]) == c["duplicates"], (table, c, logged["duplicates"])
    recorded = set(conn.execute("SELECT sync_key, old #>> '{}' FROM traficov2_sync_changes WHERE table_name = %s "
                                "AND field = %s", (spec.target, DUPLICATE_FIELD)).fetchall())
    assert shown <= recorded, (table, shown, recorded)
    read, kept, dups, rejected, n_keys, ins, upd, same, held, gone = (int(v or 0) for v in
                                                                      SUM.fullmatch(counts_sum(c)).groups())
    assert (read, dups, rejected, ins, upd, same, gone) == (c["read"], c["duplicates"], c["rejected"],
                                                             c["inserted"], c["updated"], c["unchanged"],
                                                             c["deactivated"])
    assert read == kept + dups + rejected and n_keys == ins + upd + same + held
    return res


def test_every_count_adds_up_after_a_first_run_a_changed_duplicate_and_a_no_op_run(conn, cfg):
    for table in TABLES:
        _sync(conn, cfg, table, "full")
    arribos = P.run_table("arribos", mode="incremental", cfg=cfg, skip_unchanged=False).counts  # read all the same
    assert arribos["duplicates"] == 2 and arribos["read"] == 159  # two keys in the samples come twice
    # one copy of a duplicated key changes (the one that lost so far): now it is the latest
    loser = conn.execute('SELECT id FROM arribos WHERE "Contenedor" = %s', (KEY,)).fetchone()[0]
    conn.execute("""UPDATE arribos SET "Peso" = '22500', updated_at = now() WHERE id = %s""", (loser,))
    plan = P.run_table("arribos", mode="incremental", cfg=cfg, dry_run=True).counts
    res = _sync(conn, cfg, "arribos", "incremental")
    c = res.counts
    # its key is updated once; its other copy, unread as unchanged, is a duplicate it replaced
    assert (c["updated"], c["unchanged"], c["duplicates"], c["rejected"]) == (1, 155, 2, 1), c
    assert {k: plan[k] for k in c if k in plan} == c  # the dry run counted the same
    assert conn.execute('SELECT "Peso" FROM traficov2_arribos WHERE sync_key = %s', (KEY,)).fetchone()[0] \
        in ("22500", 22500)
    # a no-op run that reads (by default it is skipped, nothing read: pipeline/probe.py): nothing
    # written, still adding up
    for table in TABLES:
        again = _sync(conn, cfg, table, "full", skip_unchanged=False).counts
        assert (again["inserted"], again["updated"], again["deactivated"]) == (0, 0, 0), (table, again)


def test_a_plan_says_one_field_change_and_many():
    one = pd.DataFrame({"sync_key": ["A"], "field": ["Peso"], "old": ["1"], "new": ["2"]})
    plan = Plan("arribos", pd.DataFrame(), one, pd.DataFrame(), 3, {"updated": 1, "unchanged": 3})
    assert "1 to update (1 field change)," in plan.summary()
    plan.updates = pd.concat([one, one])
    assert "(2 field changes)" in plan.summary()


def test_the_duration_words_round_one_way():
    assert [seconds_text(s) for s in (0.0273, 0.9996, 6.14, 14.46, None)] == \
        ["0.027 s", "1.000 s", "6.1 s", "14.5 s", "?"]
    line = counts_sum({"read": 159, "duplicates": 2, "rejected": 1, "updated": 1, "unchanged": 155})
    assert line == ("159 rows read = 156 kept + 2 duplicate rows replaced + 1 rejected; "
                    "156 keys = 0 inserted + 1 updated + 155 unchanged; 0 deactivated")
    assert counts_sum({"read": 1, "duplicates": 1, "inserted": 0}).startswith("1 row read = 0 kept + 1 duplicate row ")


def test_an_old_log_row_with_duration_seconds_still_reads_in_the_health_history():
    """Rows written before run and write seconds were kept apart hold one ``duration_seconds``:
    a sync notebook's measured its apply step (the write), --no-notebook's the whole run."""
    rows = [("traficov2_arribos", "2026-12-01T10:00:00+00:00", "SYNC",
             {"run_id": "a", "notebook": "runs/x.ipynb", "duration_seconds": 0.027, "counts": {"inserted": 1}}),
            ("traficov2_arribos", "2026-12-01T11:00:00+00:00", "SYNC",
             {"run_id": "b", "notebook": None, "duration_seconds": 6.14, "counts": {"inserted": 0}}),
            ("traficov2_arribos", "2026-12-01T12:00:00+00:00", "SYNC",
             {"run_id": "c", "run_seconds": 9.96, "write_seconds": 0.0234, "counts": {"inserted": 0}})]
    hist = history_frame(rows)
    assert hist[["run_id", "run_seconds", "write_seconds"]].fillna(-1).values.tolist() == \
        [["a", -1, 0.027], ["b", 6.14, -1], ["c", 9.96, 0.0234]]
    shown = history_table(hist).set_index("run_id")
    assert list(shown.columns[shown.columns.get_loc("unchanged"):][:4]) == \
        ["unchanged", "duplicate rows replaced", "read", "lag (h)"]  # read = the counts before it
    assert shown.loc["c", "run"] == "10.0\u00a0s" and shown.loc["c", "write"] == "0.023\u00a0s"  # (no-break space)
    assert shown.loc["a", "write"] == "0.027\u00a0s" and pd.isna(shown.loc["a", "run"])
    assert shown.loc["b", "run"] == "6.1\u00a0s"


def _logged(db_url: str, run_id: str, table: str) -> dict:
    with psycopg.connect(db_url) as c:
        return c.execute("SELECT details FROM traficov2_sync_log WHERE details->>'run_id' = %s AND table_name = %s",
                         (run_id, TABLES[table].target)).fetchone()[0]


def test_the_terminal_the_log_row_the_notebook_and_the_health_history_say_the_same_durations(db_url, make_config,
                                                                                            tmp_path):
    cfg = make_config(db_url=db_url)
    with psycopg.connect(db_url, autocommit=True) as c:
        load_samples(c, cfg)
    env = {k: v for k, v in os.environ.items() if k != "TRAFICO_DATABASE_URL"}
    config = Path(cfg.source_path).name
    nb = inprocess.run(["-m", "trafico_lib.runner", "sync", "--mode", "full", "--table", "remisiones",
                        "--config", config], env=env, cwd=tmp_path)
    assert nb.returncode == 0, nb.stdout + nb.stderr
    lines = stamped_lines(nb.stdout)
    run_id = lines[0][1]
    finished = next(t for _, _, t in lines if t.startswith("remisiones: ok"))
    m = re.match(r"remisiones: ok in (\d+\.\d) s: run (\S+) s \(write (\S+) s\) \+ kernel start and archive "
                 r"(\d+\.\d) s; 65 rows read = 65 kept \+ 0 duplicate rows replaced \+ 0 rejected; "
                 r"65 keys = 65 inserted \+ 0 updated \+ 0 unchanged; 0 deactivated; runs/", finished)
    assert m, finished
    wall, run, write, rest = m.groups()
    assert abs(float(wall) - float(run) - float(rest)) < 0.01  # the parts add up as shown
    logged = _logged(db_url, run_id, "remisiones")
    assert "duration_seconds" not in logged
    assert (seconds_text(logged["run_seconds"]), seconds_text(logged["write_seconds"])) == (f"{run} s", f"{write} s")
    assert logged["write_seconds"] <= logged["run_seconds"]
    # the archived notebook's apply line: the same words, the same figures
    archived = next((tmp_path / "runs").rglob(f"{run_id}_sync_remisiones.ipynb"))
    apply = next(c for c in nbformat.read(archived, as_version=4).cells if c.get("id") == "apply")
    said = "".join(o.get("text", "") for o in apply.outputs).splitlines()[-3:]
    assert said == [f"ok, run {run} s (write {write} s)",
                    "65 rows read = 65 kept + 0 duplicate rows replaced + 0 rejected",
                    "65 keys = 65 inserted + 0 updated + 0 unchanged; 0 deactivated"], said
    # the health history's columns
    with psycopg.connect(db_url) as c:
        rows = c.execute("SELECT table_name, sync_timestamp, operation, details FROM traficov2_sync_log").fetchall()
    shown = history_table(history_frame(rows)).set_index("run_id").loc[run_id]
    assert (shown["run"], shown["write"]) == (f"{run}\u00a0s", f"{write}\u00a0s")
    # --no-notebook: the terminal's line and the log row, the same way (no kernel: the run alone); a
    # touched change time makes the source's probe differ, so the run reads (and finds it all unchanged)
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("UPDATE remisiones SET fecha_modificacion = now() WHERE id = (SELECT min(id) FROM remisiones)")
    p = inprocess.run(["update_traficov2.py", "--mode", "full", "--no-notebook", "--table", "remisiones",
                       "--config", config], env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    lines = stamped_lines(p.stdout)
    finished = next(t for _, _, t in lines if t.startswith("remisiones: ok"))
    m = re.match(r"remisiones: ok, run (\S+) s \(write (\S+) s\); 65 rows read = 65 kept \+ 0 duplicate rows "
                 r"replaced \+ 0 rejected; 65 keys = 0 inserted \+ 0 updated \+ 65 unchanged; 0 deactivated$", finished)
    assert m, finished
    logged = _logged(db_url, lines[0][1], "remisiones")
    assert (seconds_text(logged["run_seconds"]), seconds_text(logged["write_seconds"])) == \
        tuple(f"{v} s" for v in m.groups())
