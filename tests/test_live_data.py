"""What the live operational data does to a run (issue 21, the data part): typed columns holding
missing values and float-looking integers, keys the database cannot index, quantities without a
ceiling, the nightly full run after a week of turnover, CSV exports that lack columns.

Every scenario runs on both stores (``store_config``: direct, and over REST through a real
PostgREST), which type and write the values each their own way. Not through PgBouncer: there
the direct store runs the same statements, inside one transaction; what that changes is proven
by test_engine's scenarios marked for the pooler. The fixtures are synthetic rows in the live
formats, shaped like the patterns found replaying real snapshots (``scripts/replay_snapshots.py``)."""
from __future__ import annotations

import pytest

from rest_server import reload_schema_and_wait
from test_engine import direct_and_rest, insert, src, store_config  # noqa: F401  (fixtures)
from trafico_lib import pipeline as P

pytestmark = direct_and_rest

EXPO = "arribos_expo_ctns"
BOOKING = {"Fecha": "02/12/2026", "Booking": "BKG 26110 01", "Cliente": "Textil Aguaribay SRL", "Dimension": "40",
           "Tipo": "HC", "Origen": "Terminal Norte"}


@pytest.fixture
def live_cfg(store_config, tmp_path):
    """The store under test, CSV inputs (exit records, availability) from an empty folder."""
    data = tmp_path / "csv"
    data.mkdir()
    return lambda extra=None: store_config({"csv_sources": {"data_path": str(data)}, **(extra or {})})


def _run(cfg, table, mode="incremental", **kw):
    res = P.run_table(table, mode=mode, cfg=cfg, **kw)
    assert res.status == "ok", res.error
    return res


def _database_rejects(conn) -> list:
    """Rejects the database itself refused (a value staging wrote in a form its column cannot read)."""
    return conn.execute("SELECT sync_key, reasons FROM traficov2_sync_rejects "
                        "WHERE reasons::text LIKE '%database:%'").fetchall()


def _slots(conn) -> dict[str, tuple]:
    return {k: (seq, qty, cont, act) for k, seq, qty, cont, act in conn.execute(
        'SELECT sync_key, "Secuencia", "Cantidad", "Contenedor", activo FROM traficov2_arribos_ctns_expo')}


# ---- A: typed columns -------------------------------------------------------------------------

def test_live_data_expo_quantity_down_empty_junk_and_arrivals_sync_on_every_store(src, live_cfg):
    """A booking's ``Cantidad`` going down (3 -> 2 -> 1 -> 0), emptied, junk, back up, and a container
    arriving on the pending row: every run exits ok and no slot is refused by the database
    (before: ``invalid input syntax for type bigint: "1.0"`` on every run; over REST every slot
    but one "rejected" with ``bigint "8.0"``: a slot without a source row of its own had a missing
    position, which made the column float, and its whole numbers were written ``1.0``)."""
    cfg = live_cfg()
    insert(src, EXPO, [{**BOOKING, "Cantidad": "3"}, {**BOOKING, "Booking": "BKG2611002", "Cantidad": "2,0"}])
    _run(cfg, EXPO, "full")
    assert {k: v[:2] for k, v in _slots(src).items() if v[3]} == {
        "BKG2611001|1": (1, 1), "BKG2611001|2": (2, 1), "BKG2611001|3": (3, 1),
        "BKG2611002|1": (1, 1), "BKG2611002|2": (2, 1)}
    for quantity, active in [("2", 2), ("1", 1), ("0", 1), ("", 1), ("3.0", 3), ("2", 2)]:
        src.execute("""UPDATE arribos_expo_ctns SET "Cantidad" = %s WHERE "Booking" = 'BKG 26110 01'""",
                    (quantity,))
        res = _run(cfg, EXPO, "full" if quantity == "0" else "incremental")
        assert not _database_rejects(src), (quantity, _database_rejects(src))
        live = sorted(k for k, v in _slots(src).items() if v[3] and k.startswith("BKG2611001"))
        assert live == [f"BKG2611001|{i}" for i in range(1, active + 1)], (quantity, live)
        assert res.counts["rejected"] == 0, (quantity, res.counts)
    # the container arrives on the pending row: it takes the first slot, the others stay pending
    src.execute("""UPDATE arribos_expo_ctns SET "Contenedor" = 'MSCU-123456-6', "Cantidad" = '1'
                   WHERE "Booking" = 'BKG2611002'""")
    _run(cfg, EXPO)
    assert not _database_rejects(src)
    slots = _slots(src)
    assert slots["BKG2611002|1"] == (1, 1, "MSCU1234566", True)
    # and nothing left to do: the slots as written are the slots the next run computes
    again = _run(cfg, EXPO)
    assert (again.counts["inserted"], again.counts["updated"]) == (0, 0), again.counts


