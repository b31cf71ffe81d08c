"""The Supabase REST store against a real PostgREST, set up as a Supabase project is: its API
roles first, then trafico's schema pasted as ``--print-sql`` prints it (run by the database
owner, as the SQL editor does). What is built so far: the connection check (key, schema
present and current) and whole-table reads in keyset pages that Supabase's cap cannot cut."""
from __future__ import annotations

import psycopg
import pytest

import rest_server as harness
from trafico_lib.stores.rest.client import RestError, Unavailable
from trafico_lib.stores.rest.pages import pages
from trafico_lib.stores.rest.store import PermissionDenied, RestStore, SchemaMissing, required_schema_version


def _project(db_url, tmp_path, *, schema: bool = True, max_rows: int = harness.MAX_ROWS):
    return harness.supabase_project(db_url, tmp_path, schema=schema, max_rows=max_rows)


@pytest.fixture
def project(empty_db_url, tmp_path):
    with _project(empty_db_url, tmp_path) as server:
        yield server


@pytest.fixture
def bare_project(empty_db_url, tmp_path):
    with _project(empty_db_url, tmp_path, schema=False) as server:
        yield server


def test_a_project_with_the_printed_schema_passes_the_check(project):
    store = RestStore(project.url, project.service_key)
    assert store.schema_version() == required_schema_version()
    store.check()
    assert store.name == f"Supabase REST API (127.0.0.1:{project.proxy.port})"
    assert project.service_key not in store.name


def test_a_project_without_the_schema_is_told_to_paste_make_sql(bare_project, make_config):
    with pytest.raises(SchemaMissing) as err:
        RestStore(bare_project.url, bare_project.service_key).check()
    msg = str(err.value)
    assert "has no trafico schema" in msg and "make sql" in msg and "SQL editor" in msg
    assert bare_project.service_key not in msg and "\n" not in msg
    from trafico_lib import pipeline as P
    from trafico_lib.errors import SyncFailed
    with pytest.raises(SyncFailed) as run:  # a run says the same before anything else
        P.run_table("arribos", mode="full", cfg=make_config(),
                    store=RestStore(bare_project.url, bare_project.service_key))
    assert "has no trafico schema" in str(run.value) and "make sql" in str(run.value)


def test_a_project_with_an_older_schema_is_told_which_step_it_lacks(project):
    need = required_schema_version()
    with psycopg.connect(project.db_url, autocommit=True) as c:
        c.execute("DELETE FROM traficov2_schema_migrations WHERE version = %s", (need,))
    with pytest.raises(SchemaMissing) as err:
        RestStore(project.url, project.service_key).check()
    assert f"this version needs step {need}" in str(err.value) and "make sql" in str(err.value)


def test_the_anon_key_is_refused_before_any_call_and_kept_out_by_row_level_security(project):
    """The printed SQL turns row-level security on with no policy: with Supabase's default
    grants, the public key still reads nothing and writes nothing."""
    with pytest.raises(PermissionDenied) as err:
        RestStore(project.url, project.anon_key)
    assert str(err.value).startswith("permission denied") and "'anon' key" in str(err.value)
    assert "service_role" in str(err.value)
    assert project.anon_key not in str(err.value)
    from supabase import create_client
    from postgrest.exceptions import APIError
    with psycopg.connect(project.db_url, autocommit=True) as c:
        c.execute("INSERT INTO traficov2_sync_state (table_name, last_run_id) VALUES ('arribos', 'r1')")
    anon = create_client(project.url, project.anon_key)
    assert anon.table("traficov2_sync_state").select("*").execute().data == []
    with pytest.raises(APIError) as denied:
        anon.table("traficov2_sync_log").insert({"table_name": "x", "operation": "SYNC"}).execute()
    assert denied.value.code == "42501"
    service = create_client(project.url, project.service_key)
    assert len(service.table("traficov2_sync_state").select("*").execute().data) == 1


@pytest.fixture
def wide(empty_db_url, tmp_path, request):
    """A source table of 2,500 rows with awkward column names, behind a PostgREST whose cap
    is ``request.param`` rows per read."""
    with psycopg.connect(empty_db_url, autocommit=True) as c:
        c.execute('CREATE TABLE fuente (id serial PRIMARY KEY, "Tipo CNT" text, "Oper." text, updated_at timestamptz)')
        c.execute("""INSERT INTO fuente ("Tipo CNT", "Oper.", updated_at)
                     SELECT 'T' || g, 'O' || g, '2026-11-01'::timestamptz + g * interval '1 minute'
                     FROM generate_series(1, 2500) g""")
    with _project(empty_db_url, tmp_path, max_rows=request.param) as server:
        yield server


@pytest.mark.parametrize("wide", [1000, 300], indirect=True)
def test_a_whole_table_is_read_in_keyset_pages_whatever_the_cap(wide):
    """Pages of 1,000 asked for; the server answers at most its cap (Supabase's 1,000, or a
    project's lower one): every row arrives once, in key order, with its odd column names."""
    store = RestStore(wide.url, wide.service_key)
    before = len(wide.proxy.requests)
    got = [r for page in pages(store.client, "fuente", ["id", "Tipo CNT", "Oper."]) for r in page]
    assert [r["id"] for r in got] == list(range(1, 2501))
    cap = min(1000, wide.max_rows)
    assert len(wide.proxy.requests) - before == -(-2500 // cap) + 1  # the pages, then one empty page
    assert got[41] == {"id": 42, "Tipo CNT": "T42", "Oper.": "O42"}
    since = "2026-11-02T17:20:00+00:00"  # row g changed g minutes after 1 Nov: the last 20
    changed = [r["id"] for page in pages(store.client, "fuente", ["id"], page_size=7,
                                         where=lambda q: q.gt("updated_at", since)) for r in page]
    assert changed == list(range(2481, 2501))


@pytest.mark.parametrize("wide", [1000], indirect=True)
def test_transient_failures_are_retried_and_data_errors_are_not(wide):
    store = RestStore(wide.url, wide.service_key)
    wide.proxy.fail_next(503, 502)
    got = [r["id"] for page in pages(store.client, "fuente", ["id"]) for r in page]
    assert len(got) == 2500
    wide.proxy.fail_next(503, 503, 503)
    with pytest.raises(Unavailable) as err:
        list(pages(store.client, "fuente", ["id"]))
    assert "HTTP 503" in str(err.value) and wide.service_key not in str(err.value)
    before = len(wide.proxy.requests)
    with pytest.raises(RestError) as bad:
        list(pages(store.client, "fuente", ["id", "no_such_column"]))
    assert len(wide.proxy.requests) == before + 1  # asked once: a 4xx is not worth repeating
    assert "no_such_column" in str(bad.value)
