"""Frames for tests: shaped as the pipeline's steps give them."""
from __future__ import annotations

import pandas as pd

from trafico_lib.tables import INTEGER, NUMERIC


def normalized(spec, rows: list[dict], index=None, *, first_row: int = 2) -> pd.DataFrame:
    """A frame shaped like normalize_frame's output, with a ``_row`` meta column from
    ``first_row`` (2: a CSV's first data line)."""
    data = {}
    for col in spec.columns:
        values = [r.get(col.name) for r in rows]
        if col.type == NUMERIC:
            data[col.name] = pd.array(values, dtype="Float64")
        elif col.type == INTEGER:
            data[col.name] = pd.array(values, dtype="Int64")
        else:
            data[col.name] = pd.Series(values, dtype=object).tolist()
    df = pd.DataFrame(data, index=index)
    for col in spec.columns:
        if col.type not in (NUMERIC, INTEGER):
            df[col.name] = df[col.name].astype(object).where(df[col.name].notna(), None)
    df["_row"] = range(first_row, len(rows) + first_row)
    return df