def test_a_booking_with_cantidad_0_and_no_container_is_one_slot_on_every_store(src, live_cfg):
    """Issue 22 point 7: the old tool kept a booking row with ``Cantidad`` 0 and no container as
    one record; trafico gave it no slot, so it vanished without a trace. It is one slot with
    ``Cantidad`` 0, its warning listed, counted as read and inserted, not rejected."""
    cfg = live_cfg()
    insert(src, EXPO, [{**BOOKING, "Cantidad": "0", "Contenedor": "-"},
                       {**BOOKING, "Booking": "BKG2611002", "Cantidad": "2"}])
    res = _run(cfg, EXPO, "full")
    assert (res.counts["read"], res.counts["inserted"], res.counts["rejected"]) == (2, 3, 0), res.counts
    rows = {k: (seq, qty, cont, act, warn, cli) for k, seq, qty, cont, act, warn, cli in src.execute(
        'SELECT sync_key, "Secuencia", "Cantidad", "Contenedor", activo, validation_warnings, "Cliente" '
        "FROM traficov2_arribos_ctns_expo")}
    assert rows["BKG2611001|1"] == (1, 0, None, True, ["cantidad_positive"], BOOKING["Cliente"])
    assert {k: v[:4] for k, v in rows.items() if k.startswith("BKG2611002")} == {
        "BKG2611002|1": (1, 1, None, True), "BKG2611002|2": (2, 1, None, True)}
    again = _run(cfg, EXPO, "full")
    assert (again.counts["inserted"], again.counts["updated"]) == (0, 0), again.counts


def test_live_data_integer_column_with_missing_values_syncs_on_every_store(src, live_cfg):
    """``pendiente_desconsolidar.Cantidad`` (integer) with missing, placeholder and float-looking
    values, then a change: written as the integers they are, on every store."""
    cfg = live_cfg()
    rows = [{"Contenedor": f"MSCU{i:06d}{d}", "Cliente": "A", "Cantidad": q, "Peso": p}
            for i, (d, q, p) in enumerate([(6, "3", "1.429,5"), (0, "", "-"), (4, None, None), (8, "2.0", "12"),
                                           (2, "-", "7,25")], start=123450)]
    insert(src, "pendiente_desconsolidar", rows)
    _run(cfg, "pendiente_desconsolidar", "full")
    src.execute("""UPDATE pendiente_desconsolidar SET "Cantidad" = '5' WHERE "Cantidad" = '3'""")
    _run(cfg, "pendiente_desconsolidar")
    assert not _database_rejects(src)
    got = dict(src.execute('SELECT "Cliente" || sync_key, "Cantidad" FROM traficov2_pendiente_desconsolidar'))
    assert sorted(got.values(), key=lambda v: (v is None, v)) == [2, 5, None, None, None]


def _rejects(conn) -> list[tuple]:
    return conn.execute("SELECT sync_key, reasons FROM traficov2_sync_rejects ORDER BY id").fetchall()


# ---- B: a key the database cannot index ---------------------------------------------------------

