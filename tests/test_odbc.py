"""Exit records through pyodbc, for real: the PostgreSQL ODBC driver (psqlODBC) against the
embedded database holding a ``"DASSA"."Salidas"`` table, via the connection-string override
(the query names it ``"<database>"."DASSA"."Salidas"`` as the old tool did, so ``database`` is
the embedded database's name)."""
from __future__ import annotations

import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest

from trafico_lib.enrich import apply_status, load_exits
from trafico_lib.sources.sqlserver import (SqlServerUnavailable, columns_query, connection_string, driver_name,
                                           exits_query, fetch_exits, pick_driver, scrub_message)
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


def _sql_cfg(make_config, db_url: str, *, odbc: dict | None = None, store: bool = False):
    """Exit records read from the embedded database through psqlODBC (``store``: and the
    sync's store is that database too)."""
    conn_str = _odbc_string(db_url, _psqlodbc(), **(odbc or {}))
    return make_config({"sql_server": {"enabled": True, "connection_string": conn_str, "timeout_seconds": 5,
                                       "lookback_days": 30, "database": urlsplit(db_url).path.lstrip("/")}},
                       db_url=db_url if store else None)


@pytest.fixture
def odbc_cfg(db_url, salidas, make_config):
    return _sql_cfg(make_config, db_url)


def test_fetch_exits_through_pyodbc(odbc_cfg):
    raw = fetch_exits(odbc_cfg, NOW - timedelta(days=30))
    # no fecha_egr: validada is the exit time; validation info only when a template names it
    assert list(raw.columns) == ["orden_ing", "suborden", "renglon", "contenedor", "validada"]
    assert raw["orden_ing"].tolist() == [37650, 37645, 37644, 37644]  # ORDER BY "validada"
    assert 37699 not in raw["orden_ing"].tolist()  # the look-back bound went through the ? parameter
    raw = fetch_exits(odbc_cfg, NOW - timedelta(days=30), ["usuario"])
    assert list(raw.columns) == ["orden_ing", "suborden", "renglon", "contenedor", "validada", "usuario"]
    assert raw["usuario"].tolist() == ["aruiz", "mlopez", "aruiz", "jgarcía"]
    assert raw["validada"].min() == datetime(2026, 11, 26, 14, 32)
    # the bound is compared in local wall-clock time: 14:32 local is 17:32 UTC
    utc = ZoneInfo("UTC")
    assert len(fetch_exits(odbc_cfg, datetime(2026, 11, 26, 17, 0, tzinfo=utc))) == 4
    assert len(fetch_exits(odbc_cfg, datetime(2026, 11, 26, 17, 33, tzinfo=utc))) == 3


def test_status_from_sql_server(odbc_cfg):
    template = "Realizado {validada:%d/%m %H:%M} ({puerta})"
    exits = load_exits(odbc_cfg, now=NOW, template=template)
    assert (exits.source, exits.note) == ("sqlserver", None)
    f = exits.frame.sort_values("fecha_egr", kind="stable").reset_index(drop=True)
    assert f["orden_ing"].tolist() == ["37650", "37645", "37644", "37644"]
    assert f["contenedor"].tolist() == ["TCLU1234567", None, "MSCU1234566", "MSCU1234566"]
    assert f["fecha_egr"].iloc[0] == datetime(2026, 11, 26, 14, 32, tzinfo=BA)  # local time kept, zone added
    assert f["info"].iloc[3] == {"puerta": "Sur"}  # the template's info column only

    import pandas as pd
    rem = pd.DataFrame({"sync_key": ["37644-1-1", "37645-2-3", "37699-1-1"],
                        "Operacion": ["37644-1-1", "37645-2-3", "37699-1-1"],
                        "Estado": ["Pendiente", None, "Pendiente"]})
    out, matches = apply_status(rem, TABLES["remisiones"], exits)
    assert out["Estado"].tolist() == ["10:15 Realizado", "08:05 Realizado", "Pendiente"]
    assert matches["estado_before"].tolist() == ["Pendiente", None]
    arr = pd.DataFrame({"sync_key": ["TCLU1234567", "MSCU1234566"], "Contenedor": ["TCLU1234567", "MSCU1234566"],
                        "Estado": [None, None]})
    out, _ = apply_status(arr, TABLES["arribos"], exits, template=template)
    assert out["Estado"].tolist() == ["Realizado 26/11 14:32 (Norte)", "Realizado 28/11 10:15 (Sur)"]


