"""The PostgREST the REST store is tested against behaves as Supabase does: supabase-py reaches
it at ``{url}/rest/v1``, one read is silently cut at 1,000 rows, the service key bypasses
row-level security while the anon key sees nothing and may write nothing, and the proxy can
make a request fail as Supabase's gateway sometimes does."""
from __future__ import annotations

import pytest


@pytest.fixture
def big(conn, postgrest):
    conn.execute("CREATE TABLE probe (id int PRIMARY KEY, v text)")
    conn.execute("INSERT INTO probe SELECT g, 'v' || g FROM generate_series(1, 2500) g")
    conn.execute("GRANT ALL ON probe TO anon, authenticated, service_role")
    conn.execute("ALTER TABLE probe ENABLE ROW LEVEL SECURITY")
    postgrest.reload_schema()
    return postgrest


def test_a_read_is_cut_at_1000_rows_without_a_word(big):
    from supabase import create_client
    client = create_client(big.url, big.service_key)
    rows = client.table("probe").select("id").order("id").execute().data
    assert len(rows) == 1000  # of 2,500: what a naive reader of Supabase gets
    page = client.table("probe").select("id").gt("id", 2000).order("id").execute().data
    assert [r["id"] for r in page] == list(range(2001, 2501))
    assert ("GET", "/probe?select=id&order=id.asc") in big.proxy.requests


def test_the_anon_key_is_kept_out_by_row_level_security(big):
    from postgrest.exceptions import APIError
    from supabase import create_client
    anon = create_client(big.url, big.anon_key)
    assert anon.table("probe").select("id").limit(5).execute().data == []
    with pytest.raises(APIError) as err:
        anon.table("probe").insert({"id": 9999, "v": "x"}).execute()
    assert err.value.code == "42501"
    service = create_client(big.url, big.service_key)
    assert len(service.table("probe").select("id").limit(5).execute().data) == 5


def test_the_proxy_fails_the_next_request_on_demand(big):
    from postgrest.exceptions import APIError
    from supabase import create_client
    client = create_client(big.url, big.service_key)
    big.proxy.fail_next(503)
    with pytest.raises(APIError) as err:  # supabase-py's own retry off: the REST store has its own
        client.table("probe").select("id").limit(1).retry(False).execute()
    assert "injected failure" in str(err.value)
    assert client.table("probe").select("id").limit(1).retry(False).execute().data == [{"id": 1}]
