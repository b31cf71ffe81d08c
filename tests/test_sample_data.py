"""The sample data in data/: minimum sizes, every live-format quirk, ISO 6346 check digits,
a deterministic generator, and ``load_samples`` into a real PostgreSQL."""
from __future__ import annotations

import csv
import importlib.util
import io
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from trafico_lib.sample import SOURCE_UPDATED_COLUMN, create_source_tables, load_samples, source_ddl
from trafico_lib.tables import AVAILABILITY_CSV, SALIDAS_CSV, TABLES

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
SCRIPT = ROOT / "scripts" / "make_sample_data.py"
BOM = b"\xef\xbb\xbf"
FILES = {**{name: spec.default_csv for name, spec in TABLES.items()},
         "availability": AVAILABILITY_CSV, "salidas": SALIDAS_CSV}
MINIMUM = {"arribos": 150, "pendiente_desconsolidar": 30, "remisiones": 60,
           "arribos_expo_ctns": 40, "availability": 10, "salidas": 20}


def _generator():
    spec = importlib.util.spec_from_file_location("make_sample_data", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _decode(raw: bytes) -> str:
    if raw.startswith(BOM):
        return raw[len(BOM):].decode("utf-8")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


def read_raw(key: str) -> list[dict[str, str]]:
    """A sample file's rows as written (no trimming), decoded and split by its own separator."""
    text = _decode((DATA / FILES[key]).read_bytes())
    sep = ";" if ";" in text.splitlines()[0] else ","
    return list(csv.DictReader(io.StringIO(text, newline=""), delimiter=sep))


def norm_container(v: str) -> str:
    return re.sub(r"[\s-]", "", v or "").upper()


def norm_booking(v: str) -> str:
    return re.sub(r"\s", "", v or "").upper()


CONTAINER = re.compile(r"[A-Z]{4}\d{7}")


@pytest.fixture(scope="module")
def raw():
    return {key: read_raw(key) for key in FILES}


# ---- sizes, columns, encodings -----------------------------------------------------------

def test_every_file_has_the_live_columns_and_enough_rows(raw):
    for key, rows in raw.items():
        assert len(rows) >= MINIMUM[key], key
        if key in TABLES:
            assert list(rows[0].keys()) == TABLES[key].column_names, key
    assert {"Booking", "Contenedor"} <= set(raw["availability"][0])
    assert {"orden_ing", "suborden", "renglon", "contenedor", "validada"} < set(raw["salidas"][0])


def test_encodings_and_separators():
    raw = {key: (DATA / name).read_bytes() for key, name in FILES.items()}
    cp = raw["pendiente_desconsolidar"]
    with pytest.raises(UnicodeDecodeError):
        cp.decode("utf-8")
    text = cp.decode("cp1252")
    assert "Logística Río SA" in text and text.splitlines()[0].count(";") == 9
    assert raw["remisiones"].startswith(BOM)
    others = [k for k in raw if k not in ("pendiente_desconsolidar", "remisiones")]
    for key in others:
        assert not raw[key].startswith(BOM), key
        assert b"," in raw[key].splitlines()[0] and b";" not in raw[key].splitlines()[0], key
        raw[key].decode("utf-8")


# ---- live-format quirks ----------------------------------------------------------------------

QUIRKS = {
    "dd/mm": r"\d{2}/\d{2}",
    "dd/mm/yyyy": r"\d{2}/\d{2}/\d{4}",
    "yyyy-mm-dd": r"\d{4}-\d{2}-\d{2}",
    "dd-mm-yy hh:mm": r"\d{2}-\d{2}-\d{2} \d{2}:\d{2}",
    "0700 ": r"\d{4} ",
    "8:00 ": r"\d:\d{2} ",
    "1429.0": r"\d+\.0",
    "1.429,5": r"\d{1,3}(\.\d{3})+,\d+",
    "-": r"-",
    "empty": r"",
    "nan": r"nan",
    "  : 0   ": r"  : 0   ",
    "trailing blank": r".*\S +",
    "MSCU-123456-6": r"[A-Z]{4}-\d{6}-\d",
    "msku 123456 6": r"[a-z]{4} \d{6} \d",
    "MSCU1234566": r"[A-Z]{4}\d{7}",
}


def test_each_live_quirk_is_present(raw):
    cells = [v for rows in raw.values() for row in rows for v in row.values()]
    missing = [name for name, rx in QUIRKS.items()
               if not any(re.fullmatch(rx, v or "") for v in cells)]
    assert not missing
    tiempo = Counter(r["Tiempo"] for r in raw["arribos"])
    assert tiempo["  : 0   "] >= 1
    assert any(re.fullmatch(r"\d{2}/\d{2}", r["Vto. Vacio"]) for r in raw["pendiente_desconsolidar"])


def test_arribos_duplicates_and_one_empty_container(raw):
    containers = [norm_container(r["Contenedor"]) for r in raw["arribos"]]
    dups = [c for c, n in Counter(containers).items() if n > 1 and c]
    assert len(dups) >= 2
    assert containers.count("") == 1
    assert sum(1 for r in raw["arribos"] if r["Chofer"].strip()) < len(raw["arribos"]) / 3


def test_expo_pending_bookings_partly_filled_and_available(raw):
    expo = raw["arribos_expo_ctns"]
    pending = {norm_booking(r["Booking"]): int(r["Cantidad"]) for r in expo
               if not CONTAINER.fullmatch(norm_container(r["Contenedor"]))}
    assert len(pending) >= 3 and all(2 <= n <= 5 for n in pending.values())
    filled = Counter(norm_booking(r["Booking"]) for r in expo
                     if CONTAINER.fullmatch(norm_container(r["Contenedor"])))
    assert sum(1 for b in pending if filled[b]) >= 2  # partly filled
    odd = [r["Booking"] for r in expo if r["Booking"] != norm_booking(r["Booking"])]
    assert any(b != b.upper() for b in odd) and any(" " in b.strip() for b in odd)
    known = {norm_container(r["Contenedor"]) for r in expo}
    new_for_pending = [r for r in raw["availability"] if norm_booking(r["Booking"]) in pending
                       and norm_container(r["Contenedor"]) not in known]
    assert len(new_for_pending) >= 3


def test_salidas_match_remisiones_and_containers(raw):
    operaciones = {r["Operacion"].strip() for r in raw["remisiones"]}
    ops = [f'{s["orden_ing"]}-{s["suborden"]}-{s["renglon"]}' for s in raw["salidas"]]
    assert "37644-1-1" in operaciones
    assert sum(op in operaciones for op in ops) >= 5
    cont = {norm_container(r["Contenedor"]) for key in ("arribos", "pendiente_desconsolidar")
            for r in raw[key]} - {""}
    assert sum(norm_container(s["contenedor"]) in cont for s in raw["salidas"]) >= 5
    stamps = [s["validada"] for s in raw["salidas"]]
    assert all(re.fullmatch(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}|\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?", v)
               for v in stamps)


# ---- ISO 6346 --------------------------------------------------------------------------------

def test_check_digit_algorithm():
    gen = _generator()
    assert gen.check_digit("CSQU305438") == 3  # the standard's worked example
    assert gen.is_valid_container("CSQU3054383") and not gen.is_valid_container("CSQU3054384")


def test_check_digits_valid_except_the_deliberate_typos(raw, tmp_path):
    gen = _generator()
    gen.generate(tmp_path)  # fills DELIBERATE_TYPOS
    seen = set()
    for rows in raw.values():
        for row in rows:
            for col in ("Contenedor", "contenedor"):
                code = norm_container(row.get(col, ""))
                if CONTAINER.fullmatch(code):
                    seen.add(code)
    invalid = sorted(c for c in seen if not gen.is_valid_container(c))
    assert 3 <= len(invalid) <= 5
    assert invalid == sorted(gen.DELIBERATE_TYPOS)
    assert len(seen) > 250


def test_generator_is_deterministic(tmp_path):
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)], check=True,
                   capture_output=True)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == sorted(FILES.values())
    for name in written:
        assert (tmp_path / name).read_bytes() == (DATA / name).read_bytes(), name


