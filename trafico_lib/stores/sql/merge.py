"""The merge rule, as SQL (docs/architecture.md §5). Identifiers from the registry/config are quoted with
``psycopg.sql``; values are always parameters.

The rule, per preserved field ``p`` of an existing target row ``t`` and staged row ``s``
(``base`` = the value the source had last time, kept in ``t.source_preserved``):

* the source did not change ``p`` since last time        → keep the target's value
* the desk never typed ``p``                             → the source wins
* the source value is empty                              → keep the manual value
* the source changed it after the desk typed ``p``       → the source wins
* otherwise                                              → keep the manual value

When the desk typed ``p`` is kept per field (``manual_edits``: {field: time}, set by the
manual-edit trigger), so a desk edit of ``Chofer`` never holds back the source's ``Estado``
(:func:`manual_edit_time`). "After" uses the source row's change timestamp, or the run's
start when the source has no timestamp column (the change was first seen now). Every other
column: source wins.

A row is written only as the merge computed it: a row the desk edited meanwhile is left
alone, its metadata (hashes, the source's preserved values) with it, so the next run merges
it again (:func:`upsert`, :func:`refresh_metadata`).
"""
from __future__ import annotations

from psycopg import sql

from ...tables import DONE_WORD, STATUS_COLUMN, TableSpec

READY = "_trafico_ready"   # the run's staged rows as the chunks arrive (numbered ``_n``); once
                           # finished, one row per key (latest wins), unchanged rows left out
DUPLICATES = "_trafico_dup_keys"  # keys staged more than once (usually none)
MERGED = "_trafico_merged"  # one statement's slice of READY merged with the target
KEYS = "_trafico_keys"     # every key the source holds this run (full runs deactivate the rest)
UNCHANGED = "_trafico_unchanged"  # source rows set aside unread: text and context as last written
NUMBERS = "_trafico_n"     # numbers READY's rows

META_COMPARED = ["activo", "validation_warnings"]


def I(name: str) -> sql.Identifier:  # noqa: E743 - short on purpose: used everywhere below
    return sql.Identifier(name)


def _cols(names, prefix: str | None = None) -> sql.Composed:
    if prefix:
        return sql.SQL(", ").join(sql.SQL("{}.{}").format(I(prefix), I(n)) for n in names)
    return sql.SQL(", ").join(I(n) for n in names)


def create_ready(spec: TableSpec) -> sql.Composed:
    """The run's staging table (temporary, for the connection's life), with the target's own
    column types, so COPY rounds and checks the way the target will; ``_order`` is the row's
    position in the source read (latest wins among equal keys), ``_n`` numbers the rows as they
    arrive (from :data:`NUMBERS`: create that first) for the merge's slices."""
    return sql.SQL(
        "CREATE TEMP TABLE {ready} AS "
        "SELECT 0::bigint AS _n, sync_key, source_id, source_updated_at, validation_warnings, activo, row_hash, "
        "source_hash, {cols}, 0::bigint AS _order FROM {target} WITH NO DATA; "
        "ALTER TABLE {ready} ALTER COLUMN _n SET DEFAULT nextval({seq})").format(
        ready=I(READY), cols=_cols(spec.target_column_names), target=I(spec.target), seq=sql.Literal(NUMBERS))


def create_numbers() -> sql.Composed:
    return sql.SQL("CREATE TEMP SEQUENCE {}").format(I(NUMBERS))


def create_unchanged() -> sql.Composed:
    return sql.SQL("CREATE TEMP TABLE {} (sync_key text, source_updated_at timestamptz, _order bigint, "
                   "source_id text)").format(I(UNCHANGED))


def drop_work_tables() -> sql.Composed:
    return sql.SQL("DROP TABLE IF EXISTS {}, {}, {}, {}; DROP SEQUENCE IF EXISTS {}").format(
        I(READY), I(KEYS), I(UNCHANGED), I(DUPLICATES), I(NUMBERS))


def stage_columns(spec: TableSpec) -> list[str]:
    return ["sync_key", "source_id", "source_updated_at", "validation_warnings", "activo", "row_hash",
            "source_hash", *spec.target_column_names, "_order"]


