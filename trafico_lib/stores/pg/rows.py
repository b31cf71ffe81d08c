"""What a statement that always returns a row (an aggregate, ``EXISTS``, a function call) or a
result (a query) gave: psycopg types ``fetchone()`` and ``description`` as optional, for a
statement that may find nothing or return no rows."""
from __future__ import annotations

from typing import Any

import psycopg


def one_row(cur: psycopg.Cursor) -> tuple[Any, ...]:
    """The statement's row; none is a bug in the statement, not a state of the data."""
    row = cur.fetchone()
    if row is None:
        raise RuntimeError("a statement that always returns a row returned none")
    return row


def one_value(cur: psycopg.Cursor) -> Any:
    """The first value of the statement's row (``SELECT count(*) ...``)."""
    return one_row(cur)[0]


def column_names(cur: psycopg.Cursor) -> list[str]:
    """The names of the columns the statement returned (a query: it has a description)."""
    if cur.description is None:
        raise RuntimeError("a query that returns rows returned no result description")
    return [d.name for d in cur.description]
