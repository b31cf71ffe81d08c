"""Normalization (docs/architecture.md §4 step 2): pure functions that turn live-format text into typed values.

Every function takes a Series of raw cells (str, None/NaN, or an already-typed value from a
database driver) and returns a new Series; nothing is modified in place. Parsers return
``(values, bad)`` where ``bad`` marks the cells that held something but could not be read,
so the caller can report them instead of silently losing them.

Speed: a column that repeats is factorized and its rule runs once per *distinct* value; a
column of nearly all distinct texts (containers, bookings, weights) is copied side by side
and cleaned by whole-array passes (see "the vectorizing helpers" below). Either way the
per-value functions run only for the cells those passes cannot decide, and the outputs are
those of the per-value functions.

Number rule for the ambiguous ``d.ddd`` shape (``12.500``, ``1.429``): the live database
text uses a decimal point (``1429.0``), and a float written by Python can be ``12.345``;
so a single dot followed by exactly three digits is read as a **decimal point** (12.5),
unless the same column also holds decimal-comma values (``1.429,5``, ``1,5``), in which
case the column is in the Spanish locale and the dot is a **thousands separator** (12500).
Several dots (``1.429.500``) are always thousands; both separators are never ambiguous.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from .tables import DATE, INTEGER, NUMERIC, TEXT, TIME, TableSpec
from .values import is_missing, text_or_none

# ---- placeholders and plain text -------------------------------------------------------

#: Spellings that mean *no value*, compared after stripping (case-insensitive for words).
#: Besides these, any text made only of blanks, ``:`` and ``0`` that has a colon
#: (``:0``, ``: 0``, ``  : 0   ``, ``00:00:0``-like junk from the old exports) is a placeholder.
PLACEHOLDERS: frozenset[str] = frozenset({
    "", "-", "--", "nan", "NaN", "NAN", "None", "none", "NONE", "null", "NULL", "Null",
    "NaT", "nat", "<NA>", ":0", ": 0", ":", "#N/A", "N/A", "n/a",
})
_COLON_ZERO = re.compile(r"^[\s0]*:[\s:0]*$")
_BLANKS = re.compile(r"\s+")
_INT32_MAX = 2**31 - 1


def is_placeholder(text: str) -> bool:
    """True when ``text`` (already stripped) is one of the *no value* spellings."""
    if text in PLACEHOLDERS or (len(text) <= 4 and text.lower() in PLACEHOLDERS):
        return True
    return ":" in text and _COLON_ZERO.match(text) is not None


def clean_value(v: Any) -> str | None:
    """One cell as clean text: outer whitespace trimmed, placeholders and missing values None.

    Non-text values (numbers, dates from a database driver) are written with ``str``.
    """
    if is_missing(v):
        return None
    text = (v if isinstance(v, str) else str(v)).strip()
    if is_placeholder(text):
        return None
    return text


# ---- the vectorizing helpers --------------------------------------------------------------
#
# A rule sees each cell of a column at most once. A column that repeats (clients, dates, shift
# times) is factorized and the rule sees each distinct cell. A column of nearly all distinct
# texts (container numbers, bookings, weights) is not: the rule sees all its cells, first
# copied side by side in memory (joined into one string and split again). Cells read from a
# database lie scattered over the heap, and every pass over them costs a cache miss per cell,
# several times the work a pass does on compact strings; so each column is walked once.
#
# Text cells (the usual case: a source read gives str or None) go through whole-array passes:
# builtin ``str`` methods on every cell or on the column's texts joined by NUL, and numpy masks
# (pandas ``.str`` methods do the same loops, slower, on object columns). Only the few cells
# those passes cannot decide run the per-value function (:func:`is_placeholder`,
# :func:`parse_number_value` ...). A column holding anything else (numbers or dates from a
# database driver) runs the per-value function on each distinct cell.

_DIRECT_MIN = 5_000     # below this many cells, factorizing is cheap whatever the repeats
_SAMPLE = 1_000         # the first cells, looked at to guess whether a column repeats
_SEP = "\x00"           # joins a column's texts (PostgreSQL text never holds it; checked anyway)


def _is_text(values: np.ndarray | pd.Index) -> bool:
    """True when every cell is a ``str`` (missing cells already left out)."""
    return pd.api.types.infer_dtype(values, skipna=False) in ("string", "empty")


def _mostly_distinct(cells: np.ndarray) -> bool:
    if len(cells) < _DIRECT_MIN:
        return False
    try:
        return len(set(cells[:_SAMPLE].tolist())) > _SAMPLE // 2
    except TypeError:  # an unhashable cell: factorize will say so
        return False


def _compact_texts(cells: np.ndarray) -> np.ndarray | None:
    """The cells as new side-by-side str, ``""`` for a missing cell (which every rule reads as a
    placeholder, like a missing cell), or None when a cell is neither or holds a NUL."""
    try:
        joined = _SEP.join(cells)  # one pass when every cell is a str
    except TypeError:
        missing = pd.isna(cells)
        if not _is_text(cells[~missing]):
            return None
        joined = _SEP.join(np.where(missing, "", cells))
    texts = joined.split(_SEP)
    return _array(texts, None) if len(texts) == len(cells) else None


def _lengths(texts: np.ndarray, joined: str) -> np.ndarray:
    """len() of each text, from their NUL-joined text when no text holds a NUL."""
    if joined.count(_SEP) != len(texts) - 1 or not len(texts):
        return np.fromiter(map(len, texts), dtype=np.intp, count=len(texts))
    units = np.frombuffer(joined.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return np.diff(np.concatenate(([-1], np.flatnonzero(units == 0), [len(units)]))) - 1


def _map_cells(s: pd.Series, vec: Callable[[np.ndarray], tuple[np.ndarray, ...]],
               one: Callable[..., tuple[Any, ...]], fills: tuple[Any, ...],
               prepare: Callable[[pd.Index], Any] | None = None) -> tuple[np.ndarray, ...]:
    """Per-row arrays of a rule's outputs; ``fills`` where a cell is missing.

    ``vec`` takes an object array of str and returns one array per output (``""`` must give
    the fills). When a column holds anything but text, ``one`` takes each distinct cell
    instead and returns one value per output (after ``prepare(uniques)``, when given, has seen
    them all: ``one(cell, context)``).
    """
    if not isinstance(s.dtype, pd.CategoricalDtype):
        cells = s.to_numpy(dtype=object)
        if _mostly_distinct(cells):
            texts = _compact_texts(cells)
            if texts is not None:
                return vec(texts)
    codes, uniques = pd.factorize(s, use_na_sentinel=True)
    if isinstance(uniques, pd.CategoricalIndex):  # the categories used, as plain values
        uniques = pd.Index(list(uniques), dtype=object)
    if _is_text(uniques):
        mapped = vec(np.asarray(uniques, dtype=object))
    else:
        extra = (prepare(uniques),) if prepare else ()
        per_value = [one(u, *extra) for u in uniques]
        mapped = tuple(_array([r[k] for r in per_value], fill) for k, fill in enumerate(fills))
    # code -1 (missing) picks the last slot
    return tuple(np.append(got, fill)[codes] for fill, got in zip(fills, mapped))


def _array(values: list, fill: Any) -> np.ndarray:
    """A 1-d array of ``values``, typed like ``fill`` (bool, float64, else object)."""
    dtype = bool if isinstance(fill, bool) else "float64" if isinstance(fill, float) else object
    out = np.empty(len(values), dtype=dtype)
    out[:] = values
    return out


def _object_series(values: np.ndarray | list, index: pd.Index, name: Any) -> pd.Series:
    return pd.Series(values, index=index, name=name, dtype=object)


def _strip(texts: np.ndarray) -> np.ndarray:
    return _array([t.strip() for t in texts], None)


def _placeholder_mask(texts: np.ndarray, joined: str | None = None) -> np.ndarray:
    """:func:`is_placeholder` of each str (``joined``: the texts joined by NUL, when at hand):
    only a text of at most 4 characters (the longest spelling) or one with a colon can be a
    placeholder, so only those are looked at."""
    joined = _SEP.join(texts) if joined is None else joined
    maybe = _lengths(texts, joined) <= 4
    if ":" in joined:
        maybe |= np.array([":" in t for t in texts], dtype=bool)
    mask = np.zeros(len(texts), dtype=bool)
    if maybe.any():
        mask[maybe] = [is_placeholder(t) for t in texts[maybe]]
    return mask


def _blank_free(text: str) -> bool:
    """True when ``text`` holds no whitespace (so stripping any part of it changes nothing)."""
    parts = text.split(None, 1)
    return len(parts) == 1 and len(parts[0]) == len(text)


def _clean_vec(texts: np.ndarray) -> tuple[np.ndarray]:
    """:func:`clean_value` of each str."""
    joined = _SEP.join(texts)
    if _blank_free(joined):
        stripped = texts.copy()
    else:
        stripped, joined = _strip(texts), None
    stripped[_placeholder_mask(stripped, joined)] = None
    return (stripped,)


def clean_text(s: pd.Series) -> pd.Series:
    """Trimmed text with placeholders as None (object dtype, each cell str or None)."""
    values, = _map_cells(s, _clean_vec, lambda v: (clean_value(v),), (None,))
    return _object_series(values, s.index, s.name)


def _text_rule(s: pd.Series, rule: Callable[[str], str]) -> pd.Series:
    """Cells cleaned, then ``rule``; an empty or placeholder result is None.

    ``rule`` maps each character on its own (drops blanks, upper-cases ...), so it runs once on
    the column's texts joined by NUL (unless it touches a NUL) instead of once per text.
    """
    def one(v: Any) -> tuple[str | None]:
        text = clean_value(v)
        if text is None:
            return (None,)
        out = rule(text)
        return (out if out and not is_placeholder(out) else None,)

    def vec(texts: np.ndarray) -> tuple[np.ndarray]:
        joined = _SEP.join(texts)
        if not _blank_free(joined):
            texts = _strip(texts)
            joined = _SEP.join(texts)
        gone = _placeholder_mask(texts, joined)
        whole = rule(joined) if joined.count(_SEP) == len(texts) - 1 else None
        if whole is not None and whole.count(_SEP) == len(texts) - 1:
            out = _array(whole.split(_SEP), None)
        else:
            out, whole = _array([rule(t) for t in texts], None), None
        gone |= _placeholder_mask(out, whole)  # "" is a placeholder
        out[gone] = None
        return (out,)
    values, = _map_cells(s, vec, one, (None,))
    return _object_series(values, s.index, s.name)


def _no_blanks(text: str) -> str:
    """``text`` without any whitespace (``str.split`` and regex ``\\s`` agree on what is one)."""
    return "".join(text.split())


def normalize_container(s: pd.Series) -> pd.Series:
    """Container numbers upper-case without blanks or dashes: ``msku 123456 6`` -> ``MSKU1234566``."""
    return _text_rule(s, lambda t: _no_blanks(t).replace("-", "").upper())


def normalize_booking(s: pd.Series) -> pd.Series:
    """Bookings upper-case with inner blanks removed; ``/`` and ``-`` are part of the booking."""
    return _text_rule(s, lambda t: _no_blanks(t).upper())


def normalize_operacion(s: pd.Series) -> pd.Series:
    """Remisiones ``Operacion`` (``orden_ing-suborden-renglon``): trimmed, inner blanks removed."""
    return _text_rule(s, _no_blanks)


# ---- dates -------------------------------------------------------------------------------

_TIME_PART = r"(?:[ T]+(\d{1,2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?(?:\s*(?:Z|[+-]\d{2}(?::?\d{2})?))?)?"
_DAY_FIRST = re.compile(r"^(\d{1,2})[/.-](\d{1,2})(?:[/.-](\d{4}|\d{2}))?" + _TIME_PART + r"$")
_YEAR_FIRST = re.compile(r"^(\d{4})[/.-](\d{1,2})[/.-](\d{1,2})" + _TIME_PART + r"$")


def _valid_clock(h: str | None, m: str | None, sec: str | None) -> bool:
    if h is None:
        return True
    return int(h) <= 23 and int(m) <= 59 and (sec is None or int(sec) <= 59)


def _make_date(y: int, m: int, d: int) -> date | None:
    try:
        return date(y, m, d)
    except ValueError:
        return None


def _nearest_year(day: int, month: int, run_date: date) -> date | None:
    """The date ``day/month`` in the year (run year -1, 0, +1) that puts it nearest ``run_date``."""
    candidates = [c for y in (run_date.year - 1, run_date.year, run_date.year + 1)
                  if (c := _make_date(y, month, day)) is not None]
    if not candidates:
        return None
    return min(candidates, key=lambda c: (abs((c - run_date).days), c))


def parse_date_value(v: Any, run_date: date) -> date | None:
    """One cell as a date (day-first), or None when it cannot be read. Callers handle placeholders."""
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    text = v.strip() if isinstance(v, str) else str(v).strip()
    m = _YEAR_FIRST.match(text)
    if m:
        if not _valid_clock(m.group(4), m.group(5), m.group(6)):
            return None
        return _make_date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    m = _DAY_FIRST.match(text)
    if m:
        if not _valid_clock(m.group(4), m.group(5), m.group(6)):
            return None
        day, month, year = int(m.group(1)), int(m.group(2)), m.group(3)
        if year is None:
            return _nearest_year(day, month, run_date)
        y = int(year) + (2000 if len(year) == 2 else 0)
        return _make_date(y, month, day)
    return None


def _parse(s: pd.Series, parse_one: Callable[..., Any],
           parse_texts: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
           prepare: Callable[[pd.Index], Any] | None = None, fill: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """(values, bad) arrays; placeholders are ``fill`` (None, or NaN for floats) and not bad.

    Text cells go to ``parse_texts`` (default: cleaned, then ``parse_one`` per text); any
    other distinct cell to ``parse_one``, after ``prepare(uniques)``, when given, has seen all
    distinct cells and returned an extra argument for ``parse_one`` (column context).
    """
    def one(v: Any, *extra: Any) -> tuple[Any, bool]:
        if isinstance(v, str):
            text = clean_value(v)
            if text is None:
                return fill, False
            v = text
        elif is_missing(v):
            return fill, False
        out = parse_one(v, *extra)
        return (fill, True) if out is None else (out, False)
    return _map_cells(s, parse_texts or (lambda texts: _parse_texts(texts, parse_one)), one,
                      (fill, False), prepare)


def _parse_texts(texts: np.ndarray, parse_one: Callable[[str], Any]) -> tuple[np.ndarray, np.ndarray]:
    """(values, bad) of str cells: cleaned, then ``parse_one`` on each that is not a placeholder."""
    stripped = _strip(texts)
    keep = np.flatnonzero(~_placeholder_mask(stripped))
    values = np.full(len(texts), None, dtype=object)
    bad = np.zeros(len(texts), dtype=bool)
    got = _array([parse_one(t) for t in stripped[keep]], None)
    values[keep] = got
    bad[keep] = got == None  # noqa: E711 - elementwise on an object array
    return values, bad


def parse_dates(s: pd.Series, run_date: date) -> tuple[pd.Series, pd.Series]:
    """Dates day-first. Returns (values: object dtype of ``datetime.date``/None, bad: bool mask).

    Accepted: ``dd/mm`` (year nearest ``run_date``: ``28/12`` on 2027-01-02 is 2026-12-28),
    ``dd/mm/yyyy``, ``dd/mm/yy`` (20yy), ``dd-mm-yyyy``, ``dd-mm-yy hh:mm``, ``dd.mm.yyyy``,
    ``yyyy-mm-dd`` and ``yyyy-mm-dd hh:mm[:ss]`` / ISO timestamps (the time part is dropped).
    """
    values, bad = _parse(s, lambda v: parse_date_value(v, run_date))
    return _object_series(values, s.index, s.name), pd.Series(bad, index=s.index, name=s.name)


# ---- times -------------------------------------------------------------------------------

_CLOCK = re.compile(r"^(\d{1,2})(?:[:.h](\d{2})(?::(\d{2})(?:[.,]\d+)?)?)?\s*(hs|hrs|h|am|pm|a\.m\.|p\.m\.)?$",
                    re.IGNORECASE)
_HHMM = re.compile(r"^(\d{1,2})(\d{2})\s*(hs|hrs|h)?$", re.IGNORECASE)
_STAMP = re.compile(r"^\d{1,4}[/.-]\d{1,2}(?:[/.-]\d{2,4})?[ T]+(.+?)(?:\s*(?:Z|[+-]\d{2}(?::?\d{2})?))?$")


def parse_time_value(v: Any) -> time | None:
    """One cell as a time of day, or None when it cannot be read."""
    if isinstance(v, datetime):
        return v.time().replace(tzinfo=None)
    if isinstance(v, time):
        return v.replace(tzinfo=None)
    text = v.strip() if isinstance(v, str) else str(v).strip()
    stamp = _STAMP.match(text)
    if stamp:
        text = stamp.group(1).strip()
    m = _CLOCK.match(text)
    if m:
        h, mi, sec, suffix = int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0), m.group(4)
        if m.group(2) is None and suffix is None and len(m.group(1)) > 2:
            return None
        suffix = (suffix or "").lower().replace(".", "")
        if suffix in ("am", "pm"):
            if not 1 <= h <= 12:
                return None
            h = h % 12 + (12 if suffix == "pm" else 0)
    else:
        m = _HHMM.match(text)
        if not m:
            return None
        h, mi, sec = int(m.group(1)), int(m.group(2)), 0
    if h > 23 or mi > 59 or sec > 59:
        return None
    return time(h, mi, sec)


def parse_times(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Times of day. Returns (values: object dtype of ``datetime.time``/None, bad: bool mask).

    Accepted: ``0700`` and ``700`` (hhmm), ``8:00``, ``8`` (an hour alone), ``07:30:00``,
    ``8.30``, ``8hs``/``8:00 hs``, ``8:00 PM``, and a timestamp's time part
    (``2026-11-28 14:32:00``). Seconds are kept, fractions of a second dropped.
    """
    values, bad = _parse(s, parse_time_value)
    return _object_series(values, s.index, s.name), pd.Series(bad, index=s.index, name=s.name)