def copy_stage(spec: TableSpec) -> sql.Composed:
    return sql.SQL("COPY {ready} ({cols}) FROM STDIN").format(
        ready=I(READY), cols=_cols(stage_columns(spec)))


def duplicate_keys() -> sql.Composed:
    """The keys staged more than once (one hashed pass over the keys; no sort of the rows).
    Returns how many."""
    return sql.SQL(
        "CREATE TEMP TABLE {dups} AS SELECT sync_key FROM {ready} GROUP BY sync_key HAVING count(*) > 1").format(
        dups=I(DUPLICATES), ready=I(READY))


def drop_superseded(result: sql.Composable | None = None) -> sql.Composed:
    """Delete the rows a later row of the same key replaced; returns their sync_key, source_id
    in source order. The latest row wins by source change time (no time first), then by
    position in the source. ``result``: the final query over ``gone`` (_n, sync_key,
    source_id, _order of each row deleted; the REST store's function aggregates instead).

    Latest wins is written here only: the REST store runs it as ``traficov2_latest_wins``
    (``schema/rest_merge.py``), and within one chunk ``engine.stage`` keeps the latest row
    of a key by the same order before either store sees it."""
    return sql.SQL(
        "WITH ranked AS (SELECT r._n, row_number() OVER (PARTITION BY r.sync_key "
        "ORDER BY r.source_updated_at DESC NULLS LAST, r._order DESC) AS _rank "
        "FROM {ready} r JOIN {dups} d ON d.sync_key = r.sync_key), "
        "gone AS (DELETE FROM {ready} r USING ranked k WHERE r._n = k._n AND k._rank > 1 "
        "RETURNING r._n, r.sync_key, r.source_id, r._order) "
        "{result}").format(
        ready=I(READY), dups=I(DUPLICATES),
        result=sql.SQL("SELECT sync_key, source_id FROM gone ORDER BY _order") if result is None else result)


def drop_lost(result: sql.Composable | None = None) -> sql.Composed:
    """Delete the staged rows an unread (unchanged) source row of the same key outranks;
    returns their sync_key, source_id (``result``: as for :func:`drop_superseded`)."""
    later = sql.SQL("(coalesce(u.source_updated_at, '-infinity'), u._order) > "
                    "(coalesce(r.source_updated_at, '-infinity'), r._order)")
    return sql.SQL(
        "WITH gone AS (DELETE FROM {ready} r USING {unchanged} u WHERE u.sync_key = r.sync_key AND {later} "
        "RETURNING r._n, r.sync_key, r.source_id, r._order) {result}").format(
        ready=I(READY), unchanged=I(UNCHANGED), later=later,
        result=sql.SQL("SELECT sync_key, source_id FROM gone") if result is None else result)


def drop_replaced_unread(result: sql.Composable | None = None) -> sql.Composed:
    """Delete the unread (unchanged) source rows a staged row of their key outranks: after
    :func:`drop_lost`, a key staged and set aside both is one whose staged row won. Such a row
    is a duplicate the later row replaced, not an unchanged one: counted once, as a duplicate.
    Returns their sync_key, source_id in source order (``result``: the final query over
    ``gone``, sync_key, source_id, _order of each row deleted)."""
    return sql.SQL(
        "WITH gone AS (DELETE FROM {unchanged} u USING {ready} r WHERE r.sync_key = u.sync_key "
        "RETURNING u.sync_key, u.source_id, u._order) {result}").format(
        ready=I(READY), unchanged=I(UNCHANGED),
        result=sql.SQL("SELECT sync_key, source_id FROM gone ORDER BY _order") if result is None else result)


def drop_identical(spec: TableSpec, *, probe: bool = False) -> sql.Composed:
    """Delete the staged rows the target already holds identically (same row hash and source
    hash, active): nothing to write for them. Over a whole run's staging a hash join; ``probe``
    (a batch of a REST call, a few rows against a target of any size): one index probe per
    staged row (:func:`_lookup`), where a hash join would read the whole target every call."""
    same = sql.SQL("t.row_hash = r.row_hash AND t.source_hash IS NOT DISTINCT FROM r.source_hash AND t.activo")
    if probe:
        return sql.SQL("DELETE FROM {ready} r WHERE EXISTS (SELECT 1 FROM {lookup} t WHERE {same})").format(
            ready=I(READY), lookup=_lookup(spec, "r"), same=same)
    return sql.SQL(
        "DELETE FROM {ready} r USING {target} t WHERE t.sync_key = r.sync_key AND {same}").format(
        ready=I(READY), target=I(spec.target), same=same)