def test_key_too_long_to_index_is_its_rows_reject_on_every_store(src, live_cfg):
    """A 10,000-character key (and a 10,000-character booking on the slot table) is that row's
    reject with its reason; the table's other rows sync, on every run (before: ``index row
    requires 10016 bytes`` failed the whole table every run)."""
    cfg = live_cfg()
    long_key = "MSCU" + "1234567890" * 1000
    insert(src, "arribos", [{"Contenedor": long_key, "Cliente": "A"}, {"Contenedor": "TCNU 720079 4", "Cliente": "B"}])
    insert(src, EXPO, [{**BOOKING, "Booking": "B" * 10_000, "Cantidad": "1"}, {**BOOKING, "Cantidad": "1"}])
    for mode in ("full", "incremental"):
        for table in ("arribos", EXPO):
            res = _run(cfg, table, mode, skip_unchanged=False)  # read again (else: unchanged, its log row only)
            assert res.counts["rejected"] == 1, (table, res.counts)
    assert [k for (k,) in src.execute("SELECT sync_key FROM traficov2_arribos")] == ["TCNU7200794"]
    assert [k for (k,) in src.execute("SELECT sync_key FROM traficov2_arribos_ctns_expo")] == ["BKG2611001|1"]
    reasons = [r for _, r in _rejects(src)]
    assert reasons and all(r[0] == "key_too_long" for r in reasons), reasons  # blocking rules first


# ---- C: a ceiling on the slot quantity -----------------------------------------------------------

def test_max_quantity_rejects_the_booking_row_and_keeps_its_slots_on_every_store(src, live_cfg):
    """``Cantidad`` above ``max_quantity`` (default 500; 10**9 ran out of memory), negative, or
    unreadable: the booking row is a reject with its reason, never truncated, and the booking's
    slots stay as they were, a full run included; fixed, the booking syncs again."""
    cfg = live_cfg()
    other = {**BOOKING, "Booking": "BKG2611002", "Cantidad": "1"}
    insert(src, EXPO, [{**BOOKING, "Cantidad": "2"}, other])
    _run(cfg, EXPO, "full")
    before = _slots(src)
    for quantity, reason in [("20000", "quantity_above_max"), ("1000000000", "quantity_above_max"),
                             ("-5", "quantity_negative"), ("abc", "parseable_Cantidad")]:
        src.execute("""UPDATE arribos_expo_ctns SET "Cantidad" = %s WHERE "Booking" = 'BKG 26110 01'""", (quantity,))
        res = _run(cfg, EXPO, "full")
        assert res.counts["rejected"] == 1 and res.counts["deactivated"] == 0, (quantity, res.counts)
        key, reasons = _rejects(src)[-1]
        assert key == "BKG2611001" and reasons[0] == reason, (quantity, reasons)  # blocking rules first
        assert _slots(src) == before, quantity
    src.execute("""UPDATE arribos_expo_ctns SET "Cantidad" = '500' WHERE "Booking" = 'BKG 26110 01'""")
    res = _run(cfg, EXPO)
    assert res.counts["rejected"] == 0 and sum(1 for k, v in _slots(src).items() if v[3]) == 501


def test_max_quantity_is_configurable_and_validated(src, live_cfg):
    from trafico_lib.errors import ConfigError
    cfg = live_cfg({"sync_settings": {EXPO: {"max_quantity": 3}}})
    insert(src, EXPO, [{**BOOKING, "Cantidad": "4"}, {**BOOKING, "Booking": "BKG2611002", "Cantidad": "3"}])
    res = _run(cfg, EXPO, "full")
    assert res.counts["rejected"] == 1 and _rejects(src) == [("BKG2611001", ["quantity_above_max"])]
    with pytest.raises(ConfigError, match="max_quantity"):
        live_cfg({"sync_settings": {EXPO: {"max_quantity": 0}}})


# ---- D: the nightly full run judges the source, not the target's turnover -------------------

PD = "pendiente_desconsolidar"


def _containers(prefix: str, n: int) -> list[str]:
    from trafico_lib.rules.iso6346 import check_digit
    return [f"{prefix}U{i:06d}" + str(check_digit(f"{prefix}U{i:06d}")) for i in range(n)]


def _week(conn, containers: list[str]) -> None:
    """The source now holds exactly these containers (a weekly table turning over)."""
    conn.execute("DELETE FROM pendiente_desconsolidar")
    insert(conn, PD, [{"Contenedor": c, "Cliente": "Cliente", "Cantidad": "1"} for c in containers])


def _source_rows(conn, target: str) -> int | None:
    got = conn.execute("SELECT source_rows FROM traficov2_sync_state WHERE table_name = %s", (target,)).fetchone()
    return got[0] if got else None


