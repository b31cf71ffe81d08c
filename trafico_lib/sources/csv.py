"""CSV sources: the operational exports read as clean text (the old tool's ``csv_sources``).

Exports come from Excel and from the old system: UTF-8 with or without BOM, or cp1252;
comma- or semicolon-separated; decimal commas inside semicolon files; blanks and
placeholders everywhere. ``read_csv`` turns any of them into a frame of ``str``/None cells
(no type guessing, so ``00123`` and ``1429.0`` stay exactly as written); typing is
``trafico_lib.normalize``'s job. Every problem is one :class:`CsvError` naming the file and,
when it is about a row, the file line.
"""
from __future__ import annotations

import csv as _csv
import io
import logging
import os
import re
import unicodedata
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import SyncFailed
from ..normalize import clean_text
from ..tables import TableSpec

ROW_COLUMN = "_row"
UNREADABLE_COLUMN = "_unreadable"  # per row: {column: the cell as read} of cells with bytes no text holds
ABSENT = "absent_columns"  # frame.attrs key: the table's columns the file lacks (read_table_csv)
_BAD_TEXT = re.compile("[\x00\ufffd]")
_SEP_HINT = re.compile(r"^sep=(.)\s*$")


class CsvError(SyncFailed):
    """A CSV problem as one line: ``<file>: line N: <what>`` or ``<file>: not found``."""


# ---- decoding and dialect --------------------------------------------------------------

def _decode(raw: bytes, where: str) -> str:
    """Text of the file, decided for the whole file:

    * valid UTF-8 (BOM stripped): UTF-8;
    * UTF-8 but for a few stray bytes (a BOM, or more well-formed UTF-8 characters than bad
      bytes): UTF-8, each bad byte read as U+FFFD, so the rows holding one are rejected with
      their line (``readable_<column>``) instead of the whole file being read as cp1252 and
      every accented name turned into mojibake (``Ñandú`` -> ``Ã‘andÃº``);
    * else cp1252 (Excel's ANSI export).
    """
    bom = raw.startswith(b"\xef\xbb\xbf")
    if bom:
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as first:
        lenient = raw.decode("utf-8", errors="replace")
        bad = lenient.count("\ufffd")
        good = sum(1 for ch in lenient if ord(ch) > 0x7f) - bad
        if bom or good >= bad:
            return lenient
        try:
            return raw.decode("cp1252")
        except UnicodeDecodeError as exc:
            line = raw.count(b"\n", 0, min(first.start, exc.start)) + 1
            raise CsvError(f"{where}: line {line}: neither UTF-8 nor cp1252 text "
                           f"(byte 0x{raw[exc.start]:02x})") from None


def _count_outside_quotes(line: str, chars: str) -> dict[str, int]:
    counts = dict.fromkeys(chars, 0)
    quoted = False
    for ch in line:
        if ch == '"':
            quoted = not quoted
        elif not quoted and ch in counts:
            counts[ch] += 1
    return counts


def detect_separator(header_line: str) -> str:
    """``;`` or ``,``: whichever occurs more often (outside quotes) on the header line.

    The header is used because data lines of a semicolon file may hold decimal commas.
    """
    counts = _count_outside_quotes(header_line, ",;")
    return ";" if counts[";"] > counts[","] else ","


# ---- reading ---------------------------------------------------------------------------

def _records(text: str, sep: str, where: str, first_line: int) -> Iterator[tuple[int, list[str]]]:
    """(file line where the record starts, fields) for each non-blank record."""
    reader = _csv.reader(io.StringIO(text, newline=""), delimiter=sep, quotechar='"',
                         doublequote=True, strict=True)
    start = first_line
    try:
        for fields in reader:
            if "".join(fields).strip():
                yield start, fields
            start = reader.line_num + first_line
    except _csv.Error as exc:
        raise CsvError(f"{where}: line {start}: unreadable row ({exc})") from None


def _header_names(fields: list[str], where: str, line: int) -> list[str]:
    names = [f.replace("\ufeff", "").strip() for f in fields]
    seen: set[str] = set()
    for name in names:
        if name and name in seen:
            raise CsvError(f"{where}: line {line}: duplicate column name {name!r}")
        seen.add(name)
    return names


