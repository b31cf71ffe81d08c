"""Exit records through pyodbc, for real: the PostgreSQL ODBC driver (psqlODBC) against the
embedded database holding a ``"DASSA"."Salidas"`` table, via the connection-string override."""
from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from trafico_lib.enrich import apply_status, load_exits
from trafico_lib.sources.sqlserver import (SqlServerUnavailable, connection_string, exits_query,
                                           fetch_exits, scrub_message)
from trafico_lib.tables import TABLES

# pyodbc loads unixODBC's libodbc.so.2 when imported: without it, an ImportError that is not
# ModuleNotFoundError, which importorskip lets through unless told
pyodbc = pytest.importorskip("pyodbc", exc_type=ImportError,
                             reason="pyodbc cannot load unixODBC (apt-get install unixodbc odbc-postgresql; "
                                    "make test installs them as root)")
BA = ZoneInfo("America/Argentina/Buenos_Aires")
NOW = datetime(2026, 11, 28, 18, 0, tzinfo=BA)
PASSWORD = "s3cr3t-Pa55"


def _psqlodbc() -> str:
    names = [d for d in pyodbc.drivers() if d.lower().startswith("postgresql")]
    if not names:
        pytest.skip("the PostgreSQL ODBC driver is not installed (apt-get install unixodbc odbc-postgresql)")
    return next((d for d in names if "unicode" in d.lower()), names[0])


def _odbc_string(db_url: str, driver: str, **extra: str) -> str:
    """psqlODBC connection string for the embedded server, which listens on a Unix socket only."""
    parts = urlsplit(db_url)
    socket_dir = parse_qs(parts.query)["host"][0]
    ports = [p.name.rsplit(".", 1)[1] for p in Path(socket_dir).glob(".s.PGSQL.*") if not p.name.endswith(".lock")]
    fields = {"Driver": f"{{{driver}}}", "Servername": socket_dir, "Port": ports[0],
              "Database": parts.path.lstrip("/"), "Username": "postgres", **extra}
    return "".join(f"{k}={v};" for k, v in fields.items())


@pytest.fixture
def salidas(conn):
    """The exit-records table as SQL Server has it: schema DASSA, naive local timestamps."""
    conn.execute('CREATE SCHEMA "DASSA"')
    conn.execute('CREATE TABLE "DASSA"."Salidas" (orden_ing integer, suborden integer, renglon integer, '
                 'contenedor varchar(20), validada timestamp, usuario varchar(30), puerta varchar(30))')
    rows = [
        (37644, 1, 1, "MSCU1234566", datetime(2026, 11, 28, 9, 50), "aruiz", "Norte"),
        (37644, 1, 1, "MSCU1234566", datetime(2026, 11, 28, 10, 15), "jgarcía", "Sur"),  # latest: wins
        (37645, 2, 3, None, datetime(2026, 11, 27, 8, 5), "mlopez", None),
        (37650, 1, 1, "TCLU-123456-7", datetime(2026, 11, 26, 14, 32), "aruiz", "Norte"),
        (37699, 1, 1, "GESU1000001", datetime(2026, 9, 1, 12, 0), "viejo", "Norte"),  # outside 30 days
    ]
    with conn.cursor() as cur:
        cur.executemany('INSERT INTO "DASSA"."Salidas" VALUES (%s, %s, %s, %s, %s, %s, %s)', rows)
    return rows


@pytest.fixture
def odbc_cfg(db_url, salidas, make_config):
    conn_str = _odbc_string(db_url, _psqlodbc())
    return make_config({"sql_server": {"enabled": True, "connection_string": conn_str, "timeout_seconds": 5,
                                       "lookback_days": 30}})


def test_fetch_exits_through_pyodbc(odbc_cfg):
    raw = fetch_exits(odbc_cfg, NOW - timedelta(days=30))
    assert list(raw.columns) == ["orden_ing", "suborden", "renglon", "contenedor", "validada", "usuario", "puerta"]
    assert raw["usuario"].tolist() == ["aruiz", "mlopez", "aruiz", "jgarcía"]  # ORDER BY "validada"
    assert "viejo" not in raw["usuario"].tolist()  # the look-back bound went through the ? parameter
    assert raw["validada"].min() == datetime(2026, 11, 26, 14, 32)
    # the bound is compared in local wall-clock time: 14:32 local is 17:32 UTC
    utc = ZoneInfo("UTC")
    assert len(fetch_exits(odbc_cfg, datetime(2026, 11, 26, 17, 0, tzinfo=utc))) == 4
    assert len(fetch_exits(odbc_cfg, datetime(2026, 11, 26, 17, 33, tzinfo=utc))) == 3


