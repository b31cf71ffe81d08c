"""``Realizado`` status from exit records (docs/architecture.md §4 step 4).

An exit record (``orden_ing, suborden, renglon, contenedor, fecha_egr, validada`` plus any
other columns, which count as validation info) says a movement left the depot at
``fecha_egr`` (a record set without that column: at the timestamp in ``validada``; the rule is
``sources/salidas.py``, one for every reader). Rows it matches get ``Estado`` from a per-table
template over the exit time ``{fecha_egr}``, ``{validada}`` (whatever it holds) and the other
info. How a row matches is the table's ``exit_match`` trait: a ``Contenedor`` against
``contenedor``, or an ``Operacion`` (``orden_ing-suborden-renglon``) against its three parts.

:func:`load_exits` reads the records (SQL Server, else the ``salidas`` CSV) and never fails a
run: when they cannot be read it returns no records and one line saying why.
:func:`apply_status` is pure.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from ..config import status_template_fields
from ..errors import UsageError
from ..sources.salidas import EXIT_TIME, VALIDATION, by_lower, time_column
from ..tables import DONE_WORD, MATCH_OPERATION, STATUS_OLD_TOOL, TableSpec
from ..values import is_missing

_log = logging.getLogger(__name__)

EXIT_COLUMNS = ["orden_ing", "suborden", "renglon", "contenedor", "fecha_egr", "validada", "info"]
MATCH_COLUMNS = ["key", "estado_before", "estado_after", "fecha_egr"]
_KEY_PARTS = MATCH_OPERATION.parts  # an operation number's parts, as exit records name them
DEFAULT_TZ = "America/Argentina/Buenos_Aires"


class StatusTemplateError(UsageError, ValueError):
    """A status template (configuration) that cannot be applied, as one line."""


@dataclass
class Exits:
    """Exit records ready for matching (``EXIT_COLUMNS``), where they came from, and the one
    line to show when status is unavailable (``note``; None when records were read)."""
    frame: pd.DataFrame
    source: str  # "sqlserver" | "csv" | "none"
    note: str | None = None


def empty_exits_frame(tz: str = DEFAULT_TZ) -> pd.DataFrame:
    out = pd.DataFrame({c: pd.Series([], dtype=object) for c in EXIT_COLUMNS})
    out["fecha_egr"] = pd.Series([], dtype=f"datetime64[ns, {tz}]")
    return out


def default_template(spec: TableSpec, legacy: bool = False) -> str:
    """The table's ``Estado`` format when none is configured: its live format (``09:50
    Realizado``, ``Realizado 28/11/2026 14:32``), or, for a table the old tool laid out
    (``legacy``), the old tool's text, ``Realizado 28/11/2026 14:32 <validada>``."""
    return STATUS_OLD_TOOL if legacy else spec.status_template


# ---- turning raw records into the exits frame -------------------------------------------

def key_part(v: Any) -> str | None:
    """One part of an operation number as canonical text: ``'037644'``/``37644``/``37644.0`` -> ``'37644'``."""
    if is_missing(v):
        return None
    s = str(v).strip()
    if re.fullmatch(r"\d+(?:\.0*)?", s):
        return str(int(float(s))) if "." in s else str(int(s))
    return s or None


def split_operacion(v: Any, parts: int = 3) -> tuple[str, ...] | None:
    """``'37644-1-1'`` -> ``('37644', '1', '1')``; None when it is not ``parts`` parts."""
    if is_missing(v):
        return None
    pieces = re.sub(r"\s+", "", str(v)).split("-")
    if len(pieces) != parts or not all(pieces):
        return None
    return tuple(key_part(p) for p in pieces)  # type: ignore[return-value]


def match_key(v: Any, parts: int) -> tuple | None:
    """A row's match value as the exit parts it stands for: one part as itself (a container),
    several split from ``a-b-c`` (an operation number)."""
    if parts == 1:
        return (None if is_missing(v) else str(v),)
    return split_operacion(v, parts)


_STAMP_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d-%m-%Y %H:%M:%S", "%d-%m-%Y %H:%M",
                  "%d/%m/%y %H:%M", "%d-%m-%y %H:%M", "%d/%m/%Y", "%d-%m-%Y")


