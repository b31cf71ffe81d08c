"""Source rows whose text and context are as when the sync last wrote them are set aside
before they are read into memory (engine.fingerprint): a no-op rerun costs a fraction of a
full sync, and nothing that should change a target row is missed because of it."""
from __future__ import annotations

import pytest

from trafico_lib import pipeline as P
from trafico_lib.sample import create_source_tables

ROWS = [("23/11/2026", "MSCU-123456-6", "Cliente Uno", "1.429,5"),
        ("24/11/2026", "TCNU 720079 4", "Cliente Dos", "2000"),
        ("25/11/2026", "CSQU3054383", "Cliente Tres", "-"),
        ("25/11/2026", "GESU1000001", "Cliente Cuatro", "10")]  # bad check digit: kept with a warning


@pytest.fixture
def src(conn):
    create_source_tables(conn)
    with conn.cursor() as cur:
        cur.executemany('INSERT INTO arribos ("Fecha", "Contenedor", "Cliente", "Peso") VALUES (%s, %s, %s, %s)', ROWS)
    return conn


@pytest.fixture
def exits_cfg(tmp_path, make_config, db_url):
    """CSV sources on, with an exits file of our own (none of our containers has left yet)."""
    (tmp_path / "exits.csv").write_text("orden_ing;suborden;renglon;contenedor;validada;usuario\n"
                                        "1;1;1;OTHR1234565;28/11/2026 09:50;aruiz\n", encoding="cp1252")
    return make_config({"csv_sources": {"enabled": True, "data_path": str(tmp_path), "files": {"salidas": "exits.csv"}},
                        "sync_settings": {"arribos": {"status": {"template": "{validada:%H:%M} salió"}}}},
                       db_url=db_url)


def _extract(cfg, mode="full"):
    ctx = P.start("arribos", mode=mode, cfg=cfg)
    ex = P.extract(ctx)
    out = (len(ex.frame), ex.unchanged, ex.read)
    ctx.close()
    return out


def test_a_rerun_with_no_change_reads_no_row_into_memory_and_writes_nothing(src, exits_cfg):
    first = P.run_table("arribos", mode="full", cfg=exits_cfg)
    assert first.status == "ok" and first.counts["inserted"] == 4
    before = src.execute("SELECT * FROM traficov2_arribos ORDER BY id").fetchall()
    assert _extract(exits_cfg) == (0, 4, 4)  # every row looked at in the database, none read
    again = P.run_table("arribos", mode="full", cfg=exits_cfg, skip_unchanged=False)  # the read path itself
    assert again.status == "ok"
    assert {k: again.counts[k] for k in ("read", "inserted", "updated", "deactivated", "unchanged")} == \
        {"read": 4, "inserted": 0, "updated": 0, "deactivated": 0, "unchanged": 4}
    assert src.execute("SELECT * FROM traficov2_arribos ORDER BY id").fetchall() == before
    # by default, the source's probe tells it first: nothing is read at all (pipeline/probe.py)
    skipped = P.run_table("arribos", mode="full", cfg=exits_cfg)
    assert skipped.unchanged_since == again.run_id and skipped.counts["read"] == 0


def test_a_changed_row_is_read_and_merged_the_others_stay_unread(src, exits_cfg):
    P.run_table("arribos", mode="full", cfg=exits_cfg)
    src.execute("""UPDATE arribos SET "Cliente" = 'Otro' WHERE "Contenedor" = 'CSQU3054383'""")
    assert _extract(exits_cfg) == (1, 3, 4)
    res = P.run_table("arribos", mode="full", cfg=exits_cfg)
    assert res.counts["updated"] == 1 and res.counts["deactivated"] == 0
    assert src.execute("""SELECT "Cliente" FROM traficov2_arribos WHERE sync_key = 'CSQU3054383'""").fetchone()[0] == "Otro"


