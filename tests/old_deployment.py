"""A depot as the old tool left it (issue 22): its TráficoV2 tables as its DDL made them, rows as
its sync wrote them, the traffic desk's own columns and edits, its source tables and its log.

Written for these tests from the facts in docs/old-tool-facts.md (the old tool's public
repository): the same columns and types as its ``create_tables_traficov2.sql`` (``SERIAL id``,
business columns ``TEXT`` but pendiente's ``Peso DECIMAL(10,2)`` and ``Cantidad INTEGER`` and
expo's ``Cantidad INTEGER``, ``source_id INTEGER``, ``fecha_registro``/``fecha_modificacion``
``TIMESTAMP``), plus the columns the desk's app writes by ``id`` that its DDL lacks (a lowercase
``chofer``, ``Observaciones``, ``Observaciones trafico``, ``Fecha y Hora Fin``). The rows are what
its sync wrote: dates as ``%d/%m/%Y`` text through a month-first parse (``03/12/2026`` became
``12/03/2026``; a ``dd/mm`` with a day over 12 stayed as it was), containers upper-cased with their
dashes, one expo row per booking (containers joined ``", "``, ``Cantidad`` the sum of each row's
``Cantidad`` squared, ``source_id`` a row position), and two rows of one container (its
"last one wins" index). Then the desk's edits, by ``id``.

    build_old_deployment(conn)      # every table and row above, in one transaction
    OLD_CONFIG                      # the old tool's trafico_config.json, as it shipped
    desk_dates_parse(rows, table)   # the desk app's parsing of a table's date columns
"""
from __future__ import annotations

import json
from datetime import datetime

import psycopg

# the old tool's trafico_config.json as it shipped (its repository, trafico_config.json)
OLD_CONFIG = {
    "csv_sources": {
        "enabled": True,
        "data_path": "./data/",
        "files": {
            "arribos_semana": "arribos_semana.csv",
            "pendiente_desconsolidar": "pendiente_desconsolidar.csv",
            "remisiones_semana": "remisiones_semana.csv",
            "arribos_expo_ctns": "arribos_expo_semana_ctns.csv",
        },
    },
    "sql_server": {
        "enabled": False, "server": "SQL01\\SQLEXPRESS_X86,1437", "database": "DEPOFIS", "schema": "DASSA",
        "table": "Salidas", "username": "", "password": "",
    },
    "sync_settings": {
        "arribos": {"batch_size": 1000, "validation_enabled": True, "retry_attempts": 3},
        "pendiente_desconsolidar": {"batch_size": 500, "status_validation": True, "retry_attempts": 3},
        "remisiones": {"batch_size": 1000, "retry_attempts": 3},
        "arribos_expo_ctns": {"batch_size": 500, "container_assignment": True, "quantity_expansion": True,
                              "retry_attempts": 3},
    },
    "business_rules": {
        "container_validation": {"required_fields": ["Contenedor", "Booking"],
                                 "container_format_regex": "^[A-Z]{4}[0-9]{7}$"},
        "booking_validation": {"required_fields": ["Booking", "Cliente"],
                               "booking_format_regex": "^[A-Z0-9]{8,12}$"},
    },
    "archival": {"enabled": False, "days_to_keep": 365, "archive_tables": True},
}

# ---- the old DDL (same columns and types as the old tool's; written here) ----------------
_META = ("source_id INTEGER, fecha_registro TIMESTAMP DEFAULT CURRENT_TIMESTAMP, "
         "fecha_modificacion TIMESTAMP DEFAULT CURRENT_TIMESTAMP")
