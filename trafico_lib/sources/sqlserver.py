"""Exit records (``DEPOFIS.DASSA.Salidas``) from SQL Server through pyodbc (docs/architecture.md §4 step 4, §6).

Optional: enabled by ``sql_server.enabled``. The connection string is the config's
``sql_server.connection_string`` override (any ODBC driver, e.g. PostgreSQL's for tests),
else it is built from ``driver``/``server``/``database`` and the credentials, which come
from the environment (``TRAFICO_SQLSERVER_USER`` / ``TRAFICO_SQLSERVER_PASSWORD``). Without a
``driver`` the best SQL Server driver ``pyodbc.drivers()`` lists is used (:func:`pick_driver`).

What is read is the old tool's query, ``contenedor, fecha_egr, validada`` from
``database.schema.table`` for the last ``lookback_days``, with two differences: the columns
are the ones the table has, learnt once per read by a ``SELECT * … WHERE 1 = 0`` (no rows), so
``orden_ing, suborden, renglon`` are read where the table has them (remisiones match on them) and
a table with only the old three columns still serves the tables matched by ``Contenedor``; and
the columns a status template names (validation info such as ``usuario``) are read too. Which
column is the exit time is the rule of ``sources/salidas.py``, shared with the CSV reader.

The SQL sent is valid on SQL Server and on any ANSI database: double-quoted identifiers (an
ODBC connection to SQL Server has ``QUOTED_IDENTIFIER ON``; a name holding a quote is refused)
and a ``?`` parameter for the look-back bound, never a value in the text. Every failure
(pyodbc missing, driver missing, server unreachable, login failed, query failed) is one
:class:`SqlServerUnavailable` line that never contains a password.
"""
from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pandas as pd

from ..errors import SyncFailed, scrub
from .salidas import KNOWN_COLUMNS, time_column

# SQLSTATE classes pyodbc reports (first element of the exception's args)
_LOGIN_FAILED = {"28000"}
_UNREACHABLE = {"08001", "08S01", "08004", "HYT00", "HYT01"}
_SECRET_KEYS = {"pwd", "password"}
# Microsoft's drivers ("ODBC Driver 18 for SQL Server", newest first), then these, in order
_MS_DRIVER = re.compile(r"(?i)^ODBC Driver (\d+) for SQL Server$")
_OTHER_DRIVERS = ("FreeTDS", "SQL Server")


class SqlServerUnavailable(SyncFailed):
    """Exit records cannot be read; the message is one line, without secrets."""


class NoDriver(SqlServerUnavailable):
    """No SQL Server ODBC driver is installed (and none is configured): the machine, not the
    configuration, lacks something."""


def quote_identifier(name: str, what: str = "identifier") -> str:
    """``name`` as an ANSI double-quoted identifier; names holding quotes or control
    characters are refused (they could only be an injection or a typo)."""
    if not isinstance(name, str) or not name.strip():
        raise SqlServerUnavailable(f"sql_server.{what}: an identifier is required")
    if '"' in name or any(ord(ch) < 32 for ch in name):
        raise SqlServerUnavailable(f"sql_server.{what}: identifier {name!r} contains a forbidden character")
    return f'"{name}"'


def _odbc_value(value: str) -> str:
    """A connection-string value, braced when it holds characters ODBC would misread."""
    if value and (any(ch in value for ch in ";{}=") or value != value.strip()):
        return "{" + value.replace("}", "}}") + "}"
    return value


def connection_string(cfg) -> str:
    """The ODBC connection string: the config override as is, else built from its parts.

    Without a username the connection uses Windows authentication (``Trusted_Connection``).
    """
    ss = cfg.sql_server
    if ss.connection_string is not None and ss.connection_string.get_secret_value().strip():
        return ss.connection_string.get_secret_value().strip()
    if not ss.server.strip():
        raise SqlServerUnavailable("sql_server.server is not set (nor sql_server.connection_string)")
    parts = [f"DRIVER={{{driver_name(cfg)}}}", f"SERVER={_odbc_value(ss.server)}",
             f"DATABASE={_odbc_value(ss.database)}"]
    if ss.username:
        parts.append(f"UID={_odbc_value(ss.username)}")
        if ss.password is not None:
            parts.append(f"PWD={_odbc_value(ss.password.get_secret_value())}")
    else:
        parts.append("Trusted_Connection=yes")
    return ";".join(parts) + ";"