def parse_timestamp(v: Any, tz: ZoneInfo) -> datetime | None:
    """An exit timestamp as an aware datetime in ``tz``; naive values are local wall-clock time."""
    if is_missing(v):
        return None
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, datetime):
        moment = v
    elif isinstance(v, date):
        moment = datetime(v.year, v.month, v.day)
    else:
        text = str(v).strip()
        if not text:
            return None
        moment = None
        if re.match(r"^\d{4}-\d{2}-\d{2}", text):
            try:
                moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" T", "T"))
            except ValueError:
                moment = None
        if moment is None:
            for fmt in _STAMP_FORMATS:
                try:
                    moment = datetime.strptime(text, fmt)
                    break
                except ValueError:
                    continue
        if moment is None:
            return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=tz)
    return moment.astimezone(tz)


def _aware_series(values: list[datetime | None], tz: str) -> pd.Series:
    """Aware datetimes (None allowed) as a ``datetime64[ns, tz]`` column."""
    return pd.to_datetime(pd.Series(values, dtype=object), utc=True).dt.tz_convert(tz)


def exits_frame(raw: pd.DataFrame, *, tz: str = DEFAULT_TZ, where: str = "exit records") -> pd.DataFrame:
    """Raw exit records (any column case, from SQL Server or CSV) as ``EXIT_COLUMNS``.

    ``fecha_egr`` is the exit time, read from the column :func:`sources.salidas.time_column`
    names; ``validada`` is the record's value as it came (None when missing); ``info`` holds
    every other column (meta ``_`` columns excepted). Rows without a readable exit time are
    dropped with a log line. A missing required column is a ``ValueError``.
    """
    if raw is None or len(raw.columns) == 0:
        return empty_exits_frame()
    names = by_lower(raw.columns)
    time = time_column(raw.columns)
    if time is None:
        raise ValueError(f"{where}: needs column fecha_egr (or validada holding the exit time)")
    if "contenedor" not in names and not all(p in names for p in _KEY_PARTS):
        raise ValueError(f"{where}: needs column contenedor or orden_ing, suborden, renglon")
    from ..normalize import normalize_container
    zone = ZoneInfo(tz)
    n = len(raw)
    col = lambda name: raw[names[name]] if name in names else pd.Series([None] * n, index=raw.index)
    known = {names[k] for k in (*_KEY_PARTS, "contenedor", EXIT_TIME, VALIDATION) if k in names}
    info_cols = [c for c in raw.columns if c not in known and not str(c).startswith("_")]
    out = pd.DataFrame({
        **{p: pd.Series([key_part(v) for v in col(p)], dtype=object) for p in _KEY_PARTS},
        "contenedor": pd.Series(normalize_container(col("contenedor").astype(object)).tolist(), dtype=object),
        "fecha_egr": _aware_series([parse_timestamp(v, zone) for v in raw[time]], tz),
        "validada": pd.Series([None if is_missing(v) else v for v in col(VALIDATION)], dtype=object),
        "info": pd.Series([{str(c): (None if is_missing(r[c]) else r[c]) for c in info_cols}
                           for r in raw[info_cols].to_dict("records")] if info_cols else [{}] * n,
                          dtype=object),
    })
    bad = out["fecha_egr"].isna()
    if bad.any():
        _log.warning("%s: %d record(s) without a readable %s ignored", where, int(bad.sum()), str(time).lower())
        out = out[~bad].reset_index(drop=True)
    return out


# ---- loading -------------------------------------------------------------------------------

def _none(note: str) -> Exits:
    _log.debug(note)  # the run says it once, naming its table (pipeline)
    return Exits(empty_exits_frame(), "none", note)


def _unmatchable(raw: pd.DataFrame, spec: TableSpec | None, where: str) -> str | None:
    """Why ``spec``'s rows cannot match these records (they lack its match columns), or None."""
    if spec is None or raw is None or len(raw.columns) == 0:
        return None
    names = by_lower(raw.columns)
    missing = [p for p in spec.exit_match.parts if p not in names]
    if not missing:
        return None
    return (f"status skipped: {where} has no {', '.join(missing)}, which {spec.name} matches "
            f"its {spec.exit_match.column} on")


