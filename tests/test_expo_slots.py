"""Quantity expansion and container assignment (expo), over successive runs against the real target.

Each run: normalize the source text, read the current slots from ``traficov2_arribos_ctns_expo``,
``expand_slots``, write the slots back the way the sync does (``trafico.sync`` on, so the
manual-edit trigger stays quiet). The traffic desk's edits are plain UPDATEs, so the real
trigger sets ``manual_updated_at``.
"""
from __future__ import annotations

import random
from datetime import date

import pandas as pd
import pytest

from trafico_lib.errors import SyncFailed
from trafico_lib.enrich import expand_slots, slot_summary
from trafico_lib.normalize import normalize_frame
from trafico_lib.tables import TABLES

SPEC = TABLES["arribos_expo_ctns"]
TARGET = SPEC.target
RUN_DATE = date(2026, 12, 1)
EXISTING_COLS = ["sync_key", "Booking", "Secuencia", "Contenedor", "Chofer", "Obs.", "Estado",
                 "activo", "manual_updated_at"]


# ---- helpers: the source, the target, the desk -------------------------------------------

def source(*rows: dict) -> pd.DataFrame:
    """Raw live-format rows -> the normalized frame the enrich step receives."""
    raw = pd.DataFrame([{c: r.get(c) for c in SPEC.column_names} for r in rows])
    raw["_row"] = range(2, len(rows) + 2)
    raw["_source_id"] = [r.get("id", str(i + 1)) for i, r in enumerate(rows)]
    frame = normalize_frame(raw, SPEC, RUN_DATE).frame
    frame["validation_warnings"] = [list(r.get("warnings", [])) for r in rows]
    return frame


def availability(*pairs: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame({"Booking": [b for b, _ in pairs], "Contenedor": [c for _, c in pairs],
                         "Fecha": ["27/11/2026"] * len(pairs)})


def read_existing(conn) -> pd.DataFrame:
    cols = ", ".join(f'"{c}"' for c in EXISTING_COLS)
    cur = conn.execute(f"SELECT {cols} FROM {TARGET} ORDER BY sync_key")
    return pd.DataFrame(cur.fetchall(), columns=EXISTING_COLS)


def write_slots(conn, slots: pd.DataFrame) -> None:
    """Upsert the slots as the sync would (business columns, activo; manual_updated_at untouched)."""
    cols = SPEC.target_column_names + ["sync_key", "activo"]
    names = ", ".join(f'"{c}"' for c in cols)
    sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in cols if c != "sync_key")
    marks = ", ".join(["%s"] * len(cols))
    rows = [tuple(None if pd.isna(v) else (int(v) if c in ("Cantidad", "Secuencia") else v)
                  for c, v in zip(cols, rec))
            for rec in slots[cols].astype(object).itertuples(index=False)]
    with conn.transaction():
        conn.execute("SET LOCAL trafico.sync = 'on'")
        with conn.cursor() as cur:
            cur.executemany(f"INSERT INTO {TARGET} ({names}) VALUES ({marks}) "
                            f"ON CONFLICT (sync_key) DO UPDATE SET {sets}", rows)


def run(conn, src: pd.DataFrame, avail: pd.DataFrame | None = None, **flags) -> pd.DataFrame:
    slots = expand_slots(src, read_existing(conn), avail, spec=SPEC, **flags)
    check_invariants(slots)
    write_slots(conn, slots)
    return slots


def desk_sets(conn, sync_key: str, **fields) -> None:
    """A traffic-desk edit: a plain UPDATE, so the trigger marks the row manual."""
    sets = ", ".join(f'"{k}" = %s' for k in fields)
    conn.execute(f"UPDATE {TARGET} SET {sets} WHERE sync_key = %s", (*fields.values(), sync_key))


def check_invariants(slots: pd.DataFrame) -> None:
    assert slots["sync_key"].is_unique
    assert (slots["sync_key"] == slots["Booking"] + "|" + slots["Secuencia"].astype(str)).all()
    zero = {b for b, d in slots.attrs.get("demand", {}).items() if d == 0}  # one slot standing for Cantidad 0
    active = slots[slots["activo"]]
    assert (active.loc[~active["Booking"].isin(zero), "Cantidad"] == 1).all()
    assert (active.loc[active["Booking"].isin(zero), "Cantidad"] == 0).all()
    placed = slots["Contenedor"].dropna()
    assert placed.is_unique, f"a container in two slots: {placed[placed.duplicated()].tolist()}"
    assert not slots.loc[~slots["activo"], "Contenedor"].notna().any(), "an inactive slot holds a container"