# The staged rows' columns the finishing statements join, group and sort on: the only ones
# whose statistics the planner needs. ANALYZE of every column of a wide staging table cost more
# than half a second per run whatever its size (a 30,000-row sample of every text column).
ANALYZED = ["_n", "sync_key", "source_id", "source_updated_at", "_order", "row_hash", "source_hash"]


def analyze_staged() -> sql.Composed:
    """Statistics of the staged and the unread rows, for the statements of ``PgStaging.finish``."""
    return sql.SQL("ANALYZE {ready} ({cols}), {unchanged}").format(
        ready=I(READY), cols=_cols(ANALYZED), unchanged=I(UNCHANGED))


def unchanged_keys() -> sql.Composed:
    """The keys of the unread source rows count as present (full runs deactivate the rest)."""
    return sql.SQL("INSERT INTO {} SELECT sync_key FROM {}").format(I(KEYS), I(UNCHANGED))


def index_ready() -> sql.Composed:
    return sql.SQL("CREATE UNIQUE INDEX ON {} (_n)").format(I(READY))


def slices(size: int) -> sql.Composed:
    """The merge's slices: (first _n, last _n, rows) of each run of ``size`` rows in _n order."""
    return sql.SQL(
        "SELECT min(_n), max(_n), count(*) FROM (SELECT _n, (row_number() OVER (ORDER BY _n) - 1) / {size} AS g "
        "FROM {ready}) s GROUP BY g ORDER BY g").format(size=sql.Literal(size), ready=I(READY))


def ready_row(spec: TableSpec) -> sql.Composed:
    return sql.SQL("SELECT {cols} FROM {ready} WHERE _n = %(n)s").format(
        cols=_cols(["sync_key", "source_id", "source_updated_at", "validation_warnings", "activo",
                    *spec.target_column_names]), ready=I(READY))


def _when(source_time) -> sql.Composable:
    """The source time (see :func:`_preserved_expr`) as SQL: a literal, or an expression (a
    function's parameter)."""
    return source_time if isinstance(source_time, sql.Composable) else sql.Literal(source_time)


def manual_edit_time(p: str, alias: str = "t") -> sql.Composed:
    """When the desk last typed the preserved field ``p`` of target row ``alias`` (NULL: never).

    The manual-edit trigger keeps one time per field in ``manual_edits``. A row that has no
    ``manual_edits`` at all (NULL: written before the times were kept per field, and not yet
    given them by ``--init-db``) falls back to its ``manual_updated_at`` for every field, as
    the rule read it then: never a desk edit lost."""
    return sql.SQL("coalesce(({a}.manual_edits ->> {lit})::timestamptz, "
                   "CASE WHEN {a}.manual_edits IS NULL THEN {a}.manual_updated_at END)").format(
        a=I(alias), lit=sql.Literal(p))


def _preserved_expr(p: str, source_time) -> sql.Composed:
    """A preserved field: the desk's edit of *this field* stays unless the source changed the
    field later. When the source changed is the row's ``source_updated_at``, else
    ``source_time``: for a source without change times, the last time the sync saw the row as
    it was (the previous successful run), so a desk edit made since then wins (the two cannot
    be ordered)."""
    edited = manual_edit_time(p)
    return sql.SQL(
        "CASE WHEN t.sync_key IS NULL THEN s.{p} "
        "WHEN s.{p} IS NOT DISTINCT FROM (t.source_preserved ->> {lit}) THEN t.{p} "
        "WHEN {edited} IS NULL THEN s.{p} "
        "WHEN s.{p} IS NULL THEN t.{p} "
        "WHEN coalesce(s.source_updated_at, {source_time}) > {edited} THEN s.{p} "
        "ELSE t.{p} END").format(p=I(p), lit=sql.Literal(p), source_time=_when(source_time), edited=edited)


