"""Back-propagation (docs/architecture.md §5): which source rows take the traffic desk's fields (default
``Chofer``) from their target rows, matched on the normalized business key, only where
different. Pure: the store reads both sides and writes the edits (``Store.back_propagate``).

The next sync then finds the source agreeing with the target and writes nothing (the merge
treats "source now equals target" as no change): no ping-pong. In a table with slots the
match goes through ``source_id`` instead, and only where one active slot comes from that
source row (a pending booking row stands for several slots).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .. import clock
from ..normalize import clean_value, normalize_frame
from ..tables import TableSpec
from ..values import is_missing, text_or_none
from .stage import build_sync_key

EDIT_COLUMNS = ["source_row", "source_key", "key_columns", "sync_key", "field", "old", "new"]
CHANGES_SHOWN = 20  # edits a result carries for the command line's lines (the notebook lists them all)
KEY_JOIN = " / "    # between the values of a key of several columns (``Operacion / Contenedor``)


@dataclass
class BackpropResult:
    table: str
    run_id: str
    dry_run: bool
    changes: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EDIT_COLUMNS))
    status: str = "ok"
    error: str | None = None
    duration_seconds: float = 0.0

    @property
    def updated(self) -> int:
        return int(self.changes["source_row"].nunique()) if len(self.changes) else 0

    def to_dict(self) -> dict:
        """The result as plain values: counts, and the first :data:`CHANGES_SHOWN` edits as
        ``{key, field, old, new}`` (``key``: the source row's key as the source holds it)."""
        first = self.changes.head(CHANGES_SHOWN)
        edits = [{"key": k, "field": f, "old": _text(o), "new": _text(n)}
                 for k, f, o, n in zip(first["source_key"], first["field"], first["old"], first["new"])]
        return {"table": self.table, "run_id": self.run_id, "dry_run": self.dry_run, "status": self.status,
                "error": self.error, "rows_updated": self.updated, "field_changes": len(self.changes),
                "changes": edits, "duration_seconds": self.duration_seconds}


def _text(v) -> str | None:
    return None if is_missing(v) else str(v)


def _column(name: str, columns: list[str], registry: str | None) -> str | None:
    """``name`` among ``columns``: itself, else the registry's spelling, else one equal ignoring case."""
    if name in columns:
        return name
    if registry in columns:
        return registry
    return next((c for c in columns if c.lower() == name.lower()), None)


def field_columns(spec: TableSpec, fields: list[str], source_columns: list[str],
                  target_columns: list[str]) -> list[tuple[str, str]]:
    """(target column, source column) for each configured field both tables have, resolved
    against their real columns: the target's column of that exact name (an adopted table's
    desk-typed ``chofer``), else the registry's (``Chofer``); the source's column of the target
    column's name, else the registry's, else one equal ignoring case. One pair per source column."""
    out: dict[str, str] = {}
    for f in fields:
        registry = spec.column_named(f)
        tgt = _column(f, target_columns, registry)
        src = _column(tgt, source_columns, registry) if tgt else None
        if tgt and src and src not in out:
            out[src] = tgt
    return [(t, s) for s, t in out.items()]


def key_columns_for(spec: TableSpec, key: list[str] | None, available: list[str]) -> list[str]:
    """The source columns the match needs (the business key, or the configured override)."""
    return [c for c in (key or [*spec.key, *spec.key_optional]) if c in available]


def key_text(row: pd.Series, columns: list[str]) -> str:
    """A source row's key as people find it in the source: its key columns' values as the source
    holds them, joined by :data:`KEY_JOIN` (a missing part as ``—``)."""
    return KEY_JOIN.join(text_or_none(row[c]) or "—" for c in columns)


def source_edits(spec: TableSpec, fields: list[str], source: pd.DataFrame, target: pd.DataFrame,
                 key: list[str] | None = None) -> pd.DataFrame:
    """The edits to make: ``source_row`` (the store's row address: never shown), ``source_key``
    (:func:`key_text`) and ``key_columns`` (the names of the columns it joins), ``sync_key``,
    ``field``, ``old`` (source), ``new`` (desk).

    ``source``: ``source_row`` (the store's row address), ``source_id`` and the key columns and
    ``fields`` as text; ``target``: ``sync_key``, ``source_id`` and ``fields`` of active rows,
    named as the source's columns (:func:`field_columns`: the store reads each target column
    under its source column's name). ``field`` is the source column to write.
    """
    empty = pd.DataFrame(columns=EDIT_COLUMNS)
    if not fields or source.empty or target.empty:
        return empty
    if spec.slots:  # slots: through source_id, one slot per source row only
        tgt = target[target["source_id"].notna()]
        tgt = tgt[~tgt["source_id"].duplicated(keep=False)]
        merged = source.merge(tgt, on="source_id", suffixes=("_src", ""))
    else:
        key_cols = key_columns_for(spec, key, list(source.columns))
        norm = normalize_frame(source[key_cols], spec, clock.today()).frame
        source = source.assign(sync_key=build_sync_key(norm, spec, key).values)
        merged = source.merge(target.drop(columns="source_id"), on="sync_key", suffixes=("_src", ""))
    key_cols = key_columns_for(spec, key, list(source.columns))
    heading = KEY_JOIN.join(key_cols) or "key"
    rows = []
    for f in fields:
        new = merged[f]
        old = merged[f"{f}_src"].map(clean_value)
        differs = new.notna() & (old.isna() | (old.astype(object) != new.astype(object)))
        for _, r in merged[differs].iterrows():
            rows.append((r["source_row"], key_text(r, key_cols), heading, r["sync_key"], f, r[f"{f}_src"], r[f]))
    return pd.DataFrame(rows, columns=EDIT_COLUMNS) if rows else empty