def load_exits(cfg, *, now: datetime | None = None, spec: TableSpec | None = None,
               template: str | None = None) -> Exits:
    """Exit records from SQL Server (``sql_server.enabled``, look-back ``lookback_days``), else
    from the ``salidas`` CSV when it exists. When neither can be read the result holds no
    records, ``source`` ``"none"`` and a one-line ``note`` (the run goes on without status).

    For one table's run give its ``spec`` and status ``template``: SQL Server is then asked
    for the columns the template names besides the exit records' own, and records without the
    table's match columns (a ``Salidas`` with only ``contenedor, fecha_egr, validada`` for
    remisiones) are a note too."""
    ss = cfg.sql_server
    tz = ss.timezone
    if ss.enabled:
        from ..sources.sqlserver import SqlServerUnavailable, fetch_exits
        now = now or datetime.now(ZoneInfo(tz))
        since = now - timedelta(days=ss.lookback_days)
        fields = _template_fields(template) - {EXIT_TIME, VALIDATION} if template else set()
        where = f"{ss.schema_}.{ss.table}"
        try:
            raw = fetch_exits(cfg, since, sorted(fields))
            note = _unmatchable(raw, spec, where)
            return _none(note) if note else Exits(exits_frame(raw, tz=tz, where=where), "sqlserver")
        except SqlServerUnavailable as exc:
            return _none(f"status skipped: {exc}")
        except ValueError as exc:
            return _none(f"status skipped: {exc}")
    path = cfg.csv_path("salidas")
    if not cfg.csv_sources.enabled:
        return _none("status skipped: SQL Server and CSV sources are both disabled")
    if not path.exists():
        return _none(f"status skipped: SQL Server disabled and {path} not found")
    from ..sources.csv import CsvError, read_named_csv
    try:
        raw = read_named_csv(cfg, "salidas")
        note = _unmatchable(raw, spec, str(path))
        return _none(note) if note else Exits(exits_frame(raw, tz=tz, where=str(path)), "csv")
    except (CsvError, ValueError) as exc:
        return _none(f"status skipped: {exc}")


# ---- applying ------------------------------------------------------------------------------

def _template_fields(template: str) -> set[str]:
    try:
        return status_template_fields(template)
    except ValueError as exc:
        raise StatusTemplateError(str(exc)) from None


def old_text(v: Any) -> str:
    """A validation value as the old tool appended it (``f"… {validada}"`` over a pandas row):
    ``None`` when missing, ``True``/``1``/text as they are, a timestamp as pandas prints one
    (``2026-11-28 10:15:00``), an exact decimal as the float pandas made of it."""
    if is_missing(v):
        return "None"
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):  # numpy scalars: as Python's
        v = v.item()
    if isinstance(v, datetime):
        return str(pd.Timestamp(v))
    if isinstance(v, Decimal):
        return str(float(v))
    return str(v)


class Validation:
    """``validada`` as a status template shows it: bare (``{validada}``) as the old tool printed
    it (:func:`old_text`); with a format (``{validada:%H:%M}``) as the time it holds, as trafico's
    templates have always read it (a missing value: empty). A format on a value that holds no
    time is an error naming ``{fecha_egr}``, the exit time."""

    def __init__(self, raw: Any, tz: ZoneInfo):
        self.raw = raw
        plain = isinstance(raw, (bool, int, float, Decimal)) or (hasattr(raw, "item") and not isinstance(raw, str))
        self.moment = None if plain else parse_timestamp(raw, tz)

    def __str__(self) -> str:
        return old_text(self.raw)

    def __format__(self, spec: str) -> str:
        if not spec:
            return str(self)
        if self.moment is not None:
            return format(self.moment, spec)
        if is_missing(self.raw):
            return ""
        try:
            return format(self.raw, spec)
        except (ValueError, TypeError):
            raise ValueError(f"validada holds {old_text(self.raw)!r}, not a time; the exit time is "
                             f"{{fecha_egr:{spec}}}") from None

    def __getattr__(self, name: str):
        if name in ("raw", "moment"):
            raise AttributeError(name)
        return getattr(self.moment if self.moment is not None else self.raw, name)


def render_estado(template: str, fecha_egr: datetime, validada: Any, info: dict, tz: ZoneInfo | None = None) -> str:
    """``template`` filled with the exit time ``fecha_egr``, ``validada`` (a :class:`Validation`)
    and the info values (None shown as empty)."""
    values = {k: ("" if is_missing(v) else v) for k, v in (info or {}).items()}
    values[EXIT_TIME] = fecha_egr
    values[VALIDATION] = Validation(validada, tz or getattr(fecha_egr, "tzinfo", None) or ZoneInfo(DEFAULT_TZ))
    try:
        return template.format(**values)
    except KeyError as exc:
        raise StatusTemplateError(f"status template {template!r}: unknown field {exc.args[0]!r}; "
                                  f"available: {', '.join(sorted(values))}") from None
    except (ValueError, IndexError, AttributeError, TypeError) as exc:
        raise StatusTemplateError(f"status template {template!r}: {exc}") from None