def pick_driver(installed: list[str]) -> str | None:
    """The best SQL Server driver among ``installed`` (``pyodbc.drivers()``): Microsoft's
    ``ODBC Driver N for SQL Server``, highest N first (18, then 17), then ``FreeTDS``, then the
    legacy Windows ``SQL Server`` the old tool named; None when there is none of them."""
    ms = sorted(((int(m.group(1)), d) for d in installed if (m := _MS_DRIVER.match(d.strip()))), reverse=True)
    if ms:
        return ms[0][1]
    for want in _OTHER_DRIVERS:
        for d in installed:
            if d.strip().lower() == want.lower():
                return d
    return None


def _installed_drivers() -> list[str]:
    try:
        import pyodbc
    except ImportError:
        raise SqlServerUnavailable("pyodbc is not installed (pip install pyodbc)") from None
    return list(pyodbc.drivers())


def driver_name(cfg, installed: list[str] | None = None) -> str:
    """``sql_server.driver`` when set, else :func:`pick_driver` over the installed drivers;
    none of them installed is one line naming what is."""
    if cfg.sql_server.driver:
        return cfg.sql_server.driver
    installed = _installed_drivers() if installed is None else installed
    picked = pick_driver(installed)
    if picked is None:
        raise NoDriver(
            f"no SQL Server ODBC driver is installed (installed drivers: {', '.join(installed) or 'none'}); "
            "install Microsoft's ODBC Driver 18 for SQL Server or FreeTDS, or set sql_server.driver")
    return picked


def table_name(cfg) -> str:
    """``"database"."schema"."table"`` as the old tool named it (``[DEPOFIS].[DASSA].[Salidas]``);
    without a database, ``"schema"."table"``."""
    ss = cfg.sql_server
    parts = [quote_identifier(ss.database, "database")] if ss.database.strip() else []
    return ".".join([*parts, quote_identifier(ss.schema_, "schema"), quote_identifier(ss.table, "table")])


def columns_query(cfg) -> str:
    """A query that returns the table's columns and no row."""
    return f"SELECT * FROM {table_name(cfg)} WHERE 1 = 0"


def exits_query(cfg, columns: list[str], time: str) -> str:
    """The exit-records SELECT of ``columns``, from a look-back bound (``?``) on ``time``."""
    cols = ", ".join(quote_identifier(c, "column") for c in columns)
    t = quote_identifier(time, "column")
    return f"SELECT {cols} FROM {table_name(cfg)} WHERE {t} >= ? ORDER BY {t}"


def exit_columns(available: list[str], fields=()) -> list[str]:
    """Which of the table's ``available`` columns to read: the exit records' own (any case)
    and the validation info a status template names (``fields``), in the table's order."""
    wanted = {*KNOWN_COLUMNS, *(f.lower() for f in fields)}
    return [c for c in available if str(c).strip().lower() in wanted]


def _driver_name(conn_str: str) -> str | None:
    m = re.search(r"(?i)\bdriver\s*=\s*(\{(?:[^}]|\}\})*\}|[^;]*)", conn_str)
    if not m:
        return None
    name = m.group(1).strip()
    return name[1:-1].replace("}}", "}") if name.startswith("{") else name


def _secrets_of(cfg, conn_str: str) -> list[str]:
    out = list(cfg.secrets)
    for m in re.finditer(r"(?i)(?:^|;)\s*([^=;]+?)\s*=\s*(\{(?:[^}]|\}\})*\}|[^;]*)", conn_str):
        if m.group(1).strip().lower() in _SECRET_KEYS:
            v = m.group(2).strip()
            out.append(v)
            if v.startswith("{"):
                out.append(v[1:-1].replace("}}", "}"))
    return [s for s in out if s]


