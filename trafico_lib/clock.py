"""Times as people read them: one display zone for every line, page and folder (layer 0).

The depot reads its reports in its own time zone: the configuration's ``time_zone`` (an IANA
name such as ``America/Argentina/Buenos_Aires``), else the machine's (``TZ``, else
``/etc/localtime``). Log stamps, run ids and the archive's ``runs/<yyyy>/<mm>/<dd>/`` folders,
the health block, the Data Docs and the notebooks' lines all go through here; what is stored
stays ``timestamptz`` (an instant), whatever the zone.

The zone is set once per process when the configuration is loaded (:func:`set_zone`, called
by ``config.load_config``: the command line, the runner and every notebook kernel load it), so a
helper deep in the library needs no configuration to show a time. A kernel's own ``TZ`` does
not matter once the configuration names a zone.

A naive datetime is taken as UTC: the library's own times are aware, and a naive one comes
from a store or a source column without a zone, which the engine reads as UTC too
(``engine.extract.watermark_of``).
"""
from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_zone: tzinfo | None = None  # set by set_zone (the configuration's); None: the machine's


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ValueError with one line when there is none by that name."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"an IANA time zone name such as America/Argentina/Buenos_Aires, got {name!r}") from None


def _key_of(path: str) -> str | None:
    """``Asia/Tokyo`` of ``/usr/share/zoneinfo/Asia/Tokyo``; None when the path is no zone file."""
    head, sep, key = path.partition("zoneinfo/")
    return key if sep and key else None


def machine_zone() -> tzinfo:
    """This machine's zone, read now: ``TZ`` (a name or a zone file's path), else the zone
    ``/etc/localtime`` links to, else the C library's current offset (a fixed one)."""
    tz = os.environ.get("TZ", "").lstrip(":")
    candidates = [_key_of(tz) or tz] if tz else []
    if not tz:
        try:
            candidates.append(_key_of(os.readlink("/etc/localtime")) or "")
        except OSError:
            pass
    for name in candidates:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            continue
    if not tz and Path("/etc/localtime").is_file():
        try:
            with open("/etc/localtime", "rb") as f:
                return ZoneInfo.from_file(f, key="localtime")
        except (OSError, ValueError):
            pass
    return datetime.now().astimezone().tzinfo or UTC


def set_zone(zone: str | tzinfo | None) -> None:
    """The process's display zone from here on: a name (the configuration's ``time_zone``), a
    zone, or None for the machine's."""
    global _zone
    _zone = zone_named(zone) if isinstance(zone, str) else zone


def display_zone(cfg=None) -> tzinfo:
    """The zone times are shown in: ``cfg``'s ``time_zone`` when a configuration is given (the
    machine's when it names none), else the one :func:`set_zone` set, else the machine's."""
    if cfg is not None:
        name = getattr(cfg, "time_zone", None)
        return zone_named(name) if name else machine_zone()
    return _zone if _zone is not None else machine_zone()


def zone_name(cfg=None) -> str:
    """The display zone's name: ``America/Argentina/Buenos_Aires``, ``UTC``."""
    zone = display_zone(cfg)
    key = getattr(zone, "key", None)
    return key if key and key != "localtime" else (now(cfg).tzname() or "local time")


def now(cfg=None) -> datetime:
    """The time now, in the display zone (aware)."""
    return datetime.now(display_zone(cfg))


def today(cfg=None) -> date:
    """Today's date in the display zone: the date of a run's folder."""
    return now(cfg).date()


def local(dt: datetime, cfg=None) -> datetime:
    """``dt`` in the display zone (aware); a naive ``dt`` is taken as UTC. A pandas Timestamp
    comes back as a plain datetime."""
    to_py = getattr(dt, "to_pydatetime", None)
    if to_py is not None:
        dt = to_py()
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(display_zone(cfg))


def stamp(dt: datetime | None = None, cfg=None) -> str:
    """ISO 8601 to the second with the offset, in the display zone (now when ``dt`` is None):
    ``2026-12-06T07:00:00-03:00`` (log lines)."""
    return local(dt or datetime.now(UTC), cfg).isoformat(timespec="seconds")


def zone_text(dt: datetime) -> str:
    """An aware time's zone as :func:`minute_text` writes it: the zone's abbreviation when it
    has one in letters (``UTC``, ``CET``, ``JST``), else the offset (``-03``, ``+05:30``), as
    ``date`` prints them."""
    name = dt.tzname() or ""
    if name.isalpha():
        return name
    offset = dt.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    hours, rest = divmod(minutes, 60)
    return f"{sign}{hours:02d}" + (f":{rest:02d}" if rest else "")


def minute_text(dt: datetime, cfg=None) -> str:
    """A time to the minute with its zone, in the display zone: ``2026-12-06 07:00 -03`` (the
    one short form of the health block, the Data Docs and the notebooks' tables)."""
    d = local(dt, cfg)
    return f"{d:%Y-%m-%d %H:%M} {zone_text(d)}"


def second_text(dt: datetime, cfg=None) -> str:
    """:func:`minute_text` to the second: ``2026-12-06 07:00:12 -03``."""
    d = local(dt, cfg)
    return f"{d:%Y-%m-%d %H:%M:%S} {zone_text(d)}"