_DONE_AT = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})\s+(\d{1,2}):(\d{2})")


def done_at(estado: Any, tz) -> pd.Timestamp | None:
    """When a done status (``Realizado 28/11/2026 11:20``) says the movement was done, in
    ``tz``; None for a status that is not done or carries no date (``09:50 Realizado``)."""
    if not isinstance(estado, str) or DONE_WORD.lower() not in estado.lower():
        return None
    m = _DONE_AT.search(estado)
    if not m:
        return None
    d, mo, y, h, mi = map(int, m.groups())
    try:
        return pd.Timestamp(datetime(y, mo, d, h, mi)).tz_localize(tz)
    except ValueError:
        return None


def _latest(exits: pd.DataFrame, key_cols: list[str]) -> pd.DataFrame:
    usable = exits.dropna(subset=key_cols)
    if usable.empty:
        return usable
    order = usable.sort_values("fecha_egr", kind="stable")
    return order.drop_duplicates(subset=key_cols, keep="last")


def apply_status(frame: pd.DataFrame, spec: TableSpec, exits: Exits, *, template: str | None = None,
                 legacy: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Set ``Estado`` on the rows of ``frame`` that an exit record matches (the latest wins;
    a row whose own status is already done at a later time than the exit keeps it).

    Rows match on ``spec.exit_match``. ``template``: the table's configured one, else
    :func:`default_template` (``legacy``: the old tool's text). Returns (a copy of ``frame``
    with ``Estado`` set, matches: ``key`` (the row's ``sync_key``, else its match value),
    ``estado_before``, ``estado_after``, ``fecha_egr`` (the exit time)).
    """
    template = template or default_template(spec, legacy)
    fields = _template_fields(template)
    out = frame.copy()
    matches = pd.DataFrame({c: pd.Series([], dtype=object) for c in MATCH_COLUMNS})
    records = exits.frame if exits is not None else None
    if records is None or records.empty or out.empty:
        return out, matches
    infos = set().union(*[set(i) for i in records["info"]]) | {EXIT_TIME, VALIDATION}
    unknown = sorted(f for f in fields if f not in infos)
    if unknown:
        raise StatusTemplateError(f"status template {template!r}: unknown field {unknown[0]!r}; "
                                  f"available: {', '.join(sorted(infos))}")
    key_cols = list(spec.exit_match.parts)
    source_col = spec.exit_match.column
    row_keys = [match_key(v, len(key_cols)) for v in out[source_col]] if source_col in out \
        else [None] * len(out)
    latest = _latest(records, key_cols)
    lookup = {tuple(r[c] for c in key_cols): r for r in latest.to_dict("records")}
    if "Estado" not in out.columns:
        out["Estado"] = pd.Series([None] * len(out), index=out.index, dtype=object)
    estado = out["Estado"].astype(object).tolist()
    keys = out["sync_key"].tolist() if "sync_key" in out.columns else out[source_col].tolist()
    rows = []
    for i, k in enumerate(row_keys):
        hit = lookup.get(k) if k is not None and None not in k else None
        if hit is None:
            continue
        before = None if is_missing(estado[i]) else estado[i]
        own = done_at(before, hit["fecha_egr"].tz)
        if own is not None and own > hit["fecha_egr"]:
            continue  # the source already says done, later than this exit record
        new = render_estado(template, hit["fecha_egr"], hit["validada"], hit["info"])
        rows.append({"key": keys[i], "estado_before": before, "estado_after": new,
                     "fecha_egr": hit["fecha_egr"]})
        estado[i] = new
    out["Estado"] = pd.Series(estado, index=out.index, dtype=object)
    if rows:
        matches = pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=object) for c in MATCH_COLUMNS[:3]})
        matches["fecha_egr"] = pd.Series([r["fecha_egr"] for r in rows]).dt.tz_convert(records["fecha_egr"].dt.tz)
    return out, matches
