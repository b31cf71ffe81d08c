"""What the live operational data does to a run (issue 21, the data part): typed columns holding
missing values and float-looking integers, keys the database cannot index, quantities without a
ceiling, the nightly full run after a week of turnover, CSV exports that lack columns.

Every scenario runs on the three stores (``store_config``: direct, through PgBouncer as
Supabase's pooler, and over REST through a real PostgREST); the fixtures are synthetic rows
in the live formats, shaped like the patterns found replaying real snapshots
(``scripts/replay_snapshots.py``)."""
from __future__ import annotations

import pytest

from test_engine import insert, src, store_config  # noqa: F401  (fixtures)
from trafico_lib import pipeline as P

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
    for quantity, active in [("2", 2), ("1", 1), ("0", 0), ("", 1), ("3.0", 3), ("2", 2)]:
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
            res = _run(cfg, table, mode)
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