OLD_DDL = f"""
CREATE TABLE traficov2_arribos (
    id SERIAL PRIMARY KEY, "Terminal" TEXT, "Turno" TEXT, "Contenedor" TEXT, "Cliente" TEXT,
    "Booking" TEXT, "Tipo CNT" TEXT, "Oper." TEXT, "Tiempo" TEXT, "Estado" TEXT, "Chofer" TEXT,
    "Dimension" TEXT, "Fecha" TEXT, {_META});
CREATE TABLE traficov2_pendiente_desconsolidar (
    id SERIAL PRIMARY KEY, "Contenedor" TEXT, "Cliente" TEXT, "Entrega" TEXT, "Vto. Vacio" TEXT,
    "Tipo" TEXT, "Peso" DECIMAL(10,2), "Cantidad" INTEGER, "Envase" TEXT, "Estado" TEXT, "Chofer" TEXT,
    {_META});
CREATE TABLE traficov2_remisiones (
    id SERIAL PRIMARY KEY, "Dia" TEXT, "Cliente" TEXT, "Booking" TEXT, "Contenedor" TEXT, "Volumen" TEXT,
    "Precinto" TEXT, "Observaciones" TEXT, "Estado" TEXT, "e-tally" TEXT, "Hora" TEXT, "Operacion" TEXT,
    "Chofer" TEXT, "Fecha y Hora Fin" TEXT, {_META});
CREATE TABLE traficov2_arribos_ctns_expo (
    id SERIAL PRIMARY KEY, "Fecha" TEXT, "Booking" TEXT, "Cliente" TEXT, "Cantidad" INTEGER,
    "Contenedor" TEXT, "Precinto" TEXT, "Origen" TEXT, "Estado" TEXT, "Obs." TEXT, "Chofer" TEXT, {_META});
CREATE TABLE traficov2_sync_log (
    id SERIAL PRIMARY KEY, table_name TEXT NOT NULL, operation TEXT NOT NULL, source_table TEXT NOT NULL,
    source_id INTEGER, target_id INTEGER, sync_timestamp TIMESTAMP DEFAULT CURRENT_TIMESTAMP, details JSONB);
CREATE TABLE traficov2_otros (
    id SERIAL PRIMARY KEY, "Dia" TEXT, "Hora" TEXT, "Tipo Turno" TEXT, "Operacion" TEXT, "Cliente" TEXT,
    "Contenedor" TEXT, "chofer" TEXT, "Fecha y Hora Fin" TEXT, "Observaciones" TEXT, "Terminal" TEXT,
    "Dimension" TEXT, "Entrega" TEXT, "Cantidad" TEXT, "Fecha" TEXT, "Origen" TEXT,
    "Observaciones trafico" TEXT, "Valor" TEXT, fecha_registro TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
CREATE INDEX idx_traficov2_arribos_contenedor ON traficov2_arribos ("Contenedor");
CREATE INDEX idx_traficov2_arribos_source_id ON traficov2_arribos (source_id);
CREATE INDEX idx_traficov2_expo_booking ON traficov2_arribos_ctns_expo ("Booking");
-- the columns the desk's app writes by id, which the old DDL lacks
ALTER TABLE traficov2_arribos ADD COLUMN chofer TEXT, ADD COLUMN "Observaciones" TEXT;
ALTER TABLE traficov2_pendiente_desconsolidar ADD COLUMN chofer TEXT, ADD COLUMN "Observaciones" TEXT,
    ADD COLUMN "Fecha y Hora Fin" TEXT;
ALTER TABLE traficov2_arribos_ctns_expo ADD COLUMN chofer TEXT, ADD COLUMN "Observaciones" TEXT;
ALTER TABLE traficov2_remisiones ADD COLUMN chofer TEXT, ADD COLUMN "Observaciones trafico" TEXT;
"""

# ---- the sources (text, as the live tables hold it) --------------------------------------
SOURCES = {
    "arribos": (
        ["Fecha", "Terminal", "Turno", "Contenedor", "Cliente", "Booking", "TLAT", "Tipo CNT", "Dimension",
         "Oper.", "Tiempo", "Estado", "Peso", "Peligrosa", "Chofer"],
        [["03/12/2026", "Muelle 5", "0700", "MSKU-786798-2", "Importadora Ñandú SRL", None, "NO", "DRY", "20",
          "IMPO", "1:30", "Asignado", "1429.0", None, None],
         ["15/12/2026", "Muelle 5", "0800", "RIPU9687646", "Electro Hornero SA", None, "NO", "HC", "40", "IMPO",
          None, "Asignado", "2200", "SI", None],
         ["07/12/2026", "Terminal 4", "1030", "TCLU1234560", "Química Paraná Sur SA", None, "NO", "DRY", "20",
          "IMPO", None, "Programado", "800", None, None]]),
    "pendiente_desconsolidar": (
        ["Contenedor", "Cliente", "Entrega", "Vto. Vacio", "Tipo", "Peso", "Cantidad", "Envase", "Estado",
         "Chofer"],
        [["ANDU6127900", "Logística Río SA", "29/11", "13/12", "40RF", "14432.90", "111", "Bolsas", "Pendiente", None],
         ["PLAU-254548-0", "Importadora Ñandú SRL", "01/12", "05/12", "40HC", "1429.0", "2", "Pallets",
          "Pendiente", None]]),
    "remisiones": (
        ["Dia", "Cliente", "Operacion", "Booking", "Contenedor", "Volumen", "Precinto", "Observaciones", "Estado",
         "Hora", "e-tally", "Chofer"],
        [["25/11", "Química Paraná Sur SA", "37644-1-1", "BKG2633798", "PMPU-216597-1", "72.7", "AR596499",
          "Precinto a verificar", None, "08:45", "SI", None],
         ["04/12", "Cerámicas Tala SA", "37644-1-2", None, None, "12", None, None, None, "10:15", None, None]]),
    "arribos_expo_ctns": (
        ["Fecha", "Booking", "Cliente", "Cantidad", "Dimension", "Tipo", "Contenedor", "Precinto", "Origen", "Obs.",
         "Estado", "Peligrosa", "Chofer"],
        [["05/12", "BKG2611012", "Textil Aguaribay SRL", "3", "20", "HC", None, None, "Terminal Norte", None,
          "En depósito", None, None],
         ["05/12", "BKG2611012", "Textil Aguaribay SRL", "1", "20", "HC", "DPFU5069450", "AR596618",
          "Terminal Norte", None, "En depósito", None, None],
         ["27/11", "BKG2611016", "Cerámicas Tala SA", "1", "20", "HC", "PMPU8375300", "AR866664", "Terminal Norte",
          None, "En depósito", "SI", None],
         ["28/11", "BKG2611020", "Textil Aguaribay SRL", "0", "40", "DRY", None, None, "Terminal Sur", None,
          "Pendiente", None, None]]),
}