def slot(slots: pd.DataFrame, key: str) -> pd.Series:
    hit = slots[slots["sync_key"] == key]
    assert len(hit) == 1, f"{key} not in {slots['sync_key'].tolist()}"
    return hit.iloc[0]


def containers(slots: pd.DataFrame, booking: str) -> dict[int, str | None]:
    part = slots[(slots["Booking"] == booking) & slots["activo"]]
    return dict(zip(part["Secuencia"].astype(int), part["Contenedor"]))


def active_count(slots: pd.DataFrame, booking: str) -> int:
    return int(((slots["Booking"] == booking) & slots["activo"]).sum())


A = dict(Fecha="02/12", Booking="bkg 26110 01", Cliente="Textil Aguaribay SRL", Dimension="40", Tipo="HC",
         Origen="Terminal Norte")
B = dict(Fecha="01/12/2026", Booking="BKG2611002", Cliente="Cerámicas Tala SA", Dimension="20", Tipo="DRY")


# ---- the main story ------------------------------------------------------------------------

def test_containers_arrive_one_by_one_and_the_driver_stays(conn):
    # run 1: two bookings pending, nothing known yet
    src1 = source({**A, "Cantidad": "3", "Contenedor": "-", "warnings": ["booking_format"]},
                  {**B, "Cantidad": "2,0", "Contenedor": ""})
    s1 = run(conn, src1)
    assert s1["sync_key"].tolist() == ["BKG2611002|1", "BKG2611002|2",  # earliest Fecha first
                                       "BKG2611001|1", "BKG2611001|2", "BKG2611001|3"]
    assert s1["Contenedor"].isna().all() and s1["activo"].all()
    a2 = slot(s1, "BKG2611001|2")
    assert (a2["Cliente"], a2["Tipo"], a2["Fecha"]) == ("Textil Aguaribay SRL", "HC", date(2026, 12, 2))
    assert a2["validation_warnings"] == ["booking_format"] and a2["_row"] == 2  # fed by the pending row

    # the desk assigns a driver to the second pending slot of A
    desk_sets(conn, "BKG2611001|2", Chofer="PEREZ")
    assert read_existing(conn).set_index("sync_key").loc["BKG2611001|2", "manual_updated_at"] is not None

    # run 2: the availability CSV offers one container for A -> lowest empty slot
    s2 = run(conn, src1, availability(("BKG2611001", "tclu-123456-7")))
    assert containers(s2, "BKG2611001") == {1: "TCLU1234567", 2: None, 3: None}
    assert slot(s2, "BKG2611001|2")["Chofer"] == "PEREZ"

    # run 3: a second one arrives: it lands in the driver's slot and the driver stays
    avail3 = availability(("BKG2611001", "TCLU1234567"), ("bkg2611001", "MSKU 765432 1"))
    s3 = run(conn, src1, avail3)
    assert containers(s3, "BKG2611001") == {1: "TCLU1234567", 2: "MSKU7654321", 3: None}
    assert slot(s3, "BKG2611001|2")["Chofer"] == "PEREZ"

    # run 4: the source catches up (pending 1 + two container rows, demand still 3) and a
    # third container arrives through the source; B gets one through the source too
    src4 = source({**A, "Cantidad": "1", "Contenedor": None},
                  {**A, "Cantidad": "1", "Contenedor": "TCLU1234567", "Precinto": "AR1"},
                  {**A, "Cantidad": "1", "Contenedor": "MSKU-765432-1", "Precinto": "AR2"},
                  {**B, "Cantidad": "1", "Contenedor": "", "Chofer": None},
                  {**B, "Cantidad": "1", "Contenedor": "CAIU 555000 3", "warnings": ["iso6346"]})
    s4 = run(conn, src4, avail3)
    assert containers(s4, "BKG2611001") == {1: "TCLU1234567", 2: "MSKU7654321", 3: None}
    assert slot(s4, "BKG2611001|1")["Precinto"] == "AR1"  # now fed by its own source row
    assert slot(s4, "BKG2611001|2")["Chofer"] == "PEREZ"  # empty source Chofer never erases the desk's
    assert containers(s4, "BKG2611002") == {1: "CAIU5550003", 2: None}
    assert slot(s4, "BKG2611002|1")["validation_warnings"] == ["iso6346"]

    src5 = source({**A, "Cantidad": "0", "Contenedor": None},
                  {**A, "Contenedor": "TCLU1234567", "Precinto": "AR1"},
                  {**A, "Contenedor": "MSKU7654321", "Precinto": "AR2"},
                  {**A, "Contenedor": "GESU 100000 1", "Precinto": "AR3"},
                  {**B, "Cantidad": "1", "Contenedor": None},
                  {**B, "Contenedor": "CAIU5550003", "warnings": ["iso6346"]})
    s5 = run(conn, src5, avail3)
    assert containers(s5, "BKG2611001") == {1: "TCLU1234567", 2: "MSKU7654321", 3: "GESU1000001"}
    assert slot(s5, "BKG2611001|3")["Precinto"] == "AR3"
    assert slot(s5, "BKG2611001|2")["Chofer"] == "PEREZ"
    assert s5.attrs["demand"] == {"BKG2611002": 2, "BKG2611001": 3}
    assert [active_count(s5, b) for b in ("BKG2611002", "BKG2611001")] == [2, 3]

    # rerun on its own output: nothing changes, and the target holds exactly the same rows
    before = read_existing(conn)
    s6 = run(conn, src5, avail3)
    pd.testing.assert_frame_equal(s5, s6)
    pd.testing.assert_frame_equal(before, read_existing(conn))