# ---- numbers -----------------------------------------------------------------------------

_SIGN_DIGITS = re.compile(r"^[+-]?[\d.,]*\d[\d.,]*$")
_GROUPED_DOT = re.compile(r"^\d{1,3}(?:\.\d{3})+$")
_GROUPED_COMMA = re.compile(r"^\d{1,3}(?:,\d{3})+$")
_AMBIGUOUS_DOT = re.compile(r"^[+-]?\d{1,3}\.\d{3}$")


def _number_text(v: Any) -> str | None:
    """The cell's text with blanks inside removed (``1 429,5``), or None if it is not number-shaped."""
    text = _BLANKS.sub("", v.replace("\xa0", ""))
    return text if _SIGN_DIGITS.match(text) else None


def parse_number_value(v: Any, comma_decimal: bool = False) -> float | None:
    """One cell as a float, or None. ``comma_decimal``: the column uses a decimal comma (see module doc)."""
    if isinstance(v, bool):
        return None
    if isinstance(v, (int, float, Decimal, np.integer, np.floating)):
        f = float(v)
        return f if math.isfinite(f) else None
    text = _number_text(v if isinstance(v, str) else str(v))
    if text is None:
        return None
    sign = ""
    if text[0] in "+-":
        sign, text = text[0], text[1:]
    if not text or text[0] in ".,":
        text = "0" + text  # ",5" / ".5"
    if "." in text and "," in text:
        dec = "." if text.rfind(".") > text.rfind(",") else ","
        thousands = "," if dec == "." else "."
        whole, _, frac = text.rpartition(dec)
        if dec in whole or not (_GROUPED_DOT if thousands == "." else _GROUPED_COMMA).match(whole) \
                or not frac.isdigit():
            return None
        text = whole.replace(thousands, "") + "." + frac
    elif "," in text:
        if text.count(",") == 1:
            text = text.replace(",", ".")
        elif _GROUPED_COMMA.match(text):
            text = text.replace(",", "")
        else:
            return None
    elif text.count(".") > 1:
        if not _GROUPED_DOT.match(text):
            return None
        text = text.replace(".", "")
    elif comma_decimal and _AMBIGUOUS_DOT.match(text):
        text = text.replace(".", "")
    if text.endswith("."):
        text += "0"
    try:
        f = float(sign + text)
    except ValueError:
        return None
    return f if math.isfinite(f) else None