# ---- what the old tool wrote (its formats), then the desk's edits by id -------------------
OLD_ROWS = {
    "traficov2_arribos": (
        ["Fecha", "Terminal", "Turno", "Contenedor", "Cliente", "Booking", "Tipo CNT", "Oper.", "Tiempo", "Estado",
         "Chofer", "Dimension", "source_id"],
        [["12/03/2026", "Muelle 5", "0700", "MSKU-786798-2", "Importadora Ñandú SRL", None, "DRY", "IMPO", "1:30",
          "Asignado", None, "20", 1],
         ["15/12/2026", "Muelle 5", "0800", "RIPU9687646", "Electro Hornero SA", None, "HC", "IMPO", None,
          "Asignado", None, "40", 2],  # an older copy of the same container (id 2)
         ["15/12/2026", "Muelle 5", "0800", "RIPU9687646", "Electro Hornero SA", None, "HC", "IMPO", None,
          "Asignado", None, "40", 2],
         ["20/11/2026", "Muelle 2", "0900", "OLDU0000017", "Electro Hornero SA", None, "DRY", "IMPO", None,
          "Arribado", None, "20", 9]]),  # a container gone from the source
    "traficov2_pendiente_desconsolidar": (
        ["Contenedor", "Cliente", "Entrega", "Vto. Vacio", "Tipo", "Peso", "Cantidad", "Envase", "Estado", "Chofer",
         "source_id"],
        [["ANDU6127900", "Logística Río SA", "29/11", "13/12", "40RF", 14432.90, 111, "Bolsas",
          "Realizado 01/12/2026 10:00 None", None, 1],
         ["PLAU-254548-0", "Importadora Ñandú SRL", "12/01/2026", "12/05/2026", "40HC", 1429.0, 2, "Pallets",
          "Pendiente", None, 2]]),
    "traficov2_remisiones": (
        ["Dia", "Cliente", "Operacion", "Booking", "Contenedor", "Volumen", "Precinto", "Observaciones", "Estado",
         "Hora", "e-tally", "Chofer", "source_id"],
        [["25/11", "Química Paraná Sur SA", "37644-1-1", "BKG2633798", "PMPU-216597-1", "72.7", "AR596499",
          "Precinto a verificar", None, "08:45", "SI", None, 1],
         ["04/12", "Cerámicas Tala SA", "37644-1-2", None, None, "12", None, None, None, "10:15", None, None, 2]]),
    "traficov2_arribos_ctns_expo": (
        ["Fecha", "Booking", "Cliente", "Cantidad", "Contenedor", "Precinto", "Origen", "Estado", "Obs.", "Chofer",
         "source_id"],
        [["12/05/2026", "BKG2611012", "Textil Aguaribay SRL", 10, "DPFU5069450", "AR596618", "Terminal Norte",
          "En depósito", None, None, 0],
         ["27/11", "BKG2611016", "Cerámicas Tala SA", 1, "PMPU8375300", "AR866664", "Terminal Norte",
          "En depósito", None, None, 4],
         ["28/11", "BKG2611020", "Textil Aguaribay SRL", 0, "-", None, "Terminal Sur", "Pendiente", None, None, 5]]),
}