def _read(path: str | os.PathLike) -> tuple[pd.DataFrame, np.ndarray]:
    """The clean text frame and the file line number of each of its rows."""
    p = Path(path)
    where = str(p)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise CsvError(f"{where}: not found") from None
    except IsADirectoryError:
        raise CsvError(f"{where}: is a folder, not a file") from None
    except OSError as exc:
        raise CsvError(f"{where}: cannot be read ({exc.strerror or exc})") from None
    text = _decode(raw, where)
    first_line = 1
    head, nl, rest = text.partition("\n")
    hint = _SEP_HINT.match(head.strip("\r\ufeff"))
    if hint:  # Excel's "sep=;" first line
        sep, text, first_line = hint.group(1), rest, 2
    else:
        first_nonblank = next((ln for ln in text.splitlines() if ln.strip()), "")
        sep = detect_separator(first_nonblank)
    records = _records(text, sep, where, first_line)
    try:
        header_line, header_fields = next(records)
    except StopIteration:
        raise CsvError(f"{where}: empty file (no header line)") from None
    names = _header_names(header_fields, where, header_line)
    width = len(names)
    lines: list[int] = []
    rows: list[list[str]] = []
    for line, fields in records:
        if len(fields) == width:
            lines.append(line)
            rows.append(fields)
            continue
        if len(fields) > width:
            extra = fields[width:]
            if any(f.strip() for f in extra):
                raise CsvError(f"{where}: line {line}: {len(fields)} fields but the header has {width} "
                               f"(extra value {next(f for f in extra if f.strip())!r}; "
                               f"a separator inside an unquoted value?)")
            fields = fields[:width]
        elif len(fields) < width:
            fields = fields + [""] * (width - len(fields))
        lines.append(line)
        rows.append(fields)
    columns = list(zip(*rows)) if rows else [()] * width
    data: dict[str, pd.Series] = {}
    for i, name in enumerate(names):
        col = clean_text(pd.Series(np.array(columns[i], dtype=object), dtype=object))
        if not name:
            if col.notna().any():
                first = lines[int(np.argmax(col.notna().to_numpy()))]
                raise CsvError(f"{where}: line {header_line}: column {i + 1} has no name "
                               f"but holds values (first at line {first})")
            continue  # a trailing separator: an unnamed, empty column
        data[name] = col
    unreadable = _unreadable_cells(data, len(rows)) if _BAD_TEXT.search(text) else None
    frame = pd.DataFrame(data, index=pd.RangeIndex(len(rows)))
    frame.columns = pd.Index(list(data), dtype=object)
    if unreadable is not None:
        frame[UNREADABLE_COLUMN] = unreadable
    return frame, np.array(lines, dtype="int64")


def _unreadable_cells(data: dict[str, pd.Series], n: int) -> pd.Series:
    """Cells holding a NUL byte or a byte the file's encoding has no character for (U+FFFD):
    emptied in ``data``; per row, {column: the cell as read, NUL shown as ␀} (None: none)."""
    found: list[dict | None] = [None] * n
    for name, col in data.items():
        hit = col.str.contains(_BAD_TEXT, na=False).to_numpy(dtype=bool)
        for i in np.flatnonzero(hit).tolist():
            found[i] = {**(found[i] or {}), name: col.iat[i].replace("\x00", "\u2400")}
        if hit.any():
            data[name] = col.mask(hit, None)
    return pd.Series(found, dtype=object)


def read_csv(path: str | os.PathLike) -> pd.DataFrame:
    """Read one CSV export as clean text.

    Every cell is ``str`` or None (object dtype): outer blanks trimmed, placeholders
    (``-``, ``nan``, ``  : 0   `` ...) None, nothing converted. Header names are stripped of
    the BOM and blanks. Encoding (UTF-8, UTF-8 with BOM, cp1252) and separator (``,`` or
    ``;``, decided on the header line) are detected. Blank lines and rows with only empty
    cells are skipped; a short row is padded with None; a row with more non-empty fields than
    the header is a :class:`CsvError` naming its line (extra *empty* fields, as left by a
    trailing separator, are ignored). No columns are added.
    """
    return _read(path)[0]