def test_query_is_valid_for_sql_server_too(make_config):
    cfg = make_config({"sql_server": {"schema": "DASSA", "table": "Salidas"}})
    q = exits_query(cfg, ["contenedor", "fecha_egr", "validada"], "fecha_egr")
    assert q == ('SELECT "contenedor", "fecha_egr", "validada" FROM "DEPOFIS"."DASSA"."Salidas" '
                 'WHERE "fecha_egr" >= ? ORDER BY "fecha_egr"')
    assert columns_query(cfg) == 'SELECT * FROM "DEPOFIS"."DASSA"."Salidas" WHERE 1 = 0'
    for query in (q, columns_query(cfg)):
        for pg_only in ("::", "$1", "%s", "LIMIT", "ILIKE", "RETURNING", "`", "["):
            assert pg_only not in query
    for field in ("database", "schema", "table"):
        bad = make_config({"sql_server": {field: 'Salidas"; DROP TABLE x; --'}})
        with pytest.raises(SqlServerUnavailable, match=f"sql_server.{field}: .*forbidden character"):
            columns_query(bad)


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


# ---- the old tool's shape: contenedor, fecha_egr, validada (a flag) -------------------------

OLD_EXITS = [  # (contenedor, fecha_egr, validada as a flag)
    ("MSCU1234566", datetime(2026, 11, 28, 10, 15), 1),
    ("TCLU1234567", datetime(2026, 11, 26, 14, 32), None),   # not validated (yet): still an exit
    ("CAIU5550003", datetime(2026, 11, 27, 8, 5), 0),
    ("GESU1000001", datetime(2026, 9, 1, 12, 0), 1),          # outside the 30 days
]


def _old_salidas(conn, flag_type: str, rows=OLD_EXITS) -> None:
    """``Salidas`` as the old tool read it: only its three columns; ``validada`` a flag
    (SQL Server's ``bit`` comes through pyodbc as a bool; a ``smallint`` as an int)."""
    conn.execute('CREATE SCHEMA IF NOT EXISTS "DASSA"')
    conn.execute(f'CREATE TABLE "DASSA"."Salidas" (contenedor varchar(20), fecha_egr timestamp, validada {flag_type})')
    cast = (lambda v: None if v is None else bool(v)) if flag_type == "boolean" else (lambda v: v)
    with conn.cursor() as cur:
        cur.executemany('INSERT INTO "DASSA"."Salidas" VALUES (%s, %s, %s)', [(c, t, cast(v)) for c, t, v in rows])


@pytest.mark.parametrize("flag_type, shown", [("boolean", ["True", "None", "False"]), ("smallint", ["1", "None", "0"])])
def test_old_salidas_flag_marks_done_at_fecha_egr(conn, db_url, make_config, flag_type, shown):
    """A ``Salidas`` with only ``contenedor, fecha_egr, validada`` and a flag in ``validada``:
    every record is an exit at ``fecha_egr``; the old tool's text appends the flag as it printed it."""
    from trafico_lib.enrich import default_template
    _old_salidas(conn, flag_type)
    cfg = _sql_cfg(make_config, db_url, odbc={"BoolsAsChar": "0"})  # booleans as SQL_BIT, as SQL Server's bit
    raw = fetch_exits(cfg, NOW - timedelta(days=30))
    assert list(raw.columns) == ["contenedor", "fecha_egr", "validada"]  # the old query's columns, no more
    spec = TABLES["pendiente_desconsolidar"]
    exits = load_exits(cfg, now=NOW, spec=spec, template=default_template(spec, legacy=True))
    assert (exits.source, exits.note) == ("sqlserver", None)
    assert exits.frame["fecha_egr"].tolist() == [datetime(2026, 11, 26, 14, 32, tzinfo=BA),
                                                 datetime(2026, 11, 27, 8, 5, tzinfo=BA),
                                                 datetime(2026, 11, 28, 10, 15, tzinfo=BA)]
    import pandas as pd
    keys = ["MSCU1234566", "TCLU1234567", "CAIU5550003", "GESU1000001"]
    pend = pd.DataFrame({"sync_key": keys, "Contenedor": keys, "Estado": ["En depósito"] * 4})
    out, matches = apply_status(pend, spec, exits, legacy=True)
    assert out["Estado"].tolist() == [f"Realizado 28/11/2026 10:15 {shown[0]}", f"Realizado 26/11/2026 14:32 {shown[1]}",
                                      f"Realizado 27/11/2026 08:05 {shown[2]}", "En depósito"]
    assert matches["fecha_egr"].tolist()[0] == datetime(2026, 11, 28, 10, 15, tzinfo=BA)
    out, _ = apply_status(pend, spec, exits)  # trafico's own default, unchanged
    assert out["Estado"].tolist()[:3] == ["Realizado 28/11/2026 10:15", "Realizado 26/11/2026 14:32",
                                          "Realizado 27/11/2026 08:05"]
    rem = load_exits(cfg, now=NOW, spec=TABLES["remisiones"])
    assert rem.source == "none" and rem.note == (
        "status skipped: DASSA.Salidas has no orden_ing, suborden, renglon, which remisiones matches its Operacion on")