def test_a_booking_asking_for_no_container_keeps_one_slot_with_cantidad_0(conn):
    """Issue 22 point 7: a booking whose only row says ``Cantidad`` 0 and names no container (the
    old tool kept it as one record) is one slot, ``Cantidad`` 0 on it, its row's warning
    (``cantidad_positive``) listed, never zero slots; a booking with other rows asking for
    containers keeps its usual demand."""
    C = {**B, "Booking": "BKG2611003"}
    s1 = run(conn, source({**A, "Cantidad": "0", "Contenedor": "-", "warnings": ["cantidad_positive"]},
                          {**B, "Cantidad": "1", "Contenedor": None},
                          {**C, "Cantidad": "0", "Contenedor": None, "warnings": ["cantidad_positive"]},
                          {**C, "Cantidad": "2", "Contenedor": None}))
    zero = slot(s1, "BKG2611001|1")
    assert (zero["activo"], zero["Cantidad"], zero["Contenedor"]) == (True, 0, None)
    assert zero["validation_warnings"] == ["cantidad_positive"] and zero["_row"] == 2  # fed by its own row
    assert zero["Cliente"] == A["Cliente"]
    assert s1.attrs["demand"] == {"BKG2611002": 1, "BKG2611003": 2, "BKG2611001": 0}
    assert (containers(s1, "BKG2611002"), containers(s1, "BKG2611003")) == ({1: None}, {1: None, 2: None})
    assert slot(s1, "BKG2611003|1")["Cantidad"] == 1 and slot(s1, "BKG2611003|2")["Cantidad"] == 1
    summary = slot_summary(s1, spec=SPEC).set_index("Booking")
    assert summary.loc["BKG2611001", ["demand", "slots", "empty"]].tolist() == [0, 1, 1]

    # the desk works the slot; the booking then asks for 2: the slot stays, a second one opens
    desk_sets(conn, "BKG2611001|1", Chofer="PEREZ")
    s2 = run(conn, source({**A, "Cantidad": "2", "Contenedor": None}))
    assert containers(s2, "BKG2611001") == {1: None, 2: None}
    assert slot(s2, "BKG2611001|1")["Chofer"] == "PEREZ" and slot(s2, "BKG2611001|1")["Cantidad"] == 1
    # and back to 0: the desk's slot stays (Cantidad 0), the other empty one goes
    s3 = run(conn, source({**A, "Cantidad": "0", "Contenedor": None, "warnings": ["cantidad_positive"]}))
    assert active_count(s3, "BKG2611001") == 1 and not slot(s3, "BKG2611001|2")["activo"]
    assert slot(s3, "BKG2611001|1")["Cantidad"] == 0 and slot(s3, "BKG2611001|1")["Chofer"] == "PEREZ"
    pd.testing.assert_frame_equal(s3, run(conn, source({**A, "Cantidad": "0", "Contenedor": None,
                                                         "warnings": ["cantidad_positive"]})))


