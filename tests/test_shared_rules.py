"""Rules both stores run as one piece of SQL (issue 23): latest wins among the staged rows of a
key, and the source row hash. The REST store calls functions rendered from the direct path's own
statements (``schema/rest_merge.py``, step 013); these tests give both stores the same rows, the
REST one through a real PostgREST, and fail the moment one store decides differently."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

import rest_server as harness
from trafico_lib.engine.stage import Staged
from trafico_lib.sample import create_source_tables
from trafico_lib.stores import PostgresStore
from trafico_lib.stores.rest.store import RestStore
from trafico_lib.stores.sql import merge as q
from trafico_lib.tables import get_table

# values record_out quotes or escapes (quotes, commas, parentheses, backslashes, blanks), the
# empty text, NULL, and ones it leaves bare
AWKWARD = ['plain', '', ' ', '  two  ', 'comma,here', 'say "hi"', '"', 'back\\slash', '\\', '\\\\"', '(paren)', ')',
           'tab\there', 'new\nline', 'cr\rhere', "it's", '{a,b}', 'Ñandú €', None, 'a"b\\c,(d)', 'NULL', '""']
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


@pytest.fixture
def project(empty_db_url, tmp_path):
    def sources(c):
        create_source_tables(c)
        rows = [(v, AWKWARD[-1 - i], f"C{i}" if i % 3 else v, T0 + timedelta(minutes=i)) for i, v in enumerate(AWKWARD)]
        rows.append((None, None, None, T0))  # every value missing
        c.cursor().executemany('INSERT INTO arribos ("Cliente", "Chofer", "Contenedor", updated_at) '
                               "VALUES (%s, %s, %s, %s)", rows)
    with harness.supabase_project(empty_db_url, tmp_path, prepare=sources) as server:
        yield server


def _read(store, fingerprint) -> pd.DataFrame:
    ex = store.read_source(get_table("arribos"), mode="full", state={}, lookback=timedelta(0), chunk_rows=5,
                           fingerprint=fingerprint)
    frames = list(ex.chunks())
    ex.close()
    return pd.concat(frames, ignore_index=True)[["_source_id", "Cliente", "Chofer", "_source_hash"]]


@pytest.mark.parametrize("fingerprint", ["ctx-1", 'fp "quoted", (odd) \\ text', None])
def test_the_rest_read_hashes_each_row_as_the_direct_path_does(project, fingerprint):
    direct = _read(PostgresStore(project.db_url), fingerprint)
    rest = _read(RestStore(project.url, project.service_key, page_size=4), fingerprint)  # pages under the cap
    assert len(direct) == len(AWKWARD) + 1
    pd.testing.assert_frame_equal(rest, direct)
    assert rest["Cliente"].tolist()[:len(AWKWARD)] == AWKWARD  # the values' text too, as stored
    if fingerprint:
        assert rest["_source_hash"].notna().all() and rest["_source_hash"].nunique() == len(rest)
    else:
        assert rest["_source_hash"].isna().all()


def test_the_rest_hash_changes_with_the_fingerprint_and_with_any_value(project):
    """What the unchanged-row skip relies on: the same row and context, the same hash; another
    context or one value otherwise, another hash (on both stores alike, by the test above)."""
    rest = RestStore(project.url, project.service_key)
    a, b = _read(rest, "ctx-1"), _read(rest, "ctx-2")
    assert (a["_source_hash"] != b["_source_hash"]).all()
    assert _read(rest, "ctx-1").equals(a)


# ---- latest wins ----------------------------------------------------------------------------

def _at(minute):
    return None if minute is None else T0 + timedelta(minutes=minute)


# (sync_key, source_id, change minute, position) per chunk: ties on time go to the later
# position, a row with a change time beats one without, rows without times go by position
CHUNKS = [
    [("K1", "s1", 10, 1), ("K2", "s2", None, 2), ("K3", "s3", 10, 3), ("K4", "s4", 9, 4), ("K5", "s5", 10, 5),
     ("K8", "s8", 1, 6)],
    [("K1", "s6", 9, 7), ("K2", "s7", None, 8), ("K3", "s8b", 10, 9), ("K4", "s9", None, 10), ("K6", "s10", 9, 11),
     ("K7", "s11", 10, 12)],
    [("K1", "s12", 10, 13), ("K2", "s13", 1, 14), ("K9", "s14", None, 15), ("K9", "s15", None, 16)],
]
# source rows set aside unread (sync_key, change minute, position): K5's is later than the staged
# K5 (it loses), K6's has no time (the staged one wins), K7's ties on time and comes later
UNREAD = [("K5", 11, 20, "u20"), ("K6", None, 21, "u21"), ("K7", 10, 22, "u22")]
WINNERS = {("K1", "s12"), ("K2", "s13"), ("K3", "s8b"), ("K4", "s4"), ("K6", "s10"), ("K8", "s8"), ("K9", "s15")}


def _staged(spec, rows) -> Staged:
    frame = pd.DataFrame({c: [None] * len(rows) for c in spec.target_column_names})
    frame.insert(0, "sync_key", [r[0] for r in rows])
    frame.insert(1, "source_id", [r[1] for r in rows])
    frame.insert(2, "source_updated_at", pd.Series([_at(r[2]) for r in rows], dtype="datetime64[ns, UTC]"))
    frame.insert(3, "validation_warnings", "[]")
    frame.insert(4, "activo", True)
    frame.insert(5, "row_hash", [f"h{r[3]}" for r in rows])
    frame.insert(6, "source_hash", None)
    frame["_order"] = [r[3] for r in rows]
    return Staged(frame=frame[q.stage_columns(spec)], seen_keys=list(dict.fromkeys(r[0] for r in rows)))


def test_both_stores_pick_the_same_latest_row_of_a_repeated_key(project):
    spec = get_table("arribos")
    kw = dict(preserve=[], source_time=T0, run_id="r-latest")
    pg = PostgresStore(project.db_url).staging(spec, **kw)
    rest = RestStore(project.url, project.service_key).staging(spec, **kw)
    try:
        with pg.conn.cursor() as cur:  # as the direct path's read sets them aside (stores/pg/source.py)
            cur.executemany(q.sql.SQL("INSERT INTO {} (sync_key, source_updated_at, _order, source_id) "
                                      "VALUES (%s, %s, %s, %s)").format(q.I(q.UNCHANGED)),
                            [(k, _at(m), o, sid) for k, m, o, sid in UNREAD])
        rest.aside.extend((k, _at(m), o, sid) for k, m, o, sid in UNREAD)
        for rows in CHUNKS:
            pg.add(_staged(spec, rows))
            rest.add(_staged(spec, rows))
        a, b = pg.finish(), rest.finish()
        kept_pg = {tuple(r) for r in pg.conn.execute(q.sql.SQL("SELECT sync_key, source_id FROM {}").format(
            q.I(q.READY))).fetchall()}
        kept_rest = set(zip(rest.rows["sync_key"], rest.rows["source_id"]))
        assert kept_rest == kept_pg == WINNERS
        assert a.rows == b.rows == len(WINNERS)
        losers = [list(zip(t.duplicates["sync_key"], t.duplicates["source_id"])) for t in (a, b)]
        assert losers[1] == losers[0]  # the same rows, listed in the same order
        # the staged rows that lost, and the unread row a staged row of its key outranks (K6:
        # unread without a change time, staged with one): a duplicate replaced, not unchanged
        assert set(losers[0]) == ({(k, s) for rows in CHUNKS for k, s, _, _ in rows} - WINNERS) | {("K6", "u21")}
        assert a.unread_replaced == b.unread_replaced == 1
    finally:
        pg.close()
        rest.close()
