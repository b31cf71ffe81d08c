"""A source table read through Supabase's REST API (a real PostgREST) gives the very frames the
direct path reads from the same database: text values as PostgreSQL writes them, ids,
change times, positions, and the source hash (md5 of the row's text record and the run's
fingerprint, by the same SQL: tests/test_shared_rules.py); by row hash and by change
timestamp, in chunks made of pages smaller than Supabase's cap."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest

import rest_server as harness
from trafico_lib.sample import create_source_tables
from trafico_lib.stores import PostgresStore
from trafico_lib.stores.rest.store import RestStore
from trafico_lib.tables import get_table

ODD = ['plain', '', ' spaced ', 'comma,here', 'quote"d', 'back\\slash', '(paren)', 'tab\there', 'new\nline',
       'Ñandú €', None, 'a"b\\c,(d)']
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=timezone.utc)


@pytest.fixture
def project(empty_db_url, tmp_path):
    def sources(c):
        create_source_tables(c)
        rows = []
        for i in range(60):
            v = ODD[i % len(ODD)]
            rows.append(("23/11/2026" if i % 5 else None, v, f"{1000 + i},5" if i % 4 else "", v,
                         T0 + timedelta(minutes=i)))
        c.cursor().executemany('INSERT INTO arribos ("Fecha", "Cliente", "Peso", "Chofer", updated_at) '
                               "VALUES (%s, %s, %s, %s, %s)", rows)
    with harness.supabase_project(empty_db_url, tmp_path, prepare=sources) as server:
        yield server


def _all(ex) -> pd.DataFrame:
    frames = list(ex.chunks())
    ex.close()
    return pd.concat(frames, ignore_index=True)


@pytest.mark.parametrize("mode,state", [("full", {}), ("incremental", {"watermark": T0 + timedelta(minutes=40)})])
def test_the_rest_read_gives_the_direct_reads_frames(project, mode, state):
    spec = get_table("arribos")
    kw = dict(mode=mode, state=state, lookback=timedelta(minutes=5), chunk_rows=7, fingerprint="ctx-1")
    direct = PostgresStore(project.db_url).read_source(spec, **kw)
    rest = RestStore(project.url, project.service_key, page_size=3).read_source(spec, **kw)
    a, b = _all(direct), _all(rest)
    assert len(a) == (60 if mode == "full" else 24)  # changed after 8:35 (watermark 8:40 less 5 min)
    assert rest.strategy == direct.strategy == "timestamp" and rest.since == direct.since
    assert rest.watermark == direct.watermark == T0 + timedelta(minutes=59)
    assert list(b.columns) == list(a.columns)
    pd.testing.assert_frame_equal(b, a, check_dtype=False)
    assert b["_source_hash"].notna().all() and b["_source_hash"].nunique() > len(ODD) // 2