def test_status_from_sql_server(odbc_cfg):
    exits = load_exits(odbc_cfg, now=NOW)
    assert (exits.source, exits.note) == ("sqlserver", None)
    f = exits.frame.sort_values("validada", kind="stable").reset_index(drop=True)
    assert f["orden_ing"].tolist() == ["37650", "37645", "37644", "37644"]
    assert f["contenedor"].tolist() == ["TCLU1234567", None, "MSCU1234566", "MSCU1234566"]
    assert f["validada"].iloc[0] == datetime(2026, 11, 26, 14, 32, tzinfo=BA)  # local time kept, zone added
    assert f["info"].iloc[3] == {"usuario": "jgarcía", "puerta": "Sur"}

    import pandas as pd
    rem = pd.DataFrame({"sync_key": ["37644-1-1", "37645-2-3", "37699-1-1"],
                        "Operacion": ["37644-1-1", "37645-2-3", "37699-1-1"],
                        "Estado": ["Pendiente", None, "Pendiente"]})
    out, matches = apply_status(rem, TABLES["remisiones"], exits)
    assert out["Estado"].tolist() == ["10:15 Realizado", "08:05 Realizado", "Pendiente"]
    assert matches["estado_before"].tolist() == ["Pendiente", None]
    arr = pd.DataFrame({"sync_key": ["TCLU1234567", "MSCU1234566"], "Contenedor": ["TCLU1234567", "MSCU1234566"],
                        "Estado": [None, None]})
    out, _ = apply_status(arr, TABLES["arribos"], exits, template="Realizado {validada:%d/%m %H:%M} ({puerta})")
    assert out["Estado"].tolist() == ["Realizado 26/11 14:32 (Norte)", "Realizado 28/11 10:15 (Sur)"]


def test_query_is_valid_for_sql_server_too(make_config):
    cfg = make_config({"sql_server": {"schema": "DASSA", "table": "Salidas"}})
    q = exits_query(cfg)
    assert q == 'SELECT * FROM "DASSA"."Salidas" WHERE "validada" >= ? ORDER BY "validada"'
    for pg_only in ("::", "$1", "%s", "LIMIT", "ILIKE", "RETURNING", "`", "["):
        assert pg_only not in q
    for field in ("schema", "table"):
        bad = make_config({"sql_server": {field: 'Salidas"; DROP TABLE x; --'}})
        with pytest.raises(SqlServerUnavailable, match=f"sql_server.{field}: .*forbidden character"):
            exits_query(bad)


def test_missing_odbc_driver_is_one_clear_line(db_url, make_config):
    conn_str = _odbc_string(db_url, "No Such ODBC Driver 99", Password=PASSWORD)
    cfg = make_config({"sql_server": {"enabled": True, "connection_string": conn_str}})
    with pytest.raises(SqlServerUnavailable) as err:
        fetch_exits(cfg, NOW)
    msg = str(err.value)
    assert re.fullmatch(r"ODBC driver 'No Such ODBC Driver 99' is not installed \(installed drivers: .*PostgreSQL.*\)",
                        msg), msg
    exits = load_exits(cfg, now=NOW)
    assert exits.source == "none" and exits.frame.empty
    assert exits.note == f"status skipped: {msg}" and PASSWORD not in exits.note and "\n" not in exits.note


def test_built_connection_string_takes_credentials_from_env(monkeypatch, make_config):
    monkeypatch.setenv("TRAFICO_SQLSERVER_USER", "depo_ro")
    monkeypatch.setenv("TRAFICO_SQLSERVER_PASSWORD", PASSWORD + ";x")
    cfg = make_config({"sql_server": {"enabled": True, "server": r"sqlserver.invalid\SQLEXPRESS,1433",
                                      "driver": "No Such ODBC Driver 99", "timeout_seconds": 1}})
    cs = connection_string(cfg)
    assert cs == (r"DRIVER={No Such ODBC Driver 99};SERVER=sqlserver.invalid\SQLEXPRESS,1433;DATABASE=DEPOFIS;"
                  f"UID=depo_ro;PWD={{{PASSWORD};x}};")
    exits = load_exits(cfg, now=NOW)
    assert exits.source == "none" and "No Such ODBC Driver 99" in exits.note and PASSWORD not in exits.note
    assert PASSWORD not in repr(cfg)


def test_unreachable_server_and_missing_pyodbc(db_url, make_config, monkeypatch, tmp_path):
    conn_str = _odbc_string(db_url, _psqlodbc(), Password=PASSWORD)
    conn_str = re.sub(r"Servername=[^;]*", f"Servername={tmp_path / 'nowhere'}", conn_str)
    cfg = make_config({"sql_server": {"enabled": True, "connection_string": conn_str, "server": "depofis-sql"}})
    exits = load_exits(cfg, now=NOW)
    assert exits.source == "none"
    assert exits.note.startswith("status skipped: SQL Server depofis-sql/DEPOFIS is unreachable: "), exits.note
    assert PASSWORD not in exits.note and "\n" not in exits.note

    monkeypatch.setitem(sys.modules, "pyodbc", None)  # as if pyodbc were not installed
    exits = load_exits(cfg, now=NOW)
    assert (exits.source, exits.note) == ("none", "status skipped: pyodbc is not installed (pip install pyodbc)")


def test_driver_messages_are_scrubbed_to_one_line():
    raw = ("[08001] [Microsoft][ODBC Driver 18 for SQL Server]Login timeout expired for UID=depo;"
           f"PWD={PASSWORD} (0) (SQLDriverConnect)\n\tsecond line")
    assert scrub_message(raw, [PASSWORD]) == "Login timeout expired for UID=depo"
    assert PASSWORD not in scrub_message(f"server said {PASSWORD} twice {PASSWORD}", [PASSWORD])
    assert scrub_message("bad Password=hunter2 here", []) == "bad Password=*** here"