def test_nightly_full_run_after_a_week_of_turnover_is_synced_not_refused(src, live_cfg):
    """A small table whose source keeps its size while its rows turn over during incremental runs
    (which never deactivate): the next full run deactivates 75 % of the active target rows and
    is synced, not refused (before: ``refused to deactivate 9 of its 12 active rows``). Every
    successful run that read the whole source records its row count."""
    cfg = live_cfg()
    _week(src, _containers("MSC", 3))
    _run(cfg, PD, "full")
    assert _source_rows(src, "traficov2_pendiente_desconsolidar") == 3
    for prefix in ("TCN", "CSQ"):
        _week(src, _containers(prefix, 3))
        _run(cfg, PD)
    last = _containers("GYO", 3)
    _week(src, last)
    src.execute("""UPDATE traficov2_pendiente_desconsolidar SET "Cliente" = 'x'""")  # changed rows wait no more
    res = _run(cfg, PD, "full")
    assert (res.counts["inserted"], res.counts["deactivated"]) == (3, 9), res.counts
    active = [k for (k,) in src.execute("SELECT sync_key FROM traficov2_pendiente_desconsolidar WHERE activo "
                                        "ORDER BY 1")]
    assert active == sorted(last)
    assert _source_rows(src, "traficov2_pendiente_desconsolidar") == 3


def test_full_run_over_a_source_cut_to_a_tenth_is_refused_and_writes_nothing(src, live_cfg):
    """The source drops to 10 % of its count at the last successful run: the full run is refused
    with one line saying what to do, nothing of the table is written (not its changed rows
    either), and the next successful run's count is not the short one; allowed explicitly, it
    goes through."""
    cfg = live_cfg()
    rows = _containers("MSC", 200)
    _week(src, rows)
    _run(cfg, PD, "full")
    _week(src, rows[:20])
    src.execute("""UPDATE pendiente_desconsolidar SET "Cliente" = 'Nuevo'""")
    before = src.execute('SELECT sync_key, "Cliente", activo FROM traficov2_pendiente_desconsolidar '
                         'ORDER BY 1').fetchall()
    refused = P.run_table(PD, mode="full", cfg=cfg)
    assert refused.status == "error" and "\n" not in refused.error, refused.error
    assert refused.error.startswith("pendiente_desconsolidar: refused: the source holds 20 rows, 10% of the 200")
    assert "--allow-mass-deactivation" in refused.error
    assert src.execute('SELECT sync_key, "Cliente", activo FROM traficov2_pendiente_desconsolidar '
                       'ORDER BY 1').fetchall() == before
    assert src.execute("SELECT count(*) FROM traficov2_sync_changes").fetchone()[0] == 0
    assert _source_rows(src, "traficov2_pendiente_desconsolidar") == 200
    allowed = _run(cfg, PD, "full", allow_mass_deactivation=True)
    assert (allowed.counts["updated"], allowed.counts["deactivated"]) == (20, 180)
    assert _source_rows(src, "traficov2_pendiente_desconsolidar") == 20


def test_a_weekly_export_starting_the_week_over_is_synced_not_refused(src, live_cfg):
    """Replayed live data: the week's dispatches go from 99 rows to 1 when the week starts over,
    the export bookings from 36 to 1. A small table losing most of its rows (fewer than
    ``MIN_ROWS_JUDGED``) is ordinary turnover, synced by the full run; an empty source is not."""
    cfg = live_cfg()
    rows = _containers("MSC", 40)
    _week(src, rows)
    _run(cfg, PD, "full")
    _week(src, _containers("TCN", 1))
    res = _run(cfg, PD, "full")
    assert (res.counts["inserted"], res.counts["deactivated"]) == (1, 40)
    src.execute("DELETE FROM pendiente_desconsolidar")
    refused = P.run_table(PD, mode="full", cfg=cfg)
    assert refused.status == "error" and "refused to deactivate 1 of its 1 active rows" in refused.error


