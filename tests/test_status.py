"""Realizado status from the ``salidas`` CSV: loading, matching, formatting, and saying why not."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from trafico_lib.enrich import StatusTemplateError, apply_status, default_template, expand_slots, load_exits
from trafico_lib.normalize import normalize_frame
from trafico_lib.tables import TABLES

BA = ZoneInfo("America/Argentina/Buenos_Aires")

SALIDAS = (  # semicolon-separated cp1252, live spellings: padded numbers, dashed containers, several formats
    "orden_ing;suborden;renglon;contenedor;validada;usuario;puerta\r\n"
    "037644;1;1;MSCU-123456-6;28/11/2026 09:50;aruiz;Puerta Norte\r\n"
    "37644;1;1;MSCU1234566;2026-11-28 10:15:00;jgarcía;Puerta Sur\r\n"   # the same exit, later: wins
    "37645;2;3;;2026-11-28 08:05;mlopez;\r\n"
    "37650;1;1;tclu 123456 7;2026-11-28T17:32:00Z;aruiz;Puerta Norte\r\n"  # UTC -> 14:32 local
    "37651;1;1;GESU1000001;sin fecha;aruiz;Puerta Norte\r\n"               # unreadable: ignored
)


@pytest.fixture
def cfg(tmp_path, make_config):
    (tmp_path / "exits.csv").write_bytes(SALIDAS.encode("cp1252"))
    return make_config({"csv_sources": {"data_path": str(tmp_path), "files": {"salidas": "exits.csv"}},
                        "sync_settings": {"arribos": {"status": {"template": "{validada:%H:%M} salió por {puerta}"}}}})


def frame(spec_name: str, rows: list[dict]) -> pd.DataFrame:
    spec = TABLES[spec_name]
    raw = pd.DataFrame([{c: r.get(c) for c in spec.column_names} for r in rows])
    out = normalize_frame(raw, spec, datetime(2026, 11, 28).date()).frame
    out["sync_key"] = [r["key"] for r in rows]
    return out


def test_exits_from_csv(cfg):
    exits = load_exits(cfg)
    assert (exits.source, exits.note) == ("csv", None)
    f = exits.frame
    assert list(f.columns) == ["orden_ing", "suborden", "renglon", "contenedor", "fecha_egr", "validada", "info"]
    assert len(f) == 4  # the row without a readable time is dropped
    assert f["orden_ing"].tolist() == ["37644", "37644", "37645", "37650"]
    assert f["contenedor"].tolist() == ["MSCU1234566", "MSCU1234566", None, "TCLU1234567"]
    # a file without fecha_egr: the exit time is the timestamp in validada, which stays as it came
    first = f["fecha_egr"].iloc[0]
    assert first == datetime(2026, 11, 28, 9, 50, tzinfo=BA) and first.utcoffset().total_seconds() == -3 * 3600
    assert f["fecha_egr"].iloc[3] == datetime(2026, 11, 28, 14, 32, tzinfo=BA)
    assert f["validada"].tolist()[:2] == ["28/11/2026 09:50", "2026-11-28 10:15:00"]
    assert f["info"].iloc[1] == {"usuario": "jgarcía", "puerta": "Puerta Sur"}  # cp1252 read right, no _row


def test_remisiones_match_operacion_latest_exit_wins(cfg):
    spec = TABLES["remisiones"]
    rem = frame("remisiones", [
        {"key": "37644-1-1", "Operacion": "37644-1-1", "Contenedor": "MSCU1234566", "Estado": "Pendiente"},
        {"key": "37645-2-3", "Operacion": " 37645 - 2 - 3 ", "Estado": None},
        {"key": "37644-1-2", "Operacion": "37644-1-2", "Contenedor": "MSCU1234566", "Estado": "Pendiente"},
        {"key": "x", "Operacion": None, "Estado": "Pendiente"},
    ])
    out, matches = apply_status(rem, spec, load_exits(cfg))
    assert out["Estado"].tolist() == ["10:15 Realizado", "08:05 Realizado", "Pendiente", "Pendiente"]
    assert matches.to_dict("records") == [
        {"key": "37644-1-1", "estado_before": "Pendiente", "estado_after": "10:15 Realizado",
         "fecha_egr": datetime(2026, 11, 28, 10, 15, tzinfo=BA)},
        {"key": "37645-2-3", "estado_before": None, "estado_after": "08:05 Realizado",
         "fecha_egr": datetime(2026, 11, 28, 8, 5, tzinfo=BA)},
    ]
    assert rem["Estado"].tolist()[0] == "Pendiente"  # the input frame is not modified


def test_other_tables_match_contenedor(cfg):
    exits = load_exits(cfg)
    pend = frame("pendiente_desconsolidar", [
        {"key": "MSCU1234566", "Contenedor": "MSCU-123456-6", "Estado": "En depósito"},
        {"key": "TCLU1234567", "Contenedor": "TCLU1234567"},
        {"key": "CAIU5550003", "Contenedor": "CAIU5550003", "Estado": "En depósito"},
    ])
    out, matches = apply_status(pend, TABLES["pendiente_desconsolidar"], exits)
    assert out["Estado"].tolist() == ["Realizado 28/11/2026 10:15", "Realizado 28/11/2026 14:32", "En depósito"]
    assert matches["key"].tolist() == ["MSCU1234566", "TCLU1234567"]

    # expo slots: only the slot holding the container is marked
    expo = TABLES["arribos_expo_ctns"]
    src = normalize_frame(pd.DataFrame([{"Fecha": "27/11/2026", "Booking": "BKG1", "Cantidad": "2",
                                         "Contenedor": None}]), expo, datetime(2026, 11, 28).date()).frame
    src["validation_warnings"] = [[]]
    slots = expand_slots(src, None, pd.DataFrame({"Booking": ["BKG1"], "Contenedor": ["TCLU 123456 7"]}),
                         spec=expo)
    out, _ = apply_status(slots, expo, exits)
    assert out["Estado"].tolist() == ["Realizado 28/11/2026 14:32", None]


def test_configured_template_uses_validation_info(cfg):
    arr = frame("arribos", [{"key": "MSCU1234566", "Contenedor": "MSCU1234566"}])
    template = cfg.table("arribos").status.template
    out, _ = apply_status(arr, TABLES["arribos"], load_exits(cfg), template=template)
    assert out["Estado"].tolist() == ["10:15 salió por Puerta Sur"]
    with pytest.raises(StatusTemplateError, match="unknown field 'chofer'.*available: fecha_egr, puerta, usuario, validada"):
        apply_status(arr, TABLES["arribos"], load_exits(cfg), template="{chofer} {validada}")
    with pytest.raises(StatusTemplateError, match="status template"):
        apply_status(arr, TABLES["arribos"], load_exits(cfg), template="Realizado {validada")


def test_default_templates_follow_the_live_formats():
    assert default_template(TABLES["remisiones"]) == "{fecha_egr:%H:%M} Realizado"
    for name in ("arribos", "pendiente_desconsolidar", "arribos_expo_ctns"):
        assert default_template(TABLES[name]) == "Realizado {fecha_egr:%d/%m/%Y %H:%M}"
    for name in TABLES:  # a table the old tool laid out: the old tool's text
        assert default_template(TABLES[name], legacy=True) == "Realizado {fecha_egr:%d/%m/%Y %H:%M} {validada}"
    from trafico_lib.config import status_template_problem
    for ok in ("Realizado {fecha_egr:%d/%m/%Y %H:%M} {validada}", "{validada:%H:%M} salió por {puerta}",
               "{fecha_egr:%H:%M} Realizado"):
        assert status_template_problem(ok) is None, ok
    assert status_template_problem("{fecha_egr.hora} Realizado")


def test_without_records_the_run_says_why(tmp_path, make_config, caplog):
    arr = frame("arribos", [{"key": "MSCU1234566", "Contenedor": "MSCU1234566", "Estado": "En depósito"}])
    missing = make_config({"csv_sources": {"data_path": str(tmp_path)}})
    caplog.set_level("DEBUG", logger="trafico_lib.enrich.status")  # the run warns, naming its table (pipeline)
    exits = load_exits(missing)
    assert exits.source == "none" and exits.frame.empty
    assert exits.note.startswith("status skipped:") and "salidas.csv not found" in exits.note
    assert "\n" not in exits.note and exits.note in caplog.text
    out, matches = apply_status(arr, TABLES["arribos"], exits)
    assert out["Estado"].tolist() == ["En depósito"] and matches.empty

    (tmp_path / "salidas.csv").write_text("orden_ing,contenedor,fecha\n1,MSCU1234566,28/11/2026\n")
    bad = load_exits(missing)
    assert bad.source == "none" and "needs column fecha_egr (or validada holding the exit time)" in bad.note

    off = make_config({"csv_sources": {"enabled": False, "data_path": str(tmp_path)}})
    assert "both disabled" in load_exits(off).note


def test_matching_and_template_follow_the_traits_not_the_name(cfg):
    """A table matched by operation number behaves like remisiones, whatever it is called."""
    from dataclasses import replace
    spec = replace(TABLES["remisiones"], name="remitos")
    rem = frame("remisiones", [{"key": "37645-2-3", "Operacion": "37645-2-3", "Contenedor": "MSCU1234566"}])
    out, _ = apply_status(rem, spec, load_exits(cfg))
    assert out["Estado"].tolist() == ["08:05 Realizado"]
    assert default_template(spec) == spec.status_template
    by_container = replace(spec, exit_match=TABLES["arribos"].exit_match,
                           status_template=TABLES["arribos"].status_template)
    out, _ = apply_status(rem, by_container, load_exits(cfg))
    assert out["Estado"].tolist() == ["Realizado 28/11/2026 10:15"]


def test_a_bad_template_is_configuration():
    from trafico_lib.errors import EXIT_USAGE, UsageError, exit_code
    assert issubclass(StatusTemplateError, UsageError) and issubclass(StatusTemplateError, ValueError)
    assert exit_code(StatusTemplateError("status template '{0}': use named fields")) == EXIT_USAGE


def test_a_later_done_status_of_the_source_is_kept_over_an_earlier_exit(cfg):
    """The exit for MSCU1234566 says 28/11 10:15. A source that already says done on 29/11
    keeps its status; one done earlier (27/11), or not done, takes the exit's."""
    pend = frame("pendiente_desconsolidar", [
        {"key": "MSCU1234566", "Contenedor": "MSCU1234566", "Estado": "Realizado 29/11/2026 11:20"},
    ])
    out, matches = apply_status(pend, TABLES["pendiente_desconsolidar"], load_exits(cfg))
    assert out["Estado"].tolist() == ["Realizado 29/11/2026 11:20"] and matches.empty
    for before in ("Realizado 27/11/2026 23:59", "En depósito", "Realizado"):
        pend = frame("pendiente_desconsolidar", [{"key": "MSCU1234566", "Contenedor": "MSCU1234566", "Estado": before}])
        out, _ = apply_status(pend, TABLES["pendiente_desconsolidar"], load_exits(cfg))
        assert out["Estado"].tolist() == ["Realizado 28/11/2026 10:15"], before


