"""Staging: turn validated, enriched rows into the rows the merge writes (pure transforms).

A staged frame has one row per ``sync_key`` with the target's business columns plus
``sync_key``, ``source_id``, ``source_updated_at``, ``validation_warnings`` (JSON text),
``activo``, ``row_hash``, ``source_hash`` (the source text's fingerprint, when the store
gives one) and ``_order`` (the row's position in the source read). Duplicate keys inside one read are resolved here: the latest
row wins (by source change timestamp, then by position in the source).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..tables import INTEGER, TEXT, TableSpec

KEY_SEPARATOR = "|"
META_COLUMNS = ["sync_key", "source_id", "source_updated_at", "validation_warnings", "activo", "row_hash",
                "source_hash"]


def key_columns(spec: TableSpec, key: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(required key columns, optional key columns) for a table, honouring a config override."""
    if key:
        return list(key), []
    return list(spec.key), list(spec.key_optional)


def build_sync_key(frame: pd.DataFrame, spec: TableSpec, key: list[str] | None = None) -> pd.Series:
    """The business key as one text: required parts joined by ``|``, optional parts when present.

    A row with a missing required part gets None (validation rejects such rows first).
    """
    required, optional = key_columns(spec, key)
    if "sync_key" in frame.columns and spec.slots:
        return frame["sync_key"]  # expo slots carry their own Booking|Secuencia key
    parts = [frame[c].astype(object).where(frame[c].notna(), None) for c in required]
    out = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    if not parts:
        return out
    missing = pd.Series(False, index=frame.index)
    text = pd.Series("", index=frame.index, dtype=object)
    for i, p in enumerate(parts):
        missing |= p.isna() | (p.astype(str).str.len() == 0)
        text = text + ("" if i == 0 else KEY_SEPARATOR) + p.fillna("").astype(str)
    for c in optional:
        v = frame[c].astype(object).where(frame[c].notna(), None)
        present = v.notna() & (v.astype(str).str.len() > 0)
        text = text.where(~present, text + KEY_SEPARATOR + v.fillna("").astype(str))
    return text.where(~missing, None)