def _canon(name: str) -> str:
    """Header spelling for matching: accents, case and repeated blanks ignored."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return " ".join(plain.casefold().split())


def _match_columns(frame: pd.DataFrame, wanted: list[str]) -> dict[str, str]:
    """{file column: registry name} for each wanted column found exactly or by ``_canon``."""
    found: dict[str, str] = {}
    by_canon: dict[str, list[str]] = {}
    for c in frame.columns:
        by_canon.setdefault(_canon(c), []).append(c)
    for name in wanted:
        if name in frame.columns:
            found[name] = name
            continue
        candidates = [c for c in by_canon.get(_canon(name), []) if c not in found]
        if len(candidates) == 1:
            found[candidates[0]] = name
    return found


def read_table_csv(cfg: Any, spec: TableSpec, *, required: Iterable[str] | None = None) -> pd.DataFrame:
    """The CSV export of one synced table: ``spec.column_names`` in registry order, plus ``_row``.

    The file is ``cfg.csv_path(spec.csv_file_key)``. Headers match the registry names
    exactly, or ignoring case, accents and repeated blanks (``Operación`` for ``Operacion``).
    Extra columns are ignored. ``required`` defaults to the key columns (the configured ``key``,
    else the table's, with its optional parts): without them no row can be matched, so a
    missing one is a :class:`CsvError` naming the file and the columns. Any other missing column
    comes back all None and is listed in ``frame.attrs[ABSENT]``: a missing column is not an
    emptied one, and the sync leaves it alone in the target (live exports lack some: the week's
    arrivals come without ``Tiempo`` and ``Chofer``). ``_row`` is each row's file line number.
    """
    path = cfg.csv_path(spec.csv_file_key)
    frame, lines = _read(path)
    wanted = spec.column_names
    need = key_columns_of(cfg, spec) if required is None else list(required)
    mapping = _match_columns(frame, wanted)
    present = set(mapping.values())
    missing = [c for c in need if c not in present]
    if missing:
        listed = ", ".join(repr(c) for c in missing)
        found = ", ".join(repr(c) for c in frame.columns if c != UNREADABLE_COLUMN) or "none"
        raise CsvError(f"{path}: missing column{'s' if len(missing) > 1 else ''} {listed} "
                       f"(the header has {found})")
    renamed = frame[list(mapping)].rename(columns=mapping)
    out = pd.DataFrame(index=frame.index)
    for c in wanted:
        out[c] = renamed[c] if c in present else pd.Series([None] * len(frame), index=frame.index,
                                                          dtype=object)
    out[ROW_COLUMN] = lines
    if UNREADABLE_COLUMN in frame.columns:  # bad cells of the table's columns, under its names
        out[UNREADABLE_COLUMN] = [
            ({mapping[k]: v for k, v in cells.items() if k in mapping} or None) if cells else None
            for cells in frame[UNREADABLE_COLUMN]]
    out.columns = pd.Index(list(out.columns), dtype=object)
    out.attrs[ABSENT] = [c for c in wanted if c not in present]
    return out


def key_columns_of(cfg: Any, spec: TableSpec) -> list[str]:
    """The columns a table's rows are matched by: the configured ``key``, else the registry's
    key with its optional parts."""
    table = getattr(cfg, "table", None)
    key = table(spec.name).key if callable(table) else None
    return list(key) if key else [*spec.key, *spec.key_optional]


def read_named_csv(cfg: Any, file_key: str) -> pd.DataFrame:
    """A CSV that is not a synced table (availability, salidas): all its columns plus ``_row``.
    Cells with bytes no text holds come back empty, and a warning names their lines."""
    path = cfg.csv_path(file_key)
    frame, lines = _read(path)
    if UNREADABLE_COLUMN in frame.columns:
        bad = frame.pop(UNREADABLE_COLUMN).notna().to_numpy()
        logging.getLogger(__name__).warning("%s: line(s) %s hold bytes that are not text; those cells were left empty",
                                            path, ", ".join(map(str, lines[bad][:10].tolist())))
    frame[ROW_COLUMN] = lines
    return frame