def test_a_new_exit_record_marks_an_unchanged_row_done(src, exits_cfg, tmp_path):
    """The exit records are part of the context: a new one makes unchanged rows be read again."""
    P.run_table("arribos", mode="full", cfg=exits_cfg)
    with open(tmp_path / "exits.csv", "a", encoding="cp1252") as f:
        f.write("2;1;1;TCNU7200794;29/11/2026 10:15;jgarcia\n")
    assert _extract(exits_cfg)[1] == 0
    res = P.run_table("arribos", mode="incremental", cfg=exits_cfg)
    assert res.status == "ok" and res.counts["updated"] == 1
    assert src.execute("""SELECT "Estado" FROM traficov2_arribos WHERE sync_key = 'TCNU7200794'""").fetchone()[0] \
        == "10:15 salió"
    assert _extract(exits_cfg) == (0, 4, 4)  # and the next run sets them aside again


def test_a_changed_rule_reads_every_row_again(src, exits_cfg, make_config, db_url, tmp_path):
    P.run_table("arribos", mode="full", cfg=exits_cfg)
    stricter = make_config({**exits_cfg.model_dump(mode="json", exclude={"source_path"}, exclude_none=True),
                            "business_rules": {"severity": {"container_check_digit": "blocking"}}}, db_url=db_url)
    assert _extract(stricter)[1] == 0
    res = P.run_table("arribos", mode="full", cfg=stricter)
    assert res.status == "ok" and res.counts["rejected"] == 1  # GESU1000001 now blocked...
    assert res.counts["deactivated"] == 0  # ...but its key is still in the source: not deactivated


def test_full_run_deactivates_only_the_row_gone_from_the_source(src, exits_cfg):
    P.run_table("arribos", mode="full", cfg=exits_cfg)
    src.execute("""DELETE FROM arribos WHERE "Contenedor" = 'CSQU3054383'""")
    res = P.run_table("arribos", mode="full", cfg=exits_cfg)
    assert res.counts["deactivated"] == 1 and res.counts["unchanged"] == 3
    assert src.execute("SELECT sync_key FROM traficov2_arribos WHERE NOT activo").fetchall() == [("CSQU3054383",)]


def test_an_unread_row_still_wins_over_an_older_duplicate(src, exits_cfg):
    """Two source rows with one key: the later wins. When the winner is unchanged (not read),
    the loser, read again because no target row comes from it, must not overwrite it."""
    src.execute("""INSERT INTO arribos ("Fecha", "Contenedor", "Cliente", "Peso", updated_at)
                   SELECT "Fecha", "Contenedor", 'Gana', "Peso", updated_at + interval '1 minute' FROM arribos
                   WHERE "Contenedor" = 'CSQU3054383'""")
    first = P.run_table("arribos", mode="full", cfg=exits_cfg)
    assert first.counts["duplicates"] == 1
    key = "SELECT \"Cliente\", source_id FROM traficov2_arribos WHERE sync_key = 'CSQU3054383'"
    winner = src.execute(key).fetchone()
    assert winner[0] == "Gana"
    for mode in ("full", "incremental"):  # (the read path: a source that did not change is not read by default)
        res = P.run_table("arribos", mode=mode, cfg=exits_cfg, skip_unchanged=False)
        assert res.status == "ok" and res.counts["updated"] == 0 and res.counts["duplicates"] == 1
        assert src.execute(key).fetchone() == winner
    # the older row changes later: now it is the latest, and it wins
    src.execute("""UPDATE arribos SET "Cliente" = 'Ahora gana', updated_at = now() + interval '1 hour'
                   WHERE "Contenedor" = 'CSQU3054383' AND "Cliente" = 'Cliente Tres'""")
    res = P.run_table("arribos", mode="full", cfg=exits_cfg)
    assert res.counts["updated"] == 1
    assert src.execute(key).fetchone()[0] == "Ahora gana"
    assert P.run_table("arribos", mode="full", cfg=exits_cfg, skip_unchanged=False).counts["updated"] == 0
    assert src.execute(key).fetchone()[0] == "Ahora gana"