def row_hash(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """A stable hash of the values the merge compares (hex text, one per row).

    Each value is hashed as its text (missing as NUL), so the hash depends on the values,
    not on the frame's dtypes.
    """
    canon = pd.DataFrame({c: _canon(frame[c]) for c in columns}, index=frame.index)
    hashed = pd.util.hash_pandas_object(canon, index=False).to_numpy()
    return pd.Series([f"{h:016x}" for h in hashed.tolist()], index=frame.index, dtype=object)


def _canon(s: pd.Series) -> pd.Series:
    """Each value's text for the hash (missing: NUL), built per column: a whole float as an
    integer (1429.0 and 1429 hash alike), anything else as ``str`` once per distinct value."""
    if s.dtype == object:
        values = s.to_numpy()
        if pd.api.types.infer_dtype(values, skipna=False) == "string":  # text, none missing: as is
            return pd.Series(values, index=s.index, dtype=object, copy=False)
    missing = s.isna().to_numpy()
    text = np.empty(len(s), dtype=object)
    text.fill("\x00")  # (np.full would pass it through a numpy string, which drops NULs)
    if missing.all():
        return pd.Series(text, index=s.index, dtype=object)
    present = s[~missing]
    if pd.api.types.is_float_dtype(s.dtype):
        text[~missing] = float_text(present.astype(float).to_numpy())
    else:
        text[~missing] = _str_once(present.to_numpy(dtype=object))
    return pd.Series(text, index=s.index, dtype=object)


def float_text(v: np.ndarray) -> np.ndarray:
    """Each float's text (no NaN): a whole value as an integer (``8.0`` -> ``8``), which every
    numeric SQL type reads, ``integer`` and ``bigint`` included; a fraction as Python's repr.
    The one text of a number: the row hash and the staging's payloads (COPY, REST) both use it,
    so an integer column that pandas turned float (a missing value among integers) stays an
    integer on its way to the database."""
    out = np.empty(len(v), dtype=object)
    whole = np.isfinite(v) & (v == np.trunc(v))
    small = whole & (np.abs(v) < 2 ** 53)  # exact in int64
    out[small] = v[small].astype(np.int64).astype(str).astype(object)
    fraction = ~whole  # numpy's float text is Python's repr (shortest round trip), as str(x)
    out[fraction] = v[fraction].astype(str).astype(object)
    big = whole & ~small
    out[big] = [str(int(x)) for x in v[big].tolist()]
    return out


def _str_once(values: np.ndarray) -> np.ndarray:
    if pd.api.types.infer_dtype(values, skipna=False) == "string":
        return values
    try:
        codes, uniques = pd.factorize(values)
    except TypeError:  # unhashable values: one by one
        return np.array([str(v) for v in values], dtype=object)
    return np.array([str(v) for v in uniques], dtype=object).take(codes)


@dataclass
class Staged:
    """What a run is about to merge, plus what staging set aside."""
    frame: pd.DataFrame                      # one row per sync_key, META_COLUMNS + business columns
    duplicates: pd.DataFrame = field(default_factory=pd.DataFrame)  # rows superseded by a later one
    seen_keys: list[str] = field(default_factory=list)  # every key present in the source read

    @property
    def count(self) -> int:
        return len(self.frame)


@dataclass
class StagedTotals:
    """What a store's staging holds once every chunk is in (``Staging.finish``)."""
    rows: int                     # rows to merge (one per key, unchanged ones set aside)
    skipped_unchanged: int        # staged rows identical to the (active) target row
    duplicates: pd.DataFrame      # sync_key, source_id of rows a later row of the same key replaced
    unread_replaced: int = 0      # of those, rows the read set aside unread (counted in its unchanged rows)


def stage(frame: pd.DataFrame, spec: TableSpec, *, key: list[str] | None = None) -> Staged:
    """Build the staged frame from validated (and enriched) rows.

    ``frame`` carries the target business columns, an optional ``validation_warnings``
    (list per row), ``activo`` (expo slots) and meta columns ``_source_id``,
    ``_source_updated_at``, ``_row``.
    """
    cols = spec.target_column_names
    out = pd.DataFrame(index=frame.index)
    for c in cols:
        out[c] = frame[c] if c in frame.columns else None
        if spec.type_of(c) == INTEGER:
            out[c] = integers(out[c])
    out["sync_key"] = build_sync_key(frame, spec, key)
    out["source_id"] = _text_or_none(frame["_source_id"]) if "_source_id" in frame.columns else None
    if "_source_updated_at" in frame.columns:
        out["source_updated_at"] = pd.to_datetime(frame["_source_updated_at"], utc=True)
    else:
        out["source_updated_at"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    warnings = frame["validation_warnings"] if "validation_warnings" in frame.columns else None
    out["validation_warnings"] = _warnings_json(warnings) if warnings is not None else "[]"
    out["activo"] = frame["activo"].astype(bool) if "activo" in frame.columns else True
    out["source_hash"] = frame["_source_hash"] if "_source_hash" in frame.columns else None
    order = frame["_row"] if "_row" in frame.columns else pd.Series(range(len(frame)), index=frame.index)
    out["_order"] = integers(order).array
    out = out[out["sync_key"].notna()]
    seen = out["sync_key"].unique().tolist()
    out = out.sort_values(["source_updated_at", "_order"], na_position="first", kind="stable")
    dup_mask = out.duplicated("sync_key", keep="last")
    duplicates = out[dup_mask].drop(columns="_order")
    out = out[~dup_mask].sort_values("_order", kind="stable")
    out["row_hash"] = row_hash(out, cols + ["validation_warnings", "activo"]) if len(out) else []
    out = out[META_COLUMNS + cols + ["_order"]].reset_index(drop=True)
    return Staged(frame=out, duplicates=duplicates.reset_index(drop=True), seen_keys=seen)


def leave_alone(staged: Staged, current: pd.DataFrame, columns: list[str], spec: TableSpec, *,
                preserve: list[str], run_date) -> Staged:
    """Columns the source lacks (a CSV export without them) keep what the target holds: a
    missing column is not an emptied one. ``current``: the target's ``sync_key``, those columns
    and ``source_preserved``. A row the target holds gets, where its staged value is missing (a
    value enrichment set, such as a Realizado status, stays), the target's value; for a
    preserved field, what the source last said of it (``source_preserved``), so the merge's rule
    sees no source change and the desk's value stays. A new row gets none. The row hash is
    taken again, so the next run finds these rows identical."""
    from ..normalize import normalize_column
    frame = staged.frame.copy()
    by_key = current.drop_duplicates("sync_key").set_index("sync_key")
    said = by_key["source_preserved"] if "source_preserved" in by_key.columns else None
    for c in columns:
        held = by_key[c].astype(object)
        if c in preserve and said is not None:
            last = [s.get(c, v) if isinstance(s, dict) else v for s, v in zip(said, held)]
            held = pd.Series(last, index=by_key.index, dtype=object)
        if spec.type_of(c) != TEXT:
            held = normalize_column(held.where(held.notna(), None), c, spec.type_of(c), run_date)[0].astype(object)
        filled = frame["sync_key"].map(held)
        value = frame[c].astype(object)
        frame[c] = value.where(value.notna(), filled.where(filled.notna(), None))
        if spec.type_of(c) == INTEGER:
            frame[c] = integers(frame[c])
    if len(frame):
        frame["row_hash"] = row_hash(frame, spec.target_column_names + ["validation_warnings", "activo"])
    return Staged(frame=frame, duplicates=staged.duplicates, seen_keys=staged.seen_keys)


def integers(s: pd.Series) -> pd.Series:
    """An integer column as nullable ``Int64``, whatever pandas made of it on the way (a column
    of integers with a missing value becomes float, or object after a concat): the staged
    frame's integer columns stay integers. A value that is not a whole number leaves the column
    as it is: the database refuses that row, which becomes its reject."""
    if isinstance(s.dtype, pd.Int64Dtype):
        return s
    try:
        return s.astype("Int64")
    except (TypeError, ValueError, OverflowError):
        return s


def _warnings_json(warnings: pd.Series) -> pd.Series:
    """Each row's warning list as sorted JSON text (most rows have none; the others share a few
    lists: each encoded once)."""
    values = warnings.to_numpy(dtype=object)
    out = np.empty(len(values), dtype=object)
    out.fill("[]")
    some = np.fromiter(map(bool, values), dtype=bool, count=len(values))
    memo: dict[tuple, str] = {}
    for i in np.flatnonzero(some):
        k = tuple(sorted(set(values[i])))
        text = memo.get(k)
        if text is None:
            text = memo[k] = json.dumps(list(k), ensure_ascii=False)
        out[i] = text
    return pd.Series(out, index=warnings.index, dtype=object)


def _text_or_none(s: pd.Series) -> pd.Series:
    values = s.to_numpy(dtype=object)
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):  # ids read as text
        return pd.Series(values, index=s.index, dtype=object).where(s.notna(), None)
    return s.map(lambda v: None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v))