def _lookup(spec: TableSpec, alias: str) -> sql.Composed:
    """The target row of ``alias``'s key, for a LATERAL join: one index probe per staged row.

    A plain join would let the planner hash the whole target, and the target's statistics
    say nothing about the rows this very transaction inserted: the cost of a batch would grow
    with the rows already written. ``LIMIT 1`` (the key is unique) keeps the subquery a
    parameterized index scan.
    """
    return sql.SQL("(SELECT * FROM {target} WHERE sync_key = {alias}.sync_key LIMIT 1)").format(
        target=I(spec.target), alias=I(alias))


def _source_preserved(preserve: list[str], alias: str = "s") -> sql.Composable:
    if not preserve:
        return sql.SQL("'{}'::jsonb")
    return sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(
        sql.SQL("{}, {}.{}").format(sql.Literal(p), I(alias), I(p)) for p in preserve))


def _is_done(alias: str) -> sql.Composed:
    return sql.SQL("{}.{} ~* {}").format(I(alias), I(STATUS_COLUMN), sql.Literal(rf"\m{DONE_WORD}\M"))


def _status_kept(expr: sql.Composable) -> sql.Composed:
    """A done status (``Realizado …``) never goes back: the target's stays when the staged
    value is not a done status (the run could not read the exit records, or they no longer
    reach that far back); a later done status replaces it."""
    return sql.SQL("CASE WHEN t.sync_key IS NOT NULL AND {t_done} AND NOT coalesce({s_done}, false) "
                   "THEN t.{c} ELSE {expr} END").format(
        t_done=_is_done("t"), s_done=_is_done("s"), c=I(STATUS_COLUMN), expr=expr)


def _merged_select(spec: TableSpec, preserve: list[str], source_time, *, existing_only: bool = False) -> sql.Composed:
    exprs = []
    for c in spec.target_column_names:
        e = _preserved_expr(c, source_time) if c in preserve else sql.SQL("s.{}").format(I(c))
        if c == STATUS_COLUMN:
            e = _status_kept(e)
        exprs.append(sql.SQL("{} AS {}").format(e, I(c)))
    return sql.SQL(
        "SELECT s.sync_key, s.source_id, s.source_updated_at, s.validation_warnings, s.activo, s.row_hash, "
        "s.source_hash, {src_preserved} AS source_preserved, (t.sync_key IS NULL) AS is_new, t.id AS target_id, "
        "t.manual_updated_at AS seen_manual_updated_at, {exprs} "
        "FROM {ready} s {join} LATERAL {lookup} t ON true").format(
        src_preserved=_source_preserved(preserve), exprs=sql.SQL(", ").join(exprs), ready=I(READY),
        join=sql.SQL("JOIN" if existing_only else "LEFT JOIN"), lookup=_lookup(spec, "s"))


def create_merged(spec: TableSpec, preserve: list[str], source_time) -> sql.Composed:
    """The (empty) temp table of staged rows merged with the target under the rule above:
    created once per write transaction, filled per statement slice by :func:`fill_merged`."""
    return sql.SQL("CREATE TEMP TABLE IF NOT EXISTS {merged} ON COMMIT DROP AS {select} WITH NO DATA").format(
        merged=I(MERGED), select=_merged_select(spec, preserve, source_time))


def fill_merged(spec: TableSpec, preserve: list[str], source_time, *, existing_only: bool = False) -> sql.Composed:
    """READY's rows ``_n`` in [``%(lo)s``, ``%(hi)s``] merged with the target (an index lookup
    per staged row); ``existing_only``: only the rows whose key the target holds (the new ones
    go in by :func:`insert_new`)."""
    return sql.SQL("INSERT INTO {merged} {select} WHERE s._n BETWEEN %(lo)s AND %(hi)s").format(
        merged=I(MERGED), select=_merged_select(spec, preserve, source_time, existing_only=existing_only))