def test_placed_container_never_moves_and_sits_in_one_slot(conn):
    # B (earlier) and A both offered the same container: B, the earlier booking, gets it
    src = source({**A, "Cantidad": "1", "Contenedor": None}, {**B, "Cantidad": "1", "Contenedor": None})
    s1 = run(conn, src, availability(("BKG2611001", "TCLU1234567"), ("BKG2611002", "TCLU1234567")))
    assert containers(s1, "BKG2611002") == {1: "TCLU1234567"}
    assert containers(s1, "BKG2611001") == {1: None}
    # later the source lists it under A: it stays where it was placed, and A's slot stays empty
    src2 = source({**A, "Cantidad": "0", "Contenedor": None}, {**A, "Contenedor": "TCLU1234567"},
                  {**B, "Cantidad": "1", "Contenedor": None})
    s2 = run(conn, src2)
    assert containers(s2, "BKG2611002") == {1: "TCLU1234567"}
    assert containers(s2, "BKG2611001") == {1: None}
    # a source container already placed, then also offered by availability: still one slot
    s3 = run(conn, src2, availability(("BKG2611001", "TCLU1234567")))
    assert (s3["Contenedor"] == "TCLU1234567").sum() == 1


def test_source_containers_before_availability(conn):
    src = source({**B, "Cantidad": "1", "Contenedor": None}, {**B, "Contenedor": "CAIU5550003"})
    s = run(conn, src, availability(("BKG2611002", "CAIU5550003"), ("BKG2611002", "TGHU0000018"),
                                    ("BKG2611002", "TGHU0000029")))
    # demand 2: the source container takes slot 1, availability fills slot 2, the extra one waits
    assert containers(s, "BKG2611002") == {1: "CAIU5550003", 2: "TGHU0000018"}
    assert "TGHU0000029" not in s["Contenedor"].tolist()


def test_shrinking_demand_deactivates_only_empty_unedited_slots(conn):
    C = dict(Fecha="03/12/2026", Booking="BKG2611003", Cliente="Quebracho Azul SRL", Tipo="DRY")
    s1 = run(conn, source({**C, "Cantidad": "5", "Contenedor": None}), availability(("BKG2611003", "TCLU1234567")))
    assert containers(s1, "BKG2611003") == {1: "TCLU1234567", 2: None, 3: None, 4: None, 5: None}
    desk_sets(conn, "BKG2611003|3", **{"Obs.": "llamar antes"})

    # 5 -> 4: the last empty slot goes
    s2 = run(conn, source({**C, "Cantidad": "4", "Contenedor": None}))
    assert sorted(containers(s2, "BKG2611003")) == [1, 2, 3, 4]
    gone = slot(s2, "BKG2611003|5")
    assert not gone["activo"] and gone["Cliente"] == "Quebracho Azul SRL"
    assert gone["validation_warnings"] == [] and pd.isna(gone["_row"])

    # 4 -> 1: the container's slot and the edited slot stay active, even above demand
    s3 = run(conn, source({**C, "Cantidad": "1", "Contenedor": None}))
    assert containers(s3, "BKG2611003") == {1: "TCLU1234567", 3: None}
    assert slot(s3, "BKG2611003|3")["Obs."] == "llamar antes"
    assert slot_summary(s3, spec=SPEC).set_index("Booking").loc["BKG2611003"].to_dict() == \
        {"demand": 1, "slots": 2, "filled": 1, "empty": 1, "inactive": 3}

    # back up to 4: inactive slots come back lowest first, no new Secuencia
    s4 = run(conn, source({**C, "Cantidad": "4", "Contenedor": None}))
    assert sorted(containers(s4, "BKG2611003")) == [1, 2, 3, 4]
    assert not slot(s4, "BKG2611003|5")["activo"]
    # and up to 6: slot 5 back, then a new slot 6
    s5 = run(conn, source({**C, "Cantidad": "6", "Contenedor": None}))
    assert sorted(containers(s5, "BKG2611003")) == [1, 2, 3, 4, 5, 6]


def test_bookings_gone_from_source_are_not_returned(conn):
    run(conn, source({**A, "Cantidad": "2", "Contenedor": None}, {**B, "Cantidad": "1", "Contenedor": None}))
    s = expand_slots(source({**B, "Cantidad": "1", "Contenedor": None}), read_existing(conn), spec=SPEC)
    assert set(s["Booking"]) == {"BKG2611002"}


