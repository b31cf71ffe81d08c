"""Stores: where the TráficoV2 tables live (DESIGN §6)."""
from .postgres import PostgresStore, StoreError


def open_store(cfg) -> PostgresStore:
    """The store the configuration asks for: a database URL, or the embedded server."""
    return PostgresStore.from_config(cfg)


__all__ = ["PostgresStore", "StoreError", "open_store"]
