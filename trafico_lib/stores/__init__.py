"""Stores: where the TráficoV2 tables live (DESIGN §6)."""
from ..errors import ConfigError
from .postgres import PostgresStore, StoreError


def open_store(cfg) -> PostgresStore:
    """The store the configuration asks for, never a silent fallback: a database URL (direct
    PostgreSQL); else, with neither a database URL nor Supabase settings, the embedded server.

    Supabase settings without a database URL ask for the REST store, which this version does
    not have yet: that is a configuration error naming what to set, never a quiet sync into
    the embedded database that would leave the project's tables untouched.
    """
    if not cfg.database_url:
        url, key = cfg.supabase.url, cfg.supabase.key
        if url or key:
            what = ("supabase.url and supabase.key are set" if url and key
                    else "supabase.url is set (supabase.key is not)" if url
                    else "supabase.key is set (supabase.url is not)")
            raise ConfigError(
                f"{what} but database.url is not: syncing through Supabase's REST API is not available in "
                "this version; set database.url (or TRAFICO_DATABASE_URL) to the project's PostgreSQL "
                "connection string (Supabase: Project Settings > Database), or unset the Supabase settings "
                "to use the embedded database")
    return PostgresStore.from_config(cfg)


__all__ = ["PostgresStore", "StoreError", "open_store"]