# the desk's edits, by id: (table, id, {column: value})
DESK_EDITS = [
    ("traficov2_arribos", 1, {"chofer": "Juan Pérez", "Observaciones": "llamar antes"}),
    ("traficov2_arribos", 3, {"Chofer": "Ramón Díaz"}),  # the desk's value in a synced column
    ("traficov2_pendiente_desconsolidar", 2, {"chofer": "Ana Gómez", "Fecha y Hora Fin": "04/12/2026 16:20"}),
    ("traficov2_remisiones", 1, {"chofer": "Luis Sosa", "Observaciones trafico": "ok",
                                 "Fecha y Hora Fin": "01/12/2026 11:05"}),
    ("traficov2_arribos_ctns_expo", 1, {"chofer": "Ana Gómez", "Observaciones": "turno 8 hs",
                                        "Obs.": "cliente pide urgente"}),
    ("traficov2_arribos_ctns_expo", 2, {"Chofer": "Luis Sosa"}),
]
OTROS_ROW = {"Dia": "05/12", "Operacion": "x-1", "chofer": "Ana Gómez", "Fecha": "05/12/2026"}
OLD_LOG = [("traficov2_arribos", "INSERT", "arribos", 1, 1, {"Contenedor": "MSKU-786798-2"}),
           ("traficov2_arribos", "UPDATE", "arribos", 2, 3, {"Estado": "Asignado"})]


def _insert(conn: psycopg.Connection, table: str, columns: list[str], rows: list[list]) -> None:
    from psycopg import sql
    stmt = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns)),
        sql.SQL(", ").join(sql.Placeholder() * len(columns)))
    with conn.cursor() as cur:
        cur.executemany(stmt, rows)


def build_old_deployment(conn: psycopg.Connection) -> None:
    """Every table and row of the old deployment (see the module docstring), in one transaction.
    The sources get trafico's sample layout (``id``, text columns; ``arribos`` and ``remisiones``
    a change timestamp), as the live ones have."""
    from psycopg import sql

    from trafico_lib.sample import create_source_tables
    from trafico_lib.tables import TABLES
    with conn.transaction():
        conn.execute(OLD_DDL)
        create_source_tables(conn)
        for name, (columns, rows) in SOURCES.items():
            _insert(conn, TABLES[name].source, columns, rows)
        for table, (columns, rows) in OLD_ROWS.items():
            _insert(conn, table, columns, rows)
        for table, id_, values in DESK_EDITS:
            conn.execute(sql.SQL("UPDATE {} SET {} WHERE id = %s").format(
                sql.Identifier(table), sql.SQL(", ").join(sql.SQL("{} = %s").format(sql.Identifier(c))
                                                          for c in values)), [*values.values(), id_])
        _insert(conn, "traficov2_otros", list(OTROS_ROW), [list(OTROS_ROW.values())])
        _insert(conn, "traficov2_sync_log", ["table_name", "operation", "source_table", "source_id", "target_id",
                                             "details"],
                [[t, op, s, si, ti, json.dumps(d)] for t, op, s, si, ti, d in OLD_LOG])


def old_ids(conn: psycopg.Connection) -> dict[str, set[int]]:
    """The ids each old table held before the migration."""
    return {t: {r[0] for r in conn.execute(f"SELECT id FROM {t}")} for t in OLD_ROWS}


# ---- the desk's app, as it parses what it reads (its stream_trafico_andresitov2.py) ---------
# table -> [(column, format)]: pd.to_datetime(column, format=..., errors="coerce"); a value that
# does not parse is a blank in the desk's view
DESK_FORMATS = {
    "traficov2_pendiente_desconsolidar": [("Vto. Vacio", "%d/%m")],
    "traficov2_arribos_ctns_expo": [("Fecha", "%d/%m")],
    "traficov2_remisiones": [("Dia", "%d/%m")],
    "traficov2_arribos": [("Fecha", None)],  # parsed with no format (dateutil, month-first)
}


def desk_unparsed(rows: list[dict], table: str) -> list[tuple]:
    """The (id, column, value) of every date the desk's app cannot parse (shown blank)."""
    bad = []
    for column, fmt in DESK_FORMATS.get(table, []):
        for r in rows:
            v = r.get(column)
            if v is None:
                continue
            try:
                if fmt is None:
                    from dateutil import parser
                    parser.parse(v)
                else:
                    datetime.strptime(v, fmt)
            except (ValueError, OverflowError):
                bad.append((r.get("id"), column, v))
    return bad