def test_flags_from_the_old_config(conn):
    src = source({**A, "Cantidad": "3", "Contenedor": None}, {**A, "Cantidad": "2", "Contenedor": None, "Tipo": "RF"},
                 {**B, "Cantidad": "1", "Contenedor": "CAIU5550003"})
    avail = availability(("BKG2611001", "TCLU1234567"))
    # quantity_expansion off: one slot per row, its Cantidad kept
    s = expand_slots(src, None, avail, spec=SPEC, quantity_expansion=False)
    assert s.groupby("Booking").size().to_dict() == {"BKG2611001": 2, "BKG2611002": 1}
    a = s[s["Booking"] == "BKG2611001"].set_index("Secuencia")
    assert a["Cantidad"].tolist() == [3, 2] and a["Tipo"].tolist() == ["HC", "RF"]
    assert a.loc[1, "Contenedor"] == "TCLU1234567"
    # expansion on: 3 + 2 slots, the first three described by the first row, then the RF row
    s_on = expand_slots(src, None, avail, spec=SPEC)
    a_on = s_on[s_on["Booking"] == "BKG2611001"]
    assert a_on["Tipo"].tolist() == ["HC", "HC", "HC", "RF", "RF"]
    # container_assignment off: the availability CSV is ignored, source containers still placed
    s_off = expand_slots(src, None, avail, spec=SPEC, container_assignment=False)
    assert s_off["Contenedor"].dropna().tolist() == ["CAIU5550003"]


def test_deterministic_whatever_the_row_order():
    rows = [{**A, "Cantidad": "2", "Contenedor": None, "id": "10"}, {**A, "Contenedor": "TCLU1234567", "id": "11"},
            {**B, "Cantidad": "1", "Contenedor": None, "id": "12"}, {**B, "Contenedor": "CAIU5550003", "id": "13"},
            {**B, "Contenedor": "GESU1000001", "id": "14"}]
    avail = availability(("BKG2611001", "MSKU7654321"), ("BKG2611002", "TGHU0000018"))
    first = expand_slots(source(*rows), None, avail, spec=SPEC).drop(columns=["_row"])
    for seed in range(3):
        shuffled = rows[:]
        random.Random(seed).shuffle(shuffled)
        again = expand_slots(source(*shuffled), None, avail, spec=SPEC).drop(columns=["_row"])
        pd.testing.assert_frame_equal(first, again)


def test_empty_inputs():
    empty = source()
    out = expand_slots(empty, None, None, spec=SPEC)
    assert out.empty and list(out.columns)[:14] == SPEC.target_column_names
    assert slot_summary(out, spec=SPEC).empty
    with pytest.raises(SyncFailed, match="Booking and Contenedor"):
        expand_slots(source({**A, "Cantidad": "1"}), None, pd.DataFrame({"Contenedor": ["X"]}), spec=SPEC)


def test_priority_is_the_earliest_fecha_of_the_booking():
    # A's earliest row (28/11) is before B's only row (01/12), though A's other row is later
    src = source({**A, "Fecha": "05/12/2026", "Cantidad": "1", "Contenedor": None},
                 {**A, "Fecha": "28/11/2026", "Cantidad": "1", "Contenedor": None},
                 {**B, "Cantidad": "1", "Contenedor": None})
    s = expand_slots(src, None, availability(("BKG2611002", "TCLU1234567"), ("BKG2611001", "TCLU1234567")),
                     spec=SPEC)
    assert s["Booking"].tolist()[0] == "BKG2611001"
    assert containers(s, "BKG2611001") == {1: "TCLU1234567", 2: None}
    assert containers(s, "BKG2611002") == {1: None}


def test_slot_columns_come_from_the_spec_not_the_table_name():
    """A table with other column names and another name slots the same way through its trait."""
    from dataclasses import replace

    from trafico_lib.tables import Column, Slots
    rename = {"Booking": "Pedido", "Contenedor": "Caja", "Cantidad": "Bultos"}
    other = replace(SPEC, name="pedidos", slots=Slots(group="Pedido", sequence="Orden", quantity="Bultos",
                                                      item="Caja"),
                    columns=tuple(Column(rename.get(c.name, c.name), c.type) for c in SPEC.columns))
    src = source({**A, "Cantidad": "2", "Contenedor": None}, {**B, "Contenedor": "CAIU5550003"})
    avail = availability(("BKG2611001", "TCLU1234567"))
    expected = expand_slots(src, None, avail, spec=SPEC)
    got = expand_slots(src.rename(columns=rename), None, avail.rename(columns=rename), spec=other)
    renamed = {**rename, "Secuencia": "Orden"}
    pd.testing.assert_frame_equal(got, expected.rename(columns=renamed))
    assert slot_summary(got, spec=other).to_dict("records") == [
        {("Pedido" if k == "Booking" else k): v for k, v in r.items()}
        for r in slot_summary(expected, spec=SPEC).to_dict("records")]
    with pytest.raises(ValueError, match="no slots"):
        expand_slots(src, None, None, spec=TABLES["arribos"])