def _has_decimal_comma(uniques: Iterable[Any]) -> bool:
    for u in uniques:
        if isinstance(u, str) and "," in u:
            t = _number_text(u)
            if t is None:
                continue
            t = t.lstrip("+-")
            # ``1,5`` / ``1.429,5``: a comma followed by decimals, not a ``1,429,500`` grouping
            if t.count(",") == 1 and t.rfind(",") > t.rfind("."):
                return True
    return False


_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:[.,]\d+)?")
_NUMBER_CHARS = re.compile(r"[0-9+\-.,\x00]*")  # a NUL-joined column of ASCII digits, signs, separators
_AMBIGUOUS_DOT_CELL = re.compile(r"(?:^|\x00)[+-]?[0-9]{1,3}\.[0-9]{3}(?=\x00|$)")


def _plain_numbers(texts: np.ndarray, joined: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(numbers, placeholders) of a column written with ASCII digits, a sign and one ``.`` or
    ``,`` at most (the usual one), placeholders (``""``, ``-``) NaN; None for any other column.

    ``float`` reads such a text, its comma made a point, exactly as :func:`parse_number_value`
    does (``5.``, ``,5`` included), except an ambiguous ``d.ddd`` in a decimal-comma column,
    and a text ``float`` refuses (``1.2.3``, ``+``) sends the column the long way.
    """
    if joined.count(_SEP) != len(texts) - 1 or not _NUMBER_CHARS.fullmatch(joined):
        return None
    if "," in joined and "." in joined and _AMBIGUOUS_DOT_CELL.search(joined):
        return None  # read with the column context, one by one
    pieces = joined.replace(",", ".").split(_SEP)
    try:
        return np.fromiter(map(float, pieces), dtype=np.float64, count=len(pieces)), np.zeros(len(pieces), bool)
    except ValueError:
        gone = _placeholder_mask(texts, joined)
    try:
        return np.fromiter((np.nan if g else float(t) for t, g in zip(pieces, gone)),
                           dtype=np.float64, count=len(pieces)), gone
    except ValueError:
        return None


def _numbers_vec(texts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values with NaN for none, bad) of str cells, as :func:`parse_number_value` reads
    them in their column.

    A plain ``1429`` / ``-3,25`` / ``1429.0`` (one separator at most, no blanks) is ``float`` of
    the text with its comma made a point, except an ambiguous ``d.ddd`` in a decimal-comma
    column; every other text runs :func:`parse_number_value`.
    """
    joined = _SEP.join(texts)
    plain_column = _plain_numbers(texts, joined)
    if plain_column is not None:
        values, gone = plain_column
    else:
        stripped = _strip(texts)
        gone = _placeholder_mask(stripped)
        plain = np.array([_PLAIN_NUMBER.fullmatch(t) is not None for t in stripped], dtype=bool)
        # a plain number with a comma is a decimal comma; other texts are looked at one by one
        comma = plain.copy()
        comma[plain] = ["," in t for t in stripped[plain]]
        comma_decimal = bool(comma.any()) or _has_decimal_comma(texts[~plain])
        if comma_decimal:
            dot = plain & ~comma
            plain[dot] = [_AMBIGUOUS_DOT.match(t) is None for t in stripped[dot]]
        values = np.full(len(texts), np.nan)
        values[plain] = [float(t.replace(",", ".")) for t in stripped[plain]]
        rest = ~plain & ~gone
        values[rest] = [np.nan if (f := parse_number_value(t, comma_decimal)) is None else f
                        for t in stripped[rest]]
    values[~np.isfinite(values)] = np.nan  # float() reads 400 digits as inf; no number
    return values, ~gone & np.isnan(values)


def parse_numbers(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Numbers as ``Float64``. Returns (values, bad mask).

    ``1429.0`` -> 1429.0, ``1.429,5`` -> 1429.5, ``1,5`` -> 1.5, ``1.429.500`` -> 1429500.0.
    ``12.500`` is 12.5 unless the column also holds decimal-comma values (then 12500.0).
    """
    values, bad = _parse(s, parse_number_value, _numbers_vec, prepare=_has_decimal_comma, fill=np.nan)
    present = ~np.isnan(values)
    data = np.where(present, values, 0.0)
    out = pd.Series(pd.arrays.FloatingArray(data, ~present), index=s.index, name=s.name)
    return out, pd.Series(bad, index=s.index, name=s.name)


def parse_integers(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Whole numbers as ``Int64`` (``3``, ``3.0``, ``3,0`` -> 3). ``2.5`` or a value outside the
    PostgreSQL ``integer`` range is bad."""
    floats, bad = parse_numbers(s)
    data = floats.to_numpy(dtype="float64", na_value=np.nan)
    present = ~np.isnan(data)
    whole = present & (np.floor(data) == data) & (np.abs(data) <= _INT32_MAX)
    bad = bad.to_numpy() | (present & ~whole)
    ints = np.where(whole, data, 0).astype("int64")
    out = pd.Series(pd.arrays.IntegerArray(ints, ~whole), index=s.index, name=s.name)
    return out, pd.Series(bad, index=s.index, name=s.name)


# ---- whole frames ------------------------------------------------------------------------

ISSUE_COLUMNS = ["row", "column", "value", "problem"]
UNREADABLE = "bytes that are not text (a NUL, or not in the file's encoding)"  # a CSV reader's find
UNREADABLE_COLUMN = "_unreadable"  # per row, {column: cell} the reader emptied (sources/csv.py)
_TEXT_RULES: dict[str, Callable[[pd.Series], pd.Series]] = {
    "Contenedor": normalize_container,
    "Booking": normalize_booking,
    "Operacion": normalize_operacion,
}


@dataclass
class NormalizeResult:
    """A normalized frame and one row per cell that could not be read (``ISSUE_COLUMNS``)."""
    frame: pd.DataFrame
    issues: pd.DataFrame


def normalize_column(raw: pd.Series, column: str, type_: str, run_date: date
                     ) -> tuple[pd.Series, pd.Series | None, str | None]:
    """One column typed by the registry type: (values, bad mask or None, problem text)."""
    if type_ == DATE:
        values, bad = parse_dates(raw, run_date)
        return values, bad, "unparseable date"
    if type_ == TIME:
        values, bad = parse_times(raw)
        return values, bad, "unparseable time"
    if type_ == NUMERIC:
        values, bad = parse_numbers(raw)
        return values, bad, "unparseable number"
    if type_ == INTEGER:
        values, bad = parse_integers(raw)
        return values, bad, "not a whole number"
    if type_ != TEXT:
        raise ValueError(f"column {column!r}: unknown type {type_!r}")
    return _TEXT_RULES.get(column, clean_text)(raw), None, None


def _factorize_by_row(df: pd.DataFrame, columns: list[str]) -> dict[str, pd.Series]:
    """The repeating text columns of ``df`` as categoricals of their cells, from one factorize
    of all of them read row by row ({} when that does not apply).

    A source read allocates a row's cells together, so reading the cells row by row walks the
    heap in order, where one column at a time jumps a whole row ahead for every cell (a cache
    and TLB miss each): a factorize of the repeating columns together costs a fraction of one
    per column. Same groups as a factorize per column, provided every cell is a str (a
    non-text cell, which could equal a cell of another column, leaves all columns as they are).
    """
    positions = [df.columns.get_loc(c) if c in df.columns else None for c in columns]
    if len(df) < _DIRECT_MIN or any(not isinstance(p, int) for p in positions):
        return {}
    first, last = min(positions), max(positions)
    if last - first + 1 != len(columns) or df.columns.has_duplicates:
        return {}  # not one slice of the frame: selecting them would copy one column at a time
    grid = df.iloc[:, first:last + 1].to_numpy(dtype=object)
    # a column of a few shared objects (constants) factorizes fast alone: the same object
    # compares equal without looking at its text
    repeating = [j for j in range(grid.shape[1]) if not _mostly_distinct(grid[:, j])
                 and len(set(map(id, grid[:_SAMPLE, j]))) > _SAMPLE // 20]
    if len(repeating) < 2:
        return {}
    rows = np.ascontiguousarray(grid).take(repeating, axis=1)  # C order: ravel() is a view
    codes, uniques = pd.factorize(rows.ravel(), use_na_sentinel=True)
    if not _is_text(uniques):
        return {}
    dtype = pd.CategoricalDtype(uniques)
    codes = codes.reshape(rows.shape)
    names = df.columns[first:last + 1]
    return {names[j]: pd.Series(pd.Categorical.from_codes(codes[:, k], dtype=dtype, validate=False),
                                index=df.index, name=names[j])
            for k, j in enumerate(repeating)}


def normalize_frame(df: pd.DataFrame, spec: TableSpec, run_date: date) -> NormalizeResult:
    """Trim, null placeholders and type every business column of ``spec`` (docs/architecture.md §4 step 2).

    ``df`` holds raw cells under ``spec.column_names`` plus any ``_``-prefixed meta columns
    (``_row``, ``_source_id`` ...), which are passed through unchanged after the business
    columns. Other columns are dropped; a missing business column comes back all None/NA.
    A non-empty cell that cannot be read becomes None/NA and one row of ``issues``, whose
    ``row`` is the row's ``_row`` (its line in a CSV, its position in a read) when the frame
    has one, else its index label: the label validation and people use for that row.
    """
    out: dict[str, pd.Series] = {}
    labels = (df["_row"] if "_row" in df.columns else df.index.to_series(index=df.index)).to_numpy(dtype=object)
    issue_parts: list[pd.DataFrame] = []
    factorized = _factorize_by_row(df, spec.column_names)
    for col in spec.column_names:
        if col in factorized:
            raw = factorized[col]
        else:
            raw = df[col] if col in df.columns else pd.Series([None] * len(df), index=df.index, dtype=object)
        values, bad, problem = normalize_column(raw, col, spec.type_of(col), run_date)
        out[col] = values
        if bad is not None and bad.any():
            mask = bad.to_numpy()
            hit = raw[mask]
            issue_parts.append(pd.DataFrame({
                "row": pd.Series(labels[mask], dtype=object), "column": col,
                "value": pd.Series(hit.to_numpy(dtype=object), dtype=object), "problem": problem,
            }))
    if UNREADABLE_COLUMN in df.columns:
        found = [(label, col, value) for label, cells in zip(labels, df[UNREADABLE_COLUMN]) if cells
                 for col, value in cells.items()]
        if found:
            issue_parts.append(pd.DataFrame({
                "row": pd.Series([f[0] for f in found], dtype=object),
                "column": pd.Series([f[1] for f in found], dtype=object),
                "value": pd.Series([f[2] for f in found], dtype=object), "problem": UNREADABLE}))
    frame = pd.DataFrame(out, index=df.index)
    for col in df.columns:
        if isinstance(col, str) and col.startswith("_"):
            frame[col] = df[col]
    if issue_parts:
        issues = pd.concat(issue_parts, ignore_index=True)
        issues["column"] = issues["column"].astype(object)
        issues["problem"] = issues["problem"].astype(object)
    else:
        issues = pd.DataFrame({c: pd.Series([], dtype=object) for c in ISSUE_COLUMNS})
    return NormalizeResult(frame=frame, issues=issues)


# ---- showing what changed ----------------------------------------------------------------

def _render(v: Any) -> str | None:
    if is_missing(v):
        return None
    if isinstance(v, time):
        return v.strftime("%H:%M") if v.second == 0 else v.strftime("%H:%M:%S")
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def _same(before: Any, after: Any) -> bool:
    b = text_or_none(before)
    a = _render(after)
    if b == a:
        return True
    if b is None or a is None:
        return False
    if isinstance(after, (float, int, np.floating, np.integer)) and not isinstance(after, bool):
        try:
            return float(b) == float(after)
        except ValueError:
            return False
    return False


def value_changes(before: pd.DataFrame, after: pd.DataFrame, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """What normalization did, for notebooks: one row per distinct (column, before, after) change.

    ``before`` holds the raw cells and ``after`` the normalized ones, on the same index.
    Columns: ``column``, ``before`` (raw text as ``repr``, so trailing blanks show), ``after``
    (the normalized value as text, None for *no value*) and ``rows``, most frequent first per
    column. Cells that only lost outer blanks, and numbers written differently but equal
    (``1429`` vs 1429.0), are not changes; placeholders turned None are.
    """
    if columns is None:
        columns = [c for c in after.columns if c in before.columns and not str(c).startswith("_")]
    columns = [c for c in columns if c in before.columns and c in after.columns]
    parts = []
    for col in columns:
        raw = before[col].astype(object)
        new = after[col].reindex(before.index).astype(object)
        raw_txt = raw.map(lambda v: None if is_missing(v) else str(v))
        new_txt = new.map(_render)
        differs = raw_txt.fillna("\0") != new_txt.fillna("\0")
        if not differs.any():
            continue
        cells = pd.DataFrame({"before": raw_txt[differs], "after": new_txt[differs], "value": new[differs]})
        pairs = cells.drop_duplicates(["before", "after"])
        real = {(b, a) for b, a, v in zip(pairs["before"], pairs["after"], pairs["value"]) if not _same(b, v)}
        keep = [(b, a) in real for b, a in zip(cells["before"], cells["after"])]
        cells = cells[keep]
        if len(cells):
            counted = (cells.fillna({"before": "\0", "after": "\0"}).groupby(["before", "after"], sort=False)
                       .size().rename("rows").reset_index().sort_values("rows", ascending=False, kind="stable"))
            parts.append(counted.assign(column=col))
    if not parts:
        return pd.DataFrame({"column": pd.Series(dtype=object), "before": pd.Series(dtype=object),
                             "after": pd.Series(dtype=object), "rows": pd.Series(dtype="int64")})
    out = pd.concat(parts, ignore_index=True)[["column", "before", "after", "rows"]]
    for c in ("before", "after"):
        values = out[c].astype(object)
        out[c] = values.where(values != "\0", None).astype(object)
    out["before"] = out["before"].map(lambda v: None if v is None else repr(v)).astype(object)
    return out
