"""A source row as both stores read it: each registry column as PostgreSQL's text of it, and
the row's source hash, md5 of the row's text record and the run's fingerprint
(``engine.fingerprint``). The direct path reads with these expressions
(``stores/pg/source.py``); the REST store calls ``traficov2_source_<table>``, which pages
through the source with the very same ones (``schema/rest_merge.py``): a target kept by either
store sets aside the same unchanged rows for the other."""
from __future__ import annotations

from collections.abc import Sequence

from psycopg import sql

MISSING = sql.SQL("NULL::text")  # a registry column the source table lacks


def as_text(column: str) -> sql.Composed:
    """A source column's value as PostgreSQL's text of it."""
    return sql.SQL("{}::text").format(sql.Identifier(column))


def value_names(count: int) -> list[str]:
    """The names the read gives the registry columns' text values (``_c0`` …), in registry order."""
    return [f"_c{i}" for i in range(count)]


def row_hash(values: Sequence[sql.Composable], fingerprint: sql.Composable) -> sql.Composed:
    """The source hash of a row of text values: md5 of the row's text (``record_out``) and the
    fingerprint (NULL when the fingerprint is NULL)."""
    return sql.SQL("md5(ROW({})::text || {})").format(sql.SQL(", ").join(values), fingerprint)