def insert_new(spec: TableSpec, preserve: list[str], *, probe: bool = True) -> sql.Composed:
    """READY's rows ``_n`` in [``%(lo)s``, ``%(hi)s``] whose key the target does not hold, inserted
    as they are: for a new row the merge rule is "the source wins" in every column, so it needs
    no merged row, no conflict arbiter and no change rows (an index probe per row decides: the
    lookup of :func:`_lookup`, which the planner cannot turn into a scan of the target).
    ``probe=False``: every row of the range is new (the target held no row when the write began,
    under the table's lock), so none is looked up."""
    business = spec.target_column_names
    cols = [*business, "sync_key", "source_id", "source_updated_at", "row_hash", "source_hash",
            "validation_warnings", "activo"]
    lookup = (sql.SQL("LEFT JOIN LATERAL {} t ON true").format(_lookup(spec, "s")) if probe
              else sql.SQL(""))
    return sql.SQL(
        "INSERT INTO {target} ({cols}, source_preserved, synced_at, fecha_registro, fecha_modificacion) "
        "SELECT {scols}, {src_preserved}, now(), now(), now() FROM {ready} s {lookup} "
        "WHERE s._n BETWEEN %(lo)s AND %(hi)s{new}").format(
        target=I(spec.target), cols=_cols(cols), scols=_cols(cols, "s"), src_preserved=_source_preserved(preserve),
        ready=I(READY), lookup=lookup, new=sql.SQL(" AND t.sync_key IS NULL" if probe else ""))


def target_empty(spec: TableSpec) -> sql.Composed:
    """Whether the target holds no row at all (a first load: nothing to merge with or deactivate)."""
    return sql.SQL("SELECT NOT EXISTS (SELECT 1 FROM {})").format(I(spec.target))


def truncate_merged() -> sql.Composed:
    """Empty the merged table. Run outside any savepoint, on a table made in the same
    transaction, PostgreSQL truncates it in place: no new file, lock or catalog row per slice."""
    return sql.SQL("TRUNCATE {}").format(I(MERGED))


def _doc(names: list[str], alias: str) -> sql.Composed:
    return sql.SQL("jsonb_build_object({})").format(sql.SQL(", ").join(
        sql.SQL("{}, {}.{}").format(sql.Literal(n), I(alias), I(n)) for n in names))


def compared_columns(spec: TableSpec) -> list[str]:
    return [*spec.target_column_names, *META_COMPARED]


def _distinct(spec: TableSpec, left: str, right: str) -> sql.Composed:
    cols = compared_columns(spec)
    return sql.SQL("({}) IS DISTINCT FROM ({})").format(_cols(cols, left), _cols(cols, right))


def diffs(spec: TableSpec) -> sql.Composed:
    """Field-level differences between merged rows and the target: (sync_key, field, old, new)."""
    cols = compared_columns(spec)
    return sql.SQL(
        "SELECT m.sync_key, n.key AS field, o.value AS old, n.value AS new "
        "FROM {merged} m JOIN LATERAL {lookup} t ON true "
        "CROSS JOIN LATERAL jsonb_each({mdoc}) n "
        "JOIN LATERAL jsonb_each({tdoc}) o ON o.key = n.key "
        "WHERE NOT m.is_new AND n.value IS DISTINCT FROM o.value").format(
        merged=I(MERGED), lookup=_lookup(spec, "m"), mdoc=_doc(cols, "m"), tdoc=_doc(cols, "t"))


def merge(spec: TableSpec, result: sql.Composable | None = None) -> sql.Composed:
    """The upsert, plus one ``traficov2_sync_changes`` row per field of every row it updated.

    One statement: the diffs read the target as it was before the upsert (sub-statements
    share one snapshot), and only rows the upsert really updated get change rows.
    Returns one row per written row: ``inserted`` (true) or updated (false); ``result`` is
    the final query over ``up`` (default ``SELECT inserted FROM up``; a function counts instead).
    """
    return sql.SQL(
        "WITH up AS ({upsert}, sync_key), "
        "ch AS (INSERT INTO traficov2_sync_changes (run_id, table_name, sync_key, field, old, new) "
        "SELECT %(run_id)s, {name}, d.sync_key, d.field, d.old, d.new FROM ({diffs}) d "
        "JOIN up ON up.sync_key = d.sync_key AND NOT up.inserted) "
        "{result}").format(
        upsert=upsert(spec), name=sql.Literal(spec.target), diffs=diffs(spec),
        result=sql.SQL("SELECT inserted FROM up") if result is None else result)


