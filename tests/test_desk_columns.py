"""The desk's own column names in ``preserve_fields`` and ``back_propagate`` (issue 22, point 6).

The desk's app writes a lowercase ``chofer`` into the TráficoV2 tables (an adopted old table has
it beside the registry's ``Chofer``). Configured so, back-propagation copies the desk's ``chofer``
into the source's ``Chofer``, on every store, and the sync never writes the desk's column.
"""
from __future__ import annotations

from rest_server import reload_schema_and_wait
from test_engine import ARRIBOS, insert, run, src, store_config  # noqa: F401 (fixtures)
from trafico_lib import pipeline as P
from trafico_lib.schema import apply_migrations
from trafico_lib.tables import TABLES

DESK = {"sync_settings": {"arribos": {"back_propagate": ["chofer"], "preserve_fields": ["chofer", "Estado"]}}}


def test_back_propagation_copies_the_desks_lowercase_chofer_into_the_sources_chofer(src, store_config):
    cfg = store_config(DESK)
    assert cfg.preserve_fields("arribos") == ["Chofer", "Estado"]  # what the merge decides
    assert cfg.watched_fields("arribos") == ["chofer", "Estado", "Chofer"]  # what the trigger watches
    # the schema step with the configured names, before the table has the desk's column: a name
    # the table lacks breaks neither the trigger nor the per-field edit times
    apply_migrations(src, {n: cfg.watched_fields(n) for n in TABLES})
    insert(src, "arribos", ARRIBOS)
    run(cfg)
    # the old deployment's desk column, typed by the desk's app by id
    src.execute("ALTER TABLE traficov2_arribos ADD COLUMN chofer text")
    apply_migrations(src, {n: cfg.watched_fields(n) for n in TABLES})
    reload_schema_and_wait(src, cfg, "traficov2_arribos", has="chofer")
    target_id = src.execute("SELECT id FROM traficov2_arribos WHERE sync_key = 'MSCU1234566'").fetchone()[0]
    src.execute("UPDATE traficov2_arribos SET chofer = 'PEREZ' WHERE id = %s", (target_id,))
    edits = src.execute("SELECT manual_edits FROM traficov2_arribos WHERE id = %s", (target_id,)).fetchone()[0]
    assert "chofer" in edits  # the trigger saw the desk's edit of its own column

    todo = P.back_propagation_fields(cfg)
    assert todo == {"arribos": ["chofer"], **{n: ["Chofer"] for n in TABLES if n != "arribos"}}
    plan = P.plan_back_propagation(cfg, {"arribos": todo["arribos"]})
    assert plan[["sync_key", "field", "new"]].values.tolist() == [["MSCU1234566", "Chofer", "PEREZ"]]
    [res] = P.back_propagate(cfg, {"arribos": todo["arribos"]}, run_id="bp-desk")
    assert res["status"] == "ok" and res["rows_updated"] == 1, res
    assert src.execute("""SELECT "Chofer" FROM arribos WHERE "Contenedor" = 'MSCU-123456-6'""").fetchone()[0] == "PEREZ"
    # TCNU's ANA is the source's own Chofer, and the target's chofer is empty there: nothing to copy
    assert src.execute("""SELECT "Chofer" FROM arribos WHERE "Contenedor" = 'TCNU 720079 4'""").fetchone()[0] == "ANA"

    # the next syncs take the source's Chofer into the target's and never write the desk's column
    run(cfg, mode="incremental")
    again = run(cfg, mode="incremental")
    assert (again.counts["inserted"], again.counts["updated"]) == (0, 0)
    rows = src.execute('SELECT sync_key, "Chofer", chofer FROM traficov2_arribos ORDER BY sync_key').fetchall()
    assert rows == [("CSQU3054383", None, None), ("MSCU1234566", "PEREZ", "PEREZ"), ("TCNU7200794", "ANA", None)]
    [nothing] = P.back_propagate(cfg, {"arribos": todo["arribos"]}, run_id="bp-desk-2")
    assert nothing["rows_updated"] == 0  # no ping-pong