def test_first_full_run_refuses_only_an_empty_source_over_a_filled_target(src, live_cfg):
    """No count yet (a first run, or a table last synced before counts were kept): a shrunk
    source is not judged, but an empty one over a target with active rows is refused; an empty
    source over an empty target is fine."""
    cfg = live_cfg()
    assert _run(cfg, PD, "full").counts["read"] == 0  # empty source, empty target
    _week(src, _containers("MSC", 10))
    _run(cfg, PD, "full")
    src.execute("UPDATE traficov2_sync_state SET source_rows = NULL")  # as an older version left it
    _week(src, _containers("MSC", 1))
    assert _run(cfg, PD, "full").counts["deactivated"] == 9  # nothing to compare with: synced
    assert _source_rows(src, "traficov2_pendiente_desconsolidar") == 1
    src.execute("UPDATE traficov2_sync_state SET source_rows = NULL")
    src.execute("DELETE FROM pendiente_desconsolidar")
    refused = P.run_table(PD, mode="full", cfg=cfg)
    assert refused.status == "error" and "refused to deactivate 1 of its 1 active rows" in refused.error
    assert src.execute("SELECT count(*) FROM traficov2_pendiente_desconsolidar WHERE activo").fetchone()[0] == 1


def test_incremental_runs_by_timestamp_keep_the_last_whole_count(src, live_cfg):
    """An incremental run that read only the changed rows (a change-timestamp source) keeps the
    count of the last run that read the whole source."""
    cfg = live_cfg({"database": {"lookback_minutes": 0}})
    insert(src, "arribos", [{"Contenedor": c, "Cliente": "A"} for c in _containers("MSC", 4)])
    _run(cfg, "arribos", "full")
    src.execute("""UPDATE arribos SET "Cliente" = 'B', updated_at = now() WHERE id = 1""")
    assert _run(cfg, "arribos").counts["read"] == 1
    assert _source_rows(src, "traficov2_arribos") == 4


# ---- E: a CSV export that lacks a column leaves that column alone --------------------------------

def _write_csv(path, columns: list[str], rows: list[dict]) -> None:
    import csv
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(columns)
        w.writerows([[r.get(c, "") for c in columns] for r in rows])


def test_csv_export_without_a_column_leaves_it_alone_on_every_store(src, store_config, tmp_path):
    """The week's arrivals exported without ``Estado`` and ``Tiempo`` (the live export has no
    ``Tiempo`` and no ``Chofer``, and an extra ``arribado``): the target keeps both columns'
    values, only the row that really changed is updated, a new row gets none, the log row names
    the columns left alone, and the next run writes nothing. Before: every status the desk had
    not typed was erased ("Updated 3"), or the file was refused for its missing ``Tiempo``."""
    data = tmp_path / "csv"
    data.mkdir()
    cfg = store_config({"csv_sources": {"data_path": str(data)}, "sync_settings": {"arribos": {"source": "csv"}}})
    path = data / "arribos_semana.csv"
    from trafico_lib.tables import TABLES
    full = TABLES["arribos"].column_names
    rows = [{"Fecha": "01/12/2026", "Contenedor": c, "Cliente": "Cliente", "Tiempo": "2 h", "Estado": "En terminal",
             "Peso": "1.429,5", "Turno": "0700 "} for c in _containers("MSC", 3)]
    _write_csv(path, full, rows)
    _run(cfg, "arribos", "full")
    src.execute("""UPDATE traficov2_arribos SET "Chofer" = 'PEREZ' WHERE sync_key = %s""", (rows[0]["Contenedor"],))
    lacking = [c for c in full if c not in ("Tiempo", "Estado", "Chofer")] + ["arribado"]
    rows[1]["Cliente"] = "Cliente Nuevo"
    new = {"Fecha": "02/12/2026", "Contenedor": _containers("TCN", 1)[0], "Cliente": "Otro", "arribado": "1"}
    _write_csv(path, lacking, [*rows, new])
    for mode in ("full", "incremental"):
        res = _run(cfg, "arribos", mode)
        if mode == "full":
            assert (res.counts["inserted"], res.counts["updated"]) == (1, 1), res.counts
        else:
            assert (res.counts["inserted"], res.counts["updated"]) == (0, 0), res.counts
    got = {k: v for k, *v in src.execute('SELECT sync_key, "Estado", "Tiempo", "Chofer", "Cliente" '
                                         'FROM traficov2_arribos')}
    assert got == {rows[0]["Contenedor"]: ["En terminal", "2 h", "PEREZ", "Cliente"],
                   rows[1]["Contenedor"]: ["En terminal", "2 h", None, "Cliente Nuevo"],
                   rows[2]["Contenedor"]: ["En terminal", "2 h", None, "Cliente"],
                   new["Contenedor"]: [None, None, None, "Otro"]}
    details = [d for (d,) in src.execute("SELECT details FROM traficov2_sync_log WHERE operation = 'SYNC' "
                                         "ORDER BY id")]
    assert details[-1]["columns_left_alone"] == ["Tiempo", "Estado", "Chofer"] and details[0]["columns_left_alone"] is None
    # the column comes back: its values are the source's again
    rows[2]["Estado"] = "Demorado"
    _write_csv(path, full, [*rows, new])
    _run(cfg, "arribos", "full")
    assert src.execute("""SELECT "Estado" FROM traficov2_arribos WHERE sync_key = %s""",
                       (rows[2]["Contenedor"],)).fetchone() == ("Demorado",)