def inserts(spec: TableSpec) -> sql.Composed:
    return sql.SQL("SELECT {cols} FROM {merged} WHERE is_new ORDER BY sync_key LIMIT %(limit)s").format(
        cols=_cols(["sync_key", *spec.target_column_names, "validation_warnings", "activo"]),
        merged=I(MERGED))


def planned_diffs(spec: TableSpec) -> sql.Composed:
    """The first ``%(limit)s`` field-level differences, in key order (what a plan shows)."""
    return sql.SQL("SELECT * FROM ({diffs}) d ORDER BY d.sync_key, d.field LIMIT %(limit)s").format(diffs=diffs(spec))


def counts(spec: TableSpec) -> sql.Composed:
    """(inserts, updates, unchanged, field changes) of the merged rows."""
    return sql.SQL(
        "SELECT count(*) FILTER (WHERE m.is_new), "
        "count(*) FILTER (WHERE NOT m.is_new AND {distinct}), "
        "count(*) FILTER (WHERE NOT m.is_new AND NOT {distinct}), "
        "(SELECT count(*) FROM ({diffs}) d) "
        "FROM {merged} m LEFT JOIN LATERAL {lookup} t ON true").format(
        distinct=_distinct(spec, "m", "t"), merged=I(MERGED), lookup=_lookup(spec, "m"), diffs=diffs(spec))


def upsert(spec: TableSpec) -> sql.Composed:
    """Insert new rows, update changed ones; unchanged rows are not touched at all.

    The proposed row carries, in ``manual_updated_at``, the value the merge saw (never
    written: it is not in the SET list). A row the traffic desk edited after the merge
    computed it is left alone this run; the next run merges the edit properly.
    """
    business = spec.target_column_names
    meta = ["source_id", "source_updated_at", "row_hash", "source_hash", "source_preserved", "validation_warnings",
            "activo"]
    cols = [*business, "sync_key", *meta]
    sets = sql.SQL(", ").join(sql.SQL("{c} = EXCLUDED.{c}").format(c=I(c)) for c in [*business, *meta])
    return sql.SQL(
        "INSERT INTO {target} AS t ({cols}, manual_updated_at, synced_at, fecha_registro, fecha_modificacion) "
        "SELECT {cols}, seen_manual_updated_at, now(), now(), now() FROM {merged} "
        "ON CONFLICT (sync_key) DO UPDATE SET {sets}, synced_at = now(), fecha_modificacion = now() "
        "WHERE {distinct} AND t.manual_updated_at IS NOT DISTINCT FROM EXCLUDED.manual_updated_at "
        "RETURNING (xmax = 0) AS inserted").format(
        target=I(spec.target), cols=_cols(cols), merged=I(MERGED), sets=sets,
        distinct=_distinct(spec, "t", "excluded"))


def refresh_metadata(spec: TableSpec) -> sql.Composed:
    """Rows whose business values did not change but whose source bookkeeping did
    (e.g. the source now holds the value back-propagation copied there): silent update.
    The array of the slice's target ids gives the planner an index condition on the target (a
    join alone lets it hash the whole target: its statistics do not know this transaction's
    rows); new rows were written whole by the upsert and are left out.

    Only rows the desk has not edited since the merge read them (the upsert's guard): the
    bookkeeping says what the target holds, and a row the upsert left alone holds none of
    this run's values. Stamped anyway, the next run would take the source's change as
    written and never apply it."""
    meta = ["source_id", "source_updated_at", "row_hash", "source_hash", "source_preserved"]
    return sql.SQL(
        "UPDATE {target} t SET {sets} FROM {merged} m WHERE t.id = m.target_id AND NOT m.is_new "
        "AND t.id = ANY ((SELECT array_agg(target_id) FROM {merged} WHERE NOT is_new)::bigint[]) "
        "AND t.manual_updated_at IS NOT DISTINCT FROM m.seen_manual_updated_at "
        "AND ({tcols}) IS DISTINCT FROM ({mcols})").format(
        target=I(spec.target), merged=I(MERGED),
        sets=sql.SQL(", ").join(sql.SQL("{c} = m.{c}").format(c=I(c)) for c in meta),
        tcols=_cols(meta, "t"), mcols=_cols(meta, "m"))


