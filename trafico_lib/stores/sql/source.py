"""A source row as both stores read it: each registry column as PostgreSQL's text of it, and
the row's source hash, md5 of the row's text record and the run's fingerprint
(``engine.fingerprint``). The direct path reads with these expressions
(``stores/pg/source.py``); the REST store calls ``traficov2_source_<table>``, which pages
through the source with the very same ones (``schema/rest_merge.py``): a target kept by either
store sets aside the same unchanged rows for the other.

A source row is *as last written* when an active target row was written from it (its id) with
the same source hash (:func:`last_written`): both stores set such rows aside unread. Over REST,
``traficov2_unchanged_<table>`` (schema step 018) first asks whether every row of a whole read is
so and every active target row is one of them (:func:`unchanged_summary`): then the run is a
no-op proved inside the database, and not one row is shipped."""
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


def last_written(target: str = "t", row: str = "n") -> sql.Composed:
    """The join condition of a hashed source row (``row``: ``_source_id``, ``_h``) and the active
    target row written from it with the same source hash: the row is as last written."""
    return sql.SQL("{t}.source_id::text = {n}._source_id AND {t}.source_hash = {n}._h AND {t}.activo").format(
        t=sql.Identifier(target), n=sql.Identifier(row))


def unchanged_summary(rows: sql.Composable, count: int, target: sql.Composable,
                      fingerprint: sql.Composable) -> sql.Composed:
    """(source rows, rows as last written, distinct target rows they match, active target rows,
    the latest change time among the rows as last written) of a whole read. ``rows``: a query of
    the source's rows as ``_c0`` .. (``count`` text values, :func:`value_names`), ``_source_id``
    and ``_source_updated_at``. A read is a no-op when all five agree (every source row as last
    written, one target row each, and no active target row left over: none to deactivate)."""
    names = [sql.SQL("r.{}").format(sql.Identifier(n)) for n in value_names(count)]
    hashed = sql.SQL("SELECT r._source_id, r._source_updated_at, {h} AS _h FROM ({rows}) r").format(
        h=row_hash(names, fingerprint), rows=rows)
    return sql.SQL(
        "SELECT count(*), count(t.id), count(DISTINCT t.id), (SELECT count(*) FROM {target} WHERE activo), "
        "max(n._source_updated_at) FILTER (WHERE t.id IS NOT NULL) "
        "FROM ({hashed}) n LEFT JOIN {target} t ON {match}").format(
        target=target, hashed=hashed, match=last_written())