def scrub_message(message: object, secrets: list[str]) -> str:
    """First meaningful line of a driver message (its text, or the error), vendor prefixes and secrets removed."""
    text = re.sub(r"\[[^\]]*\]", "", str(message))
    text = re.sub(r"\(\d+\)\s*\(SQL\w+\)", "", text)
    text = re.sub(r"\(SQL\w+\)", "", text)
    lines = [ln.strip(" ;.") for ln in re.split(r"[\r\n]+|;\s*(?=\S)", text) if ln.strip(" ;.")]
    line = lines[0] if lines else "unknown error"
    return scrub(line, secrets)[:300]


def _explain(exc: Exception, cfg, conn_str: str) -> str:
    args = exc.args
    state = str(args[0]) if len(args) > 1 else ""
    detail = scrub_message(args[1] if len(args) > 1 else (args[0] if args else exc), _secrets_of(cfg, conn_str))
    ss = cfg.sql_server
    where = f" {ss.server}/{ss.database}" if ss.server else ""
    if state == "IM002" or (state == "01000" and "can't open lib" in detail.lower()):
        import pyodbc
        installed = ", ".join(pyodbc.drivers()) or "none"
        name = _driver_name(conn_str)
        if name is None:
            return f"no ODBC driver named in the connection string ({detail}; installed drivers: {installed})"
        return f"ODBC driver {name!r} is not installed (installed drivers: {installed})"
    if state in _LOGIN_FAILED or re.search(r"(?i)login failed|authentication failed", detail):
        return f"login to SQL Server{where} failed: {detail}"
    if state in _UNREACHABLE:
        return f"SQL Server{where} is unreachable: {detail}"
    return f"cannot connect to SQL Server{where}: {detail}"


def connect(cfg):
    """An open pyodbc connection (autocommit, read only use), or :class:`SqlServerUnavailable`."""
    try:
        import pyodbc
    except ImportError:
        raise SqlServerUnavailable("pyodbc is not installed (pip install pyodbc)") from None
    conn_str = connection_string(cfg)
    timeout = cfg.sql_server.timeout_seconds
    try:
        conn = pyodbc.connect(conn_str, timeout=timeout, autocommit=True)
    except pyodbc.Error as exc:
        raise SqlServerUnavailable(_explain(exc, cfg, conn_str)) from None
    try:
        conn.timeout = timeout  # query timeout, where the driver supports it
    except pyodbc.Error:
        pass
    return conn


def _local_naive(moment: datetime, tz: str) -> datetime:
    """SQL Server keeps local wall-clock times: compare in the depot's zone, without offset."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(ZoneInfo(tz)).replace(tzinfo=None)


def fetch_exits(cfg, since: datetime, fields=()) -> pd.DataFrame:
    """Exit records whose exit time (``fecha_egr``, else ``validada``) is at or after ``since``,
    as the database returns them: the exit-record columns the table has plus the ``fields`` a
    status template names, values as the driver types them (object columns: a flag stays a
    flag, an integer with NULLs is not turned into floats)."""
    where = f"reading {cfg.sql_server.schema_}.{cfg.sql_server.table}"
    conn = connect(cfg)
    try:
        import pyodbc
        try:
            cur = conn.cursor()
            cur.execute(columns_query(cfg))
            available = [d[0] for d in cur.description]
            cur.fetchall()
            time = time_column(available)
            if time is None:
                raise SqlServerUnavailable(f"{where}: the table has neither fecha_egr nor validada "
                                           f"(columns: {', '.join(available)})")
            columns = exit_columns(available, fields)
            cur.execute(exits_query(cfg, columns, time), _local_naive(since, cfg.sql_server.timezone))
            columns = [d[0] for d in cur.description]
            rows = cur.fetchall()
        except pyodbc.Error as exc:
            conn_str = connection_string(cfg)
            args = exc.args
            detail = scrub_message(args[1] if len(args) > 1 else exc, _secrets_of(cfg, conn_str))
            raise SqlServerUnavailable(f"{where} failed: {detail}") from None
    finally:
        conn.close()
    return pd.DataFrame({c: pd.Series([r[i] for r in rows], dtype=object) for i, c in enumerate(columns)})