def left_alone(spec: TableSpec) -> sql.Composed:
    """The merged rows the desk edited after the merge read them, which :func:`upsert` and
    :func:`refresh_metadata` left alone: how many, and the earliest source change time among
    them (the watermark must stay before it, or no incremental read would read them again)."""
    return sql.SQL(
        "SELECT count(*), min(m.source_updated_at) FROM {merged} m JOIN LATERAL {lookup} t ON true "
        "WHERE NOT m.is_new AND t.manual_updated_at IS DISTINCT FROM m.seen_manual_updated_at").format(
        merged=I(MERGED), lookup=_lookup(spec, "m"))


# ---- deactivation (full mode) -------------------------------------------------------------

def create_keys() -> sql.Composed:
    """The keys the source holds this run, as the chunks arrive (repeats allowed)."""
    return sql.SQL("CREATE TEMP TABLE {} (sync_key text)").format(I(KEYS))


def copy_keys() -> sql.Composed:
    return sql.SQL("COPY {} (sync_key) FROM STDIN").format(I(KEYS))


def row_label(alias: str = "t") -> sql.Composed:
    """A target row's key, or for a row with none (the old tool's, not adopted: its key
    columns are empty) ``id=<id>``: what a deactivation and its change row name it by."""
    return sql.SQL("coalesce({a}.sync_key, 'id=' || {a}.id)").format(a=I(alias))


def to_deactivate(spec: TableSpec) -> sql.Composed:
    return sql.SQL(
        "SELECT {label} AS sync_key FROM {target} t WHERE t.activo "
        "AND NOT EXISTS (SELECT 1 FROM {keys} k WHERE k.sync_key = t.sync_key) ORDER BY t.sync_key "
        "LIMIT %(limit)s").format(
        target=I(spec.target), keys=I(KEYS), label=row_label())


def deactivation_count(spec: TableSpec) -> sql.Composed:
    return sql.SQL(
        "SELECT count(*) FROM {target} t WHERE t.activo "
        "AND NOT EXISTS (SELECT 1 FROM {keys} k WHERE k.sync_key = t.sync_key)").format(
        target=I(spec.target), keys=I(KEYS))


def count_active(spec: TableSpec) -> sql.Composed:
    return sql.SQL("SELECT count(*) FROM {} WHERE activo").format(I(spec.target))


def deactivate(spec: TableSpec) -> sql.Composed:
    return sql.SQL(
        "WITH gone AS (UPDATE {target} t SET activo = false, synced_at = now(), fecha_modificacion = now() "
        "WHERE t.activo AND NOT EXISTS (SELECT 1 FROM {keys} k WHERE k.sync_key = t.sync_key) "
        "RETURNING {label} AS sync_key) "
        "INSERT INTO traficov2_sync_changes (run_id, table_name, sync_key, field, old, new) "
        "SELECT %(run_id)s, {name}, sync_key, 'activo', 'true'::jsonb, 'false'::jsonb FROM gone "
        "RETURNING sync_key").format(target=I(spec.target), keys=I(KEYS), name=sql.Literal(spec.target),
                                     label=row_label())


# ---- adoption of the old tool's rows (engine/adopt.py) -------------------------------------

def _has_value(alias: str, column: str) -> sql.Composed:
    return sql.SQL("nullif(btrim({}.{}::text), '') IS NOT NULL").format(I(alias), I(column))