def test_a_file_with_fecha_egr_takes_the_exit_time_from_it_and_validada_is_info(tmp_path, make_config):
    """The one rule for every reader: ``fecha_egr`` is the exit time; ``validada`` (here a flag,
    empty on one row, text on another) is validation info and never drops a record."""
    (tmp_path / "salidas.csv").write_text(
        "contenedor,fecha_egr,validada\n"
        "MSCU1234566,28/11/2026 10:15,1\n"
        "TCLU1234567,2026-11-26 14:32:00,\n"
        "CAIU5550003,27/11/2026 08:05,OK aruiz\n"
        "GESU1000001,,1\n", encoding="utf-8")  # no exit time: ignored
    cfg = make_config({"csv_sources": {"data_path": str(tmp_path)}})
    exits = load_exits(cfg)
    assert exits.frame["contenedor"].tolist() == ["MSCU1234566", "TCLU1234567", "CAIU5550003"]
    assert exits.frame["validada"].tolist() == ["1", None, "OK aruiz"]
    keys = ["MSCU1234566", "TCLU1234567", "CAIU5550003"]
    pend = frame("pendiente_desconsolidar", [{"key": k, "Contenedor": k, "Estado": "En depósito"} for k in keys])
    spec = TABLES["pendiente_desconsolidar"]
    out, _ = apply_status(pend, spec, exits)
    assert out["Estado"].tolist() == ["Realizado 28/11/2026 10:15", "Realizado 26/11/2026 14:32",
                                      "Realizado 27/11/2026 08:05"]
    out, _ = apply_status(pend, spec, exits, legacy=True)
    assert out["Estado"].tolist() == ["Realizado 28/11/2026 10:15 1", "Realizado 26/11/2026 14:32 None",
                                      "Realizado 27/11/2026 08:05 OK aruiz"]
    # a time format on validada asks for a time it does not hold: one line pointing at fecha_egr
    with pytest.raises(StatusTemplateError, match=r"validada holds '1', not a time; the exit time is \{fecha_egr:%H:%M\}"):
        apply_status(pend, spec, exits, template="{validada:%H:%M} Realizado")
    # remisiones match on orden_ing, suborden, renglon, which this file lacks: a note, not a silent nothing
    rem = load_exits(cfg, spec=TABLES["remisiones"])
    assert rem.source == "none" and "has no orden_ing, suborden, renglon, which remisiones matches" in rem.note


def test_validada_renders_as_the_old_tool_printed_it():
    """``f"Realizado {fecha} {validada}"`` over a pandas row, value by value (what pyodbc gives
    for a bit, a smallint, a NULL, a datetime, a decimal)."""
    from decimal import Decimal

    import numpy as np

    from trafico_lib.enrich.status import Validation, render_estado
    at = datetime(2026, 11, 28, 10, 15, tzinfo=BA)
    old = "Realizado {fecha_egr:%d/%m/%Y %H:%M} {validada}"
    cases = [(True, "True"), (False, "False"), (np.bool_(True), "True"), (1, "1"), (np.int64(0), "0"),
             (None, "None"), (float("nan"), "None"), (Decimal("1"), "1.0"), ("S", "S"),
             (datetime(2026, 11, 28, 10, 20), "2026-11-28 10:20:00")]
    for raw, shown in cases:
        assert render_estado(old, at, raw, {}) == f"Realizado 28/11/2026 10:15 {shown}", raw
    # with a format, a validada holding a time formats that time (trafico's templates until now)
    assert format(Validation("2026-11-28 09:50:00", BA), "%H:%M") == "09:50"
    assert format(Validation(None, BA), "%H:%M") == ""
    assert format(Validation(7, BA), ">3") == "  7"
