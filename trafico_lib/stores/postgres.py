"""The direct PostgreSQL / Supabase path (DESIGN §6): psycopg 3 connections.

``PostgresStore`` is the one place that turns configuration into a connection. The URL is
never logged or put in an exception: errors name the host only.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator
from urllib.parse import urlsplit

import psycopg

from ..config import Config
from .embedded import embedded_url

_log = logging.getLogger(__name__)


class StoreError(Exception):
    """The database could not be reached or used; the message carries no secret."""


def describe_url(url: str) -> str:
    """A printable name for a database URL: host/dbname, never the password."""
    parts = urlsplit(url)
    host = parts.hostname or "local socket"
    db = (parts.path or "/").lstrip("/") or "postgres"
    return f"{host}/{db}"


def _scrub(message: str, secrets: list[str]) -> str:
    for s in secrets:
        if s:
            message = message.replace(s, "***")
    return message


class PostgresStore:
    """Connections to the TráficoV2 database: a URL from config, or the embedded server."""

    kind = "postgres"

    def __init__(self, url: str, *, connect_timeout: int = 5, secrets: list[str] | None = None,
                 embedded: bool = False):
        self._url = url
        self.connect_timeout = connect_timeout
        self._secrets = [url, *(secrets or [])]
        self.embedded = embedded

    @classmethod
    def from_config(cls, cfg: Config) -> "PostgresStore":
        if cfg.database_url:
            return cls(cfg.database_url, connect_timeout=cfg.database.connect_timeout_seconds,
                       secrets=cfg.secrets)
        try:
            url = embedded_url(cfg.resolve(cfg.database.embedded_path))
        except Exception as exc:  # the wheel raises several kinds; one line is what we owe
            raise StoreError(f"could not start the embedded PostgreSQL under "
                             f"{cfg.database.embedded_path}: {exc}") from None
        return cls(url, connect_timeout=cfg.database.connect_timeout_seconds, embedded=True)

    @property
    def name(self) -> str:
        return "embedded PostgreSQL" if self.embedded else describe_url(self._url)

    @property
    def url(self) -> str:
        """The connection URL (a secret when it carries a password: do not print it)."""
        return self._url

    def connect(self, **kwargs) -> psycopg.Connection:
        try:
            return psycopg.connect(self._url, connect_timeout=self.connect_timeout,
                                   application_name="trafico", **kwargs)
        except psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[-1].strip() if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot connect to {self.name}: {_scrub(first, self._secrets)}") from None

    # ---- the store protocol (stores/base.py) ----------------------------------------------

    def back_propagate(self, spec, fields, *, run_id, key=None, dry_run=False, lock_timeout=5.0,
                       updated_column=None):
        from ..engine.backprop import back_propagate
        with self.connect() as conn:
            return back_propagate(conn, spec, fields, run_id=run_id, key=key, dry_run=dry_run,
                                  lock_timeout=lock_timeout, updated_column=updated_column)

    @contextmanager
    def health_reader(self):
        """Read-only facts for the health check (``stores/postgres_health.py``)."""
        from .postgres_health import PostgresHealthReader
        conn = self.connect(autocommit=True)
        try:
            yield PostgresHealthReader(conn)
        finally:
            conn.close()

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A connection inside one transaction, committed on success, closed after."""
        conn = self.connect()
        try:
            with conn.transaction():
                yield conn
        finally:
            conn.close()