def test_old_salidas_marks_rows_done_in_a_real_sync(conn, db_url, make_config):
    """One real sync (direct store) per table with the old shape as the exit records: the exit
    time is ``fecha_egr``, a NULL ``validada`` still marks the row done. ``arribos`` runs as a
    target the old tool laid out (recorded as adopted, as the schema records the old tool's tables)."""
    from trafico_lib import pipeline as P
    from trafico_lib.sample import create_source_tables
    create_source_tables(conn)
    local = datetime.now(BA).replace(tzinfo=None, second=0, microsecond=0)
    done, later = local - timedelta(days=2), local - timedelta(days=1)
    _old_salidas(conn, "boolean", [("MSCU1234566", done, True), ("TCLU1234567", later, None)])
    for table in ("arribos", "pendiente_desconsolidar"):
        with conn.cursor() as cur:
            cur.executemany(f'INSERT INTO {table} ("Contenedor", "Cliente", "Estado") VALUES (%s, %s, %s)',
                            [("MSCU-123456-6", "Uno", "En depósito"), ("TCLU 123456 7", "Dos", None),
                             ("CAIU5550003", "Tres", "En depósito")])
    cfg = _sql_cfg(make_config, db_url, odbc={"BoolsAsChar": "0"}, store=True)
    conn.execute("INSERT INTO traficov2_adopted (table_name) VALUES ('traficov2_arribos')")  # as the old tool's

    def stamp(t):
        return t.strftime("%d/%m/%Y %H:%M")

    for table, expected in (("pendiente_desconsolidar", [f"Realizado {stamp(done)}", f"Realizado {stamp(later)}"]),
                            ("arribos", [f"Realizado {stamp(done)} True", f"Realizado {stamp(later)} None"])):
        res = P.run_table(table, mode="full", cfg=cfg)
        assert res.status == "ok", res.error
        rows = dict(conn.execute(f'SELECT sync_key, "Estado" FROM traficov2_{table}').fetchall())
        assert [rows["MSCU1234566"], rows["TCLU1234567"], rows["CAIU5550003"]] == [*expected, "En depósito"], table


def test_driver_pick_prefers_microsofts_newest_then_freetds_then_the_legacy_one():
    ms17, ms18 = "ODBC Driver 17 for SQL Server", "ODBC Driver 18 for SQL Server"
    assert pick_driver([ms17, "FreeTDS", ms18, "SQL Server"]) == ms18
    assert pick_driver(["SQL Server", ms17, "PostgreSQL Unicode"]) == ms17
    assert pick_driver(["SQL Server", "FreeTDS"]) == "FreeTDS"
    assert pick_driver(["PostgreSQL ANSI", "SQL Server"]) == "SQL Server"
    assert pick_driver(["PostgreSQL ANSI", "PostgreSQL Unicode", "SQL Server Native Client 11.0"]) is None
    assert pick_driver([]) is None


def test_no_sql_server_driver_installed_is_one_line_naming_what_is(make_config):
    cfg = make_config({"sql_server": {"enabled": True, "server": "sqlserver.invalid", "timeout_seconds": 1}})
    with pytest.raises(SqlServerUnavailable) as err:
        driver_name(cfg, ["PostgreSQL ANSI", "PostgreSQL Unicode"])
    assert str(err.value) == ("no SQL Server ODBC driver is installed (installed drivers: PostgreSQL ANSI, "
                              "PostgreSQL Unicode); install Microsoft's ODBC Driver 18 for SQL Server or FreeTDS, "
                              "or set sql_server.driver")
    assert driver_name(cfg, ["FreeTDS"]) == "FreeTDS"
    explicit = make_config({"sql_server": {"server": "x", "driver": "My Driver"}})
    assert driver_name(explicit, []) == "My Driver" and connection_string(explicit).startswith("DRIVER={My Driver};")
    if pick_driver(pyodbc.drivers()) is None:  # this machine has none: the run goes on, the note says why
        exits = load_exits(cfg, now=NOW)
        assert exits.source == "none" and "\n" not in exits.note
        assert exits.note.startswith("status skipped: no SQL Server ODBC driver is installed (installed drivers: ")
        assert ", ".join(pyodbc.drivers()) in exits.note
        from trafico_lib.health import sqlserver_facts
        facts = sqlserver_facts(cfg)  # --health-check: a warning (the machine lacks it), not bad configuration
        assert (facts["ok"], facts["config_error"]) == (False, False) and facts["error"] == exits.note.split(": ", 1)[1]