def adopt(spec: TableSpec, preserve: list[str],
          result: sql.Composable | None = None) -> sql.Composed:
    """Give the target's unkeyed rows their keys (``pairs``: a JSON array of {id, sync_key},
    from ``engine.adopt``), in place: the row keeps its ``id`` and every other column. Per key
    the highest ``id`` among the active unkeyed rows is adopted, unless a row already holds the
    key; the others (older copies) are set ``activo = false``, never deleted. An adopted row's
    preserved fields holding a value count as the desk's edits made at ``edited_at`` (the run's
    start; a time the manual-edit trigger already recorded stays): ``manual_edits`` {field: time}
    and ``manual_updated_at``, so the merge rule keeps them unless the source changes that field
    later. A slot table's row becomes slot 1 (its old source_id, a row position, cleared). Each row
    adopted or deactivated gets a change row. Returns (id, sync_key, adopted) per row it
    touched (``result``: the final query over ``done``, default ``SELECT id, sync_key, adopted
    FROM done``; a function aggregates instead); a pair
    whose row is keyed or inactive by now is left alone (rerun-safe). Parameters:
    ``%(pairs)s``, ``%(edited_at)s``, ``%(run_id)s``."""
    target, name = I(spec.target), sql.Literal(spec.target)
    pairs, edited_at = sql.SQL("%(pairs)s"), sql.SQL("%(edited_at)s")
    fields = [p for p in preserve if p in spec.target_column_names]
    edits = (sql.SQL("jsonb_strip_nulls(jsonb_build_object({}))").format(sql.SQL(", ").join(
        sql.SQL("{lit}, CASE WHEN {has} THEN to_jsonb({at}) END").format(
            lit=sql.Literal(p), has=_has_value("t", p), at=edited_at) for p in fields))
        if fields else sql.SQL("'{}'::jsonb"))
    any_value = sql.SQL(" OR ").join(_has_value("t", p) for p in fields) if fields else sql.SQL("false")
    # a slot table's old row was a booking, its source_id a row position: not a source row's id,
    # which back-propagation would follow to another booking's row
    slot = sql.SQL(", {} = 1, source_id = NULL").format(I(spec.slots.sequence)) if spec.slots else sql.SQL("")
    return sql.SQL(
        "WITH p AS (SELECT DISTINCT ON (x.id) x.id, x.sync_key "
        "FROM jsonb_to_recordset({pairs}::jsonb) AS x(id bigint, sync_key text) WHERE x.sync_key IS NOT NULL), "
        "c AS (SELECT t.id, p.sync_key, "
        "row_number() OVER (PARTITION BY p.sync_key ORDER BY t.id DESC) AS rank, "
        "EXISTS (SELECT 1 FROM {target} k WHERE k.sync_key = p.sync_key) AS taken "
        "FROM p JOIN {target} t ON t.id = p.id WHERE t.sync_key IS NULL AND t.activo), "
        "kept AS (UPDATE {target} t SET sync_key = c.sync_key{slot}, "
        "manual_edits = {edits} || coalesce(t.manual_edits, '{{}}'::jsonb), "
        "manual_updated_at = CASE WHEN {any_value} THEN greatest(t.manual_updated_at, {at}) "
        "ELSE t.manual_updated_at END "
        "FROM c WHERE t.id = c.id AND c.rank = 1 AND NOT c.taken RETURNING t.id, c.sync_key), "
        "dropped AS (UPDATE {target} t SET activo = false, synced_at = now(), fecha_modificacion = now() "
        "FROM c WHERE t.id = c.id AND (c.rank > 1 OR c.taken) RETURNING t.id, c.sync_key), "
        "ch AS (INSERT INTO traficov2_sync_changes (run_id, table_name, sync_key, field, old, new) "
        "SELECT %(run_id)s, {name}, sync_key, 'adopted', NULL, jsonb_build_object('id', id) FROM kept "
        "UNION ALL SELECT %(run_id)s, {name}, sync_key, 'activo', 'true'::jsonb, 'false'::jsonb FROM dropped), "
        "done AS (SELECT id::bigint AS id, sync_key, true AS adopted FROM kept "
        "UNION ALL SELECT id::bigint, sync_key, false FROM dropped) "
        "{result}").format(
        pairs=pairs, target=target, slot=slot, edits=edits, any_value=any_value, at=edited_at, name=name,
        result=sql.SQL("SELECT id, sync_key, adopted FROM done") if result is None else result)


def unkeyed(spec: TableSpec, columns: list[str]) -> sql.Composed:
    """The active rows with no key yet (the old tool's, before adoption): ``id`` and
    ``columns``, as text. An index probe (the key's unique index holds the NULLs): one cheap
    query when there are none."""
    return sql.SQL("SELECT id, {cols} FROM {target} WHERE sync_key IS NULL AND activo ORDER BY id").format(
        cols=sql.SQL(", ").join(sql.SQL("{}::text AS {}").format(I(c), I(c)) for c in columns),
        target=I(spec.target))
