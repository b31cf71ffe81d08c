"""Reading a whole table through Supabase's REST API, a keyset page at a time.

Supabase answers any read with at most 1,000 rows and says nothing about the rest (PostgREST's
``db-max-rows``). So a read asks for ``key > last key seen`` in key order, page after page,
and stops only at an empty page: a page shorter than asked for may be the server's cap, not
the end of the table (a project can set a cap below 1,000). ``OFFSET`` is never used: it
rescans the skipped rows and skips or repeats rows when the table changes between pages.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from ...errors import SyncFailed
from .client import RestClient

MAX_PAGE = 1000


def pages(client: RestClient, table: str, columns: list[str], *, key: str = "id", page_size: int = MAX_PAGE,
          where: Callable | None = None, as_text: Iterable[str] = (), what: str | None = None
          ) -> Iterator[list[dict]]:
    """The rows of ``table`` (``columns``, the key included), ``page_size`` at most per request,
    in ``key`` order; ``where(query)`` adds filters (e.g. ``lambda q: q.gt("updated_at", since)``);
    the ``as_text`` columns come as PostgreSQL's text of their values (``column::text``)."""
    size = max(1, min(page_size, MAX_PAGE))
    as_text = set(as_text) - {key}
    select = ",".join(_quoted(c) + ("::text" if c in as_text else "") for c in dict.fromkeys([*columns, key]))
    last = None
    what = what or f"reading {table}"
    while True:
        def request(last=last):
            q = client.table(table).select(select)
            if where is not None:
                q = where(q)
            if last is not None:
                q = q.gt(key, last)
            return q.order(key).limit(size).execute().data
        rows = client.call(request, what=what)
        if not rows:
            return
        yield rows
        last = rows[-1][key]
        if last is None:  # NULLs sort last, and no "key > NULL" reaches past them: the same page again, forever
            raise SyncFailed(f"{what}: rows without a {key} cannot be read a page at a time by {key}")


def _quoted(column: str) -> str:
    """A column for PostgREST's ``select``: names with spaces, dots or other characters quoted."""
    plain = column.replace("_", "").isalnum() and column.isascii()
    return column if plain else '"' + column.replace('"', '""') + '"'