# ---- loading into the source tables -----------------------------------------------------------

def _counts(conn) -> dict[str, int]:
    return {name: conn.execute(f'SELECT count(*) FROM "{spec.source}"').fetchone()[0]
            for name, spec in TABLES.items()}


def test_source_ddl_quotes_live_names_and_timestamps_only_where_declared(conn):
    text = source_ddl(TABLES["arribos"]).as_string(conn)
    assert '"Tipo CNT" text' in text and '"Oper." text' in text
    assert '"updated_at" timestamptz NOT NULL DEFAULT now()' in text
    create_source_tables(conn)
    create_source_tables(conn)  # idempotent
    cols = {name: [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
        "ORDER BY ordinal_position", (spec.source,))] for name, spec in TABLES.items()}
    for name, spec in TABLES.items():
        extra = [SOURCE_UPDATED_COLUMN[name]] if name in SOURCE_UPDATED_COLUMN else []
        assert cols[name] == ["id", *spec.column_names, *extra]


def test_load_samples_loads_every_file_row_and_is_idempotent(conn, db_url, make_config, raw):
    cfg = make_config(db_url=db_url)
    expected = {name: len(raw[name]) for name in TABLES}
    assert load_samples(conn, cfg) == expected
    assert _counts(conn) == expected
    assert load_samples(conn, cfg) == expected
    assert _counts(conn) == expected
    assert conn.execute("SELECT min(id), max(id) FROM arribos").fetchone() == (1, expected["arribos"])
    clients = {r[0].strip() for r in conn.execute("SELECT \"Cliente\" FROM pendiente_desconsolidar")
               if r[0]}
    assert "Logística Río SA" in clients  # the cp1252 file was decoded, not mangled
    ops = {r[0].strip() for r in conn.execute('SELECT "Operacion" FROM remisiones') if r[0]}
    assert "37644-1-1" in ops
    assert conn.execute("SELECT count(*) FROM remisiones WHERE fecha_modificacion IS NULL").fetchone()[0] == 0


def test_load_samples_append_and_subset(conn, db_url, make_config):
    cfg = make_config(db_url=db_url)
    first = load_samples(conn, cfg, tables=["pendiente_desconsolidar"])
    assert list(first) == ["pendiente_desconsolidar"]
    load_samples(conn, cfg, replace=False, tables=["pendiente_desconsolidar"])
    n = conn.execute("SELECT count(*) FROM pendiente_desconsolidar").fetchone()[0]
    assert n == 2 * first["pendiente_desconsolidar"]
