"""A target column keeps the type it has: the staged rows conformed to the target's layout (pure).

A new install's targets hold the registry's types (``schema/targets.py``); a table the old tool
made, adopted in place (``schema/adopt.py``), holds most business columns as ``text`` in the
formats its desk's app parses, and ``source_id`` as ``integer``. Nothing retypes such a column
(docs/architecture.md §3), so what the sync writes into it takes the column's type instead:

* a date or time the target holds as text: the column's ``strftime`` format from the registry
  (``tables.Column.as_text``: ``Fecha`` ``%d/%m/%Y`` in arribos, ``%d/%m`` where the desk reads a
  day without its year, ``Turno`` ``%H%M``, ``Hora`` ``%H:%M``);
* a number the target holds as text: plain decimal text, a whole value without ``.0``
  (``engine.stage.float_text``, the staging's own number text); an integer as it is;
* ``source_id`` held as a whole number: a source id that is one goes in as such, any other
  becomes NULL (the row still goes in; ``source_id`` is bookkeeping, never a key).

The row hash is taken again over the conformed values, so what is compared on the next run is
what the target holds. :class:`TargetLayout` is what a store says of the target (once per run).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ..tables import DATE, INTEGER, NUMERIC, TEXT, TIME, TableSpec
from .stage import Staged, float_text, row_hash

# the integer types' ranges (a source id outside its column's range goes in as NULL)
_INT_RANGES = {"smallint": 2 ** 15, "integer": 2 ** 31, "bigint": 2 ** 63}


def type_kind(sql_type: str | None) -> str | None:
    """The registry type (``tables``: text, date, time, numeric, integer) of a database type name
    (``format_type``'s, or the REST API's ``format``); None for any other (a timestamp, jsonb...)."""
    t = (sql_type or "").strip().lower()
    if not t:
        return None
    base = t.split("(", 1)[0].strip()
    if base in ("text", "character varying", "varchar", "character", "char", "bpchar", "name", "citext"):
        return TEXT
    if base == "date":
        return DATE
    if base.startswith("time") and not base.startswith("timestamp"):
        return TIME
    if base in ("numeric", "decimal", "real", "double precision", "float4", "float8"):
        return NUMERIC
    if base in ("integer", "int", "int2", "int4", "int8", "smallint", "bigint"):
        return INTEGER
    return None


@dataclass(frozen=True)
class TargetLayout:
    """A target table as it is: each column's database type (``types``: name -> type name, as the
    catalog or the REST API's description gives it) and whether it is a table the old tool made,
    adopted in place (``traficov2_adopted`` names it). Read once per run (``ctx.layout``)."""
    types: dict[str, str] = field(default_factory=dict)
    adopted: bool = False

    def kind(self, column: str) -> str | None:
        return type_kind(self.types.get(column))

    def text_columns(self, spec: TableSpec) -> list[str]:
        """The business columns the registry types but this target holds as text."""
        return [c.name for c in spec.target_columns if c.type != TEXT and self.kind(c.name) == TEXT]

    def whole_source_id(self) -> int | None:
        """The range bound of an integer ``source_id`` column (None: the column holds text)."""
        if self.kind("source_id") != INTEGER:
            return None
        base = self.types["source_id"].strip().lower()
        return _INT_RANGES.get(base, _INT_RANGES["bigint"] if "8" in base else _INT_RANGES["integer"])


def conform(staged: Staged, spec: TableSpec, layout: TargetLayout | None) -> Staged:
    """``staged`` as the target holds it (see the module docstring); as it is when the target
    holds the registry's types (a new install) or no layout is known."""
    if layout is None or not len(staged.frame):
        return staged
    texts = layout.text_columns(spec)
    bound = layout.whole_source_id()
    if not texts and bound is None:
        return staged
    frame = staged.frame.copy()
    columns = {c.name: c for c in spec.target_columns}
    for name in texts:
        frame[name] = as_text(frame[name], columns[name].type, columns[name].as_text)
    if bound is not None and "source_id" in frame.columns:
        frame["source_id"] = whole_ids(frame["source_id"], bound)
    if texts:
        frame["row_hash"] = row_hash(frame, spec.target_column_names + ["validation_warnings", "activo"])
    return replace(staged, frame=frame)


def as_text(s: pd.Series, type_: str, fmt: str | None) -> pd.Series:
    """A typed column's values as the text a text column holds (missing stays missing; a value
    already text stays as it is). Each distinct value is formatted once."""
    values = s.astype(object).to_numpy()
    out = np.full(len(values), None, dtype=object)
    present = np.flatnonzero(~pd.isna(values))
    if len(present):
        codes, uniques = pd.factorize(values[present])
        out[present] = _texts(np.asarray(uniques, dtype=object), type_, fmt).take(codes)
    return pd.Series(out, index=s.index, dtype=object)


def _texts(values: np.ndarray, type_: str, fmt: str | None) -> np.ndarray:
    out = values.copy()
    todo = np.flatnonzero([not isinstance(v, str) for v in values])
    if not len(todo):
        return out
    if type_ in (DATE, TIME):
        out[todo] = [v.strftime(fmt) for v in values[todo]]
    elif type_ == NUMERIC:  # plain decimal text: 1429.0 -> 1429, 72.7 -> 72.7
        out[todo] = float_text(values[todo].astype("float64"))
    else:
        out[todo] = [str(int(v)) for v in values[todo]]
    return out


def whole_ids(s: pd.Series, bound: int) -> pd.Series:
    """Source ids for an integer column: a whole number within ``[-bound, bound)`` as its digits,
    anything else None."""
    text = s.astype(object).where(s.notna(), None).map(lambda v: None if v is None else str(v).strip())
    digits = text.str.fullmatch(r"[+-]?\d{1,19}").fillna(False).astype(bool)
    out = pd.Series([None] * len(s), index=s.index, dtype=object)
    if digits.any():
        n = text[digits].map(int)
        fits = (n >= -bound) & (n < bound)
        out[n.index[fits]] = n[fits].map(str)
    return out