def test_csv_export_without_its_key_column_is_refused(src, live_cfg, tmp_path):
    """No key column, no row can be matched: the run fails with one line naming the file and
    the column, and writes nothing."""
    cfg = live_cfg({"sync_settings": {"arribos": {"source": "csv"}}})
    path = cfg.csv_path("arribos_semana")
    _write_csv(path, ["Fecha", "Cliente"], [{"Fecha": "01/12/2026", "Cliente": "A"}])
    res = P.run_table("arribos", mode="full", cfg=cfg)
    assert res.status == "error" and "\n" not in res.error
    assert res.error.startswith(f"{path}: missing column 'Contenedor'"), res.error
    assert src.execute("SELECT count(*) FROM traficov2_arribos").fetchone()[0] == 0


def test_source_table_without_a_column_leaves_it_alone_on_every_store(src, store_config, tmp_path):
    """The database's source table, not only a CSV export, may lack a column (the live
    ``arribos`` has no ``Tiempo``): its values in the target are left alone, not erased as if
    the source had emptied it, on the direct, pooled and REST paths; a source table without
    its key column is refused in one line."""
    cfg = store_config({"csv_sources": {"data_path": str(tmp_path)}})
    rows = [{"Fecha": "01/12/2026", "Contenedor": c, "Cliente": "Cliente", "Tiempo": "2 h", "Estado": "En terminal"}
            for c in _containers("MSC", 3)]
    insert(src, "arribos", rows)
    _run(cfg, "arribos", "full")
    src.execute('ALTER TABLE arribos DROP COLUMN "Tiempo", DROP COLUMN "Estado"')
    src.execute("""UPDATE arribos SET "Cliente" = 'Cliente Nuevo', updated_at = now() WHERE "Contenedor" = %s""",
                (rows[1]["Contenedor"],))
    reload_schema_and_wait(src, cfg, "arribos", lacks="Tiempo")  # PostgREST learns the table changed, as Supabase's does
    res = _run(cfg, "arribos", "full")
    assert (res.counts["inserted"], res.counts["updated"]) == (0, 1), res.counts
    assert _run(cfg, "arribos", "full").counts["updated"] == 0
    got = {k: v for k, *v in src.execute('SELECT sync_key, "Tiempo", "Estado", "Cliente" FROM traficov2_arribos')}
    assert got == {rows[0]["Contenedor"]: ["2 h", "En terminal", "Cliente"],
                   rows[1]["Contenedor"]: ["2 h", "En terminal", "Cliente Nuevo"],
                   rows[2]["Contenedor"]: ["2 h", "En terminal", "Cliente"]}
    src.execute('ALTER TABLE arribos DROP COLUMN "Contenedor"')
    reload_schema_and_wait(src, cfg, "arribos", lacks="Contenedor")
    res = P.run_table("arribos", mode="full", cfg=cfg)
    assert res.status == "error" and "no 'Contenedor' column" in res.error, res.error
