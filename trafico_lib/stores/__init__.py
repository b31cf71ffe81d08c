"""Stores: where the TráficoV2 tables live (docs/architecture.md §6)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError, StoreUnavailable, UsageError
from .base import Store
from .postgres import PostgresStore

if TYPE_CHECKING:
    from ..config import Config

StoreError = StoreUnavailable  # its former name here: the store cannot be reached


def open_store(cfg: Config) -> Store:
    """The store the configuration asks for, never a silent fallback (docs/architecture.md §6):

    * ``database.url`` (or ``TRAFICO_DATABASE_URL``): direct PostgreSQL;
    * else ``supabase.url`` and ``supabase.key`` (or ``SUPABASE_URL``/``SUPABASE_KEY``, or the
      old tool's ``url_supabase``/``key_supabase``): the Supabase REST API;
    * else neither: the embedded server.

    Only one of the Supabase settings is a configuration error naming the other: quietly using
    the embedded database would leave the project's tables untouched.
    """
    if not cfg.database_url:
        url, key = cfg.supabase.url, cfg.supabase.key
        if url and key:
            from .rest.store import RestStore
            return RestStore.from_config(cfg)
        if url or key:
            given, missing = ("supabase.url", "supabase.key") if url else ("supabase.key", "supabase.url")
            raise ConfigError(
                f"{given} is set but {missing} is not (nor database.url): set {missing} (SUPABASE_"
                f"{missing.split('.')[1].upper()}) to sync through Supabase's REST API, or database.url "
                "(TRAFICO_DATABASE_URL) for a direct connection, or neither for the embedded database")
    return PostgresStore.from_config(cfg)


def direct_store(cfg: Config, why: str) -> PostgresStore:
    """The configured store when it is a PostgreSQL database (direct or embedded), for what
    only a database connection can do (create the schema, write the source tables); else
    :class:`~trafico_lib.errors.UsageError` saying ``why``."""
    store = open_store(cfg)
    if not isinstance(store, PostgresStore):
        raise UsageError(why)
    return store


__all__ = ["PostgresStore", "Store", "StoreError", "StoreUnavailable", "direct_store", "open_store"]
