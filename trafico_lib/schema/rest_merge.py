"""The per-table functions that write over Supabase's REST API, rendered from the direct path's
own statements (``stores/sql/merge.py``): the merge rule is written once.

``traficov2_plan_<table>`` and ``traficov2_plan_deactivate_<table>`` say what they would
do, writing nothing (a dry run). ``traficov2_merge_<table>(p_rows, p_run_id, p_run_started, p_call)``
(``p_run_started``: the source time of ``pipeline.source_time``, under its first name;
``p_call``: the call's id, under which its result is kept in ``traficov2_sync_calls``, so a
call asked again after it committed returns what it wrote instead of merging again)
takes one batch of staged rows
(JSON, the staging table's columns) and runs, inside the database, what the direct path runs
for a slice: the rows the target holds identically are dropped, the others are merged with
the target (preserved fields, empty never erases manual, only-if-changed, changes recorded)
and the new ones inserted. It returns the counts. ``traficov2_deactivate_<table>(p_run_id,
p_keys)`` deactivates the active rows whose key the source no longer holds.

Each statement runs through ``EXECUTE``: the work tables are temporary and made afresh per call,
so no plan is kept across calls. The functions run as the caller (``service_role`` over
REST) and mark their writes as the sync's (``trafico.sync``), so the manual-edit trigger
leaves them alone.
"""
from __future__ import annotations

import re
from datetime import UTC, datetime

from psycopg import sql

from ..stores.sql import merge as q
from ..stores.sql.source import MISSING, as_text, row_hash, unchanged_summary, value_names
from ..tables import TableSpec

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
ALL = {"lo": "0", "hi": str(2 ** 62)}


def merge_function_name(spec: TableSpec) -> str:
    return f"traficov2_merge_{spec.name}"


def deactivate_function_name(spec: TableSpec) -> str:
    return f"traficov2_deactivate_{spec.name}"


def _text(statement: sql.Composable, params: dict[str, str]) -> str:
    """A statement as text for ``EXECUTE``: placeholders become ``$n`` (``params`` maps a name
    to its position) or constants (:data:`ALL`)."""
    text = statement.as_string(None)

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name in params:
            return params[name]
        if name in ALL:
            return ALL[name]
        raise ValueError(f"placeholder {name!r} has no value")
    text = _PLACEHOLDER.sub(sub, text)
    if "$x$" in text:
        raise ValueError("statement holds the quoting tag")
    return text


def _execute(statement: sql.Composable, params: dict[str, str] | None = None, *, into: str = "",
             using: str = "") -> str:
    return (f"EXECUTE $x${_text(statement, params or {})}$x$"
            + (f" INTO {into}" if into else "") + (f" USING {using}" if using else "") + ";")


def _plpgsql(signature: str, returns: str, declare: str, statements: list[str]) -> str:
    """``CREATE OR REPLACE FUNCTION <signature> RETURNS <returns>`` in PL/pgSQL, its body the
    ``statements`` in order."""
    body = "\n    ".join(statements)
    return (f"CREATE OR REPLACE FUNCTION {signature}\nRETURNS {returns} LANGUAGE plpgsql AS $fn$\n"
            f"DECLARE\n    {declare}\nBEGIN\n    {body}\nEND\n$fn$;")


def _ready(spec: TableSpec) -> list[str]:
    """The batch's rows (``p_rows``, JSON) into a fresh READY table, as the direct path stages them."""
    cols = q.sql.SQL(", ").join(q.I(c) for c in q.stage_columns(spec))
    load = sql.SQL("INSERT INTO {ready} ({cols}) SELECT {cols} FROM jsonb_populate_recordset(NULL::{ready}, $1)").format(
        ready=q.I(q.READY), cols=cols)
    return [_execute(q.create_numbers()), _execute(q.create_ready(spec)), _execute(load, using="p_rows")]


def render_merge_function(spec: TableSpec, preserve: list[str]) -> str:
    # a table made WITH NO DATA: the run's start only gives a column its type
    typed_only = datetime(2000, 1, 1, tzinfo=UTC)
    counted = sql.SQL("SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up")
    drop = sql.SQL("DROP TABLE IF EXISTS {}, {}, {}; DROP SEQUENCE IF EXISTS {}").format(
        q.I(q.READY), q.I(q.MERGED), q.I(q.KEYS), q.I(q.NUMBERS))
    return _plpgsql(
        f"{merge_function_name(spec)}(p_rows jsonb, p_run_id text, p_run_started timestamptz, p_call text)", "jsonb",
        "v_staged bigint; v_identical bigint; v_inserted bigint; v_updated bigint; v_new bigint; v_left bigint; "
        "v_left_since timestamptz; v_result jsonb;", [
            # asked again (the gateway failed the call after it committed): its receipt, not a
            # second merge that would find its rows written and count them unchanged
            "SELECT result INTO v_result FROM traficov2_sync_calls WHERE run_id = p_run_id AND call_id = p_call;",
            "IF FOUND THEN RETURN v_result; END IF;",
            "PERFORM set_config('trafico.sync', 'on', true);",
            _execute(drop),
            *_ready(spec),
            "GET DIAGNOSTICS v_staged = ROW_COUNT;",
            _execute(q.drop_identical(spec, probe=True)),
            "GET DIAGNOSTICS v_identical = ROW_COUNT;",
            _execute(q.create_merged(spec, preserve, typed_only)),
            _execute(q.fill_merged(spec, preserve, sql.SQL("$1"), existing_only=True), using="p_run_started"),
            _execute(q.merge(spec, counted), {"run_id": "$1"}, into="v_inserted, v_updated", using="p_run_id"),
            _execute(q.refresh_metadata(spec)),
            _execute(q.left_alone(spec), into="v_left, v_left_since"),
            _execute(q.insert_new(spec, preserve)),
            "GET DIAGNOSTICS v_new = ROW_COUNT;",
            _execute(drop),
            "v_result := jsonb_build_object('staged', v_staged, 'identical', v_identical, "
            "'inserted', v_inserted + v_new, 'updated', v_updated, 'left', v_left, 'left_since', v_left_since);",
            "DELETE FROM traficov2_sync_calls WHERE created_at < now() - interval '2 days';",
            "INSERT INTO traficov2_sync_calls (run_id, call_id, result) VALUES (p_run_id, p_call, v_result);",
            "RETURN v_result;",
        ])


def plan_function_name(spec: TableSpec) -> str:
    return f"traficov2_plan_{spec.name}"


def plan_deactivate_function_name(spec: TableSpec) -> str:
    return f"traficov2_plan_deactivate_{spec.name}"


def _as_json(statement: sql.Composable) -> sql.Composed:
    return sql.SQL("SELECT coalesce(jsonb_agg(to_jsonb(x)), '[]'::jsonb) FROM ({}) x").format(statement)


def adopt_function_name(spec: TableSpec) -> str:
    return f"traficov2_adopt_{spec.name}"


# raised to roll back what a plan did to see the adoption (and caught at once)
_PLAN_ONLY = "TR000"


def _adoption(spec: TableSpec, preserve: list[str], run_id: str) -> str:
    """The direct path's adoption statement (``sql.adopt``) over ``p_adopt``, the rows it did
    into ``v_adopted`` (JSON)."""
    done = sql.SQL("SELECT coalesce(jsonb_agg(to_jsonb(d) ORDER BY d.id), '[]'::jsonb) FROM done d")
    return _execute(q.adopt(spec, preserve, done), {"pairs": "$1", "edited_at": "$2", "run_id": "$3"},
                    into="v_adopted", using=f"p_adopt, p_edited_at, {run_id}")


def _after_adoption_rolled_back(spec: TableSpec, preserve: list[str], statements: list[str]) -> list[str]:
    """``statements`` run after the adoption of ``p_adopt``, in a block whose writes are all
    rolled back (a plan writes nothing; PL/pgSQL keeps the variables it set)."""
    return ["BEGIN",
            f"    IF jsonb_array_length(p_adopt) > 0 THEN {_adoption(spec, preserve, 'p_run_id')} END IF;",
            *(f"    {st}" for st in statements),
            f"    RAISE EXCEPTION USING ERRCODE = '{_PLAN_ONLY}';",
            f"EXCEPTION WHEN SQLSTATE '{_PLAN_ONLY}' THEN NULL;",
            "END;"]


def render_adopt_function(spec: TableSpec, preserve: list[str]) -> str:
    """``traficov2_adopt_<table>(p_adopt, p_edited_at, p_run_id, p_dry_run)``: the old tool's
    rows of ``p_adopt`` ({id, sync_key} each) given their keys by the direct path's statement
    (``sql.adopt``), before a run's merge calls; the rows it keyed or deactivated (JSON: id,
    sync_key, adopted). ``p_dry_run``: the same, rolled back (what a plan shows)."""
    return _plpgsql(
        f"{adopt_function_name(spec)}(p_adopt jsonb, p_edited_at timestamptz, p_run_id text, p_dry_run boolean)",
        "jsonb", "v_adopted jsonb := '[]'::jsonb;", [
            "PERFORM set_config('trafico.sync', 'on', true);",
            "IF jsonb_array_length(p_adopt) = 0 THEN RETURN v_adopted; END IF;",
            "IF NOT p_dry_run THEN",
            f"    {_adoption(spec, preserve, 'p_run_id')}",
            "    RETURN v_adopted;",
            "END IF;",
            "BEGIN",
            f"    {_adoption(spec, preserve, 'p_run_id')}",
            f"    RAISE EXCEPTION USING ERRCODE = '{_PLAN_ONLY}';",
            f"EXCEPTION WHEN SQLSTATE '{_PLAN_ONLY}' THEN NULL;",
            "END;",
            "RETURN v_adopted;",
        ])


def render_adopt_functions(specs, preserve: dict[str, list[str]]) -> str:
    """Step 012: every target's adoption function."""
    return "\n\n".join(render_adopt_function(s, preserve.get(s.name, [])) for s in specs)


def render_plan_function(spec: TableSpec, preserve: list[str]) -> str:
    """What the merge function would do with a batch, written nowhere: the first ``p_limit``
    inserts and field changes (in key order) and the counts, by the direct path's plan
    statements, after the adoption of the old tool's rows ``p_adopt`` (rolled back with the
    rest: see :func:`render_adopt_function`)."""
    typed_only = datetime(2000, 1, 1, tzinfo=UTC)
    drop = sql.SQL("DROP TABLE IF EXISTS {}, {}; DROP SEQUENCE IF EXISTS {}").format(
        q.I(q.READY), q.I(q.MERGED), q.I(q.NUMBERS))
    limit = {"limit": "$1"}
    return _plpgsql(
        f"{plan_function_name(spec)}(p_rows jsonb, p_run_started timestamptz, p_limit integer, p_adopt jsonb, "
        "p_edited_at timestamptz)", "jsonb",
        "v_identical bigint; v_inserts jsonb; v_updates jsonb; v_ins bigint; v_upd bigint; v_same bigint; "
        "v_fields bigint; v_adopted jsonb; p_run_id text := 'plan';", _after_adoption_rolled_back(spec, preserve, [
            _execute(drop),
            *_ready(spec),
            _execute(q.drop_identical(spec, probe=True)),
            "GET DIAGNOSTICS v_identical = ROW_COUNT;",
            _execute(q.create_merged(spec, preserve, typed_only)),
            _execute(q.fill_merged(spec, preserve, sql.SQL("$1")), using="p_run_started"),
            _execute(_as_json(q.inserts(spec)), limit, into="v_inserts", using="p_limit"),
            _execute(_as_json(q.planned_diffs(spec)), limit, into="v_updates", using="p_limit"),
            _execute(q.counts(spec), into="v_ins, v_upd, v_same, v_fields"),
            _execute(drop)]) + [
            "RETURN jsonb_build_object('inserts', v_inserts, 'updates', v_updates, 'inserted', v_ins, "
            "'updated', v_upd, 'unchanged', v_same + v_identical);",
        ])


def _keys() -> list[str]:
    """The source's keys (``p_keys``, a JSON array) into a fresh KEYS table, analyzed."""
    keys = sql.SQL("INSERT INTO {keys} (sync_key) SELECT jsonb_array_elements_text($1)").format(keys=q.I(q.KEYS))
    return [_execute(sql.SQL("DROP TABLE IF EXISTS {}").format(q.I(q.KEYS))), _execute(q.create_keys()),
            _execute(keys, using="p_keys"), _execute(sql.SQL("ANALYZE {}").format(q.I(q.KEYS)))]


def render_plan_deactivate_function(spec: TableSpec, preserve: list[str]) -> str:
    """The rows a full run would deactivate (the first ``p_limit``) and how many, after the
    adoption of ``p_adopt``, rolled back."""
    return _plpgsql(
        f"{plan_deactivate_function_name(spec)}(p_keys jsonb, p_limit integer, p_adopt jsonb, "
        "p_edited_at timestamptz)", "jsonb",
        "v_keys jsonb; v_count bigint; v_adopted jsonb; p_run_id text := 'plan';",
        _after_adoption_rolled_back(spec, preserve, [
            *_keys(),
            _execute(_as_json(q.to_deactivate(spec)), {"limit": "$1"}, into="v_keys", using="p_limit"),
            _execute(q.deactivation_count(spec), into="v_count"),
            _execute(sql.SQL("DROP TABLE IF EXISTS {}").format(q.I(q.KEYS)))]) + [
            "RETURN jsonb_build_object('keys', v_keys, 'count', v_count);",
        ])


def render_deactivate_function(spec: TableSpec) -> str:
    return _plpgsql(
        f"{deactivate_function_name(spec)}(p_run_id text, p_keys jsonb)", "bigint", "v_deactivated bigint;", [
            "PERFORM set_config('trafico.sync', 'on', true);",
            *_keys(),
            _execute(q.deactivate(spec), {"run_id": "$1"}, using="p_run_id"),
            "GET DIAGNOSTICS v_deactivated = ROW_COUNT;",
            _execute(sql.SQL("DROP TABLE IF EXISTS {}").format(q.I(q.KEYS))),
            "RETURN v_deactivated;",
        ])


def backprop_function_name(spec: TableSpec) -> str:
    return f"traficov2_backprop_{spec.name}"


def render_backprop_function(spec: TableSpec) -> str:
    """Back-propagation's writes into the source table: ``p_edits`` (id, field, new), each value
    cast to its column's type; the change-time column (``p_updated_column``, checked against
    the table) set to now() on every edited row. Returns the rows edited."""
    src = sql.Literal(spec.source).as_string(None)
    return f"""CREATE OR REPLACE FUNCTION {backprop_function_name(spec)}(p_edits jsonb, p_updated_column text)
RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
    v_field text; v_type text; v_rows bigint;
BEGIN
    FOR v_field IN SELECT DISTINCT e.field FROM jsonb_to_recordset(p_edits) AS e(id text, field text, new text) LOOP
        SELECT format_type(a.atttypid, a.atttypmod) INTO v_type FROM pg_attribute a
         WHERE a.attrelid = to_regclass(format('%I', {src})) AND a.attname = v_field AND a.attnum > 0
           AND NOT a.attisdropped;
        IF v_type IS NULL THEN
            RAISE EXCEPTION 'source table % has no column %', {src}, v_field USING ERRCODE = '42703';
        END IF;
        EXECUTE format('UPDATE %I s SET %I = e.new::%s FROM jsonb_to_recordset($1) AS e(id text, field text, new text) '
                       'WHERE s.id::text = e.id AND e.field = $2', {src}, v_field, v_type) USING p_edits, v_field;
    END LOOP;
    IF p_updated_column IS NOT NULL THEN
        IF NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = to_regclass(format('%I', {src}))
                        AND a.attname = p_updated_column AND a.attnum > 0 AND NOT a.attisdropped) THEN
            RAISE EXCEPTION 'source table % has no column %', {src}, p_updated_column USING ERRCODE = '42703';
        END IF;
        EXECUTE format('UPDATE %I s SET %I = now() WHERE s.id::text IN '
                       '(SELECT DISTINCT e.id FROM jsonb_to_recordset($1) AS e(id text, field text, new text))',
                       {src}, p_updated_column) USING p_edits;
    END IF;
    SELECT count(DISTINCT e.id) INTO v_rows FROM jsonb_to_recordset(p_edits) AS e(id text, field text, new text);
    RETURN v_rows;
END
$fn$;"""


def render_prune_function(specs) -> str:
    """``traficov2_prune(p_cutoff, p_dry_run)``: the direct path's pruning statements
    (``stores/sql/retention.py``), every target of the schema considered."""
    from ..stores.sql import retention as r
    targets = {s.target for s in specs}
    cut = {"cutoff": "$1"}
    count_old = []
    delete_old = []
    for what, (table, column) in r.OLD.items():
        count_old.append(_execute(r.old_rows(table, column, delete=False), cut, into="v_n", using="p_cutoff")
                         + f" v_out := v_out || jsonb_build_object('{what}', v_n);")
        delete_old.append(_execute(r.old_rows(table, column, delete=True), cut, using="p_cutoff")
                          + f" GET DIAGNOSTICS v_n = ROW_COUNT; v_out := v_out || jsonb_build_object('{what}', v_n);")
    kept = _execute(r.kept_rejects(targets), cut, into="v_kept", using="p_cutoff")
    total = _execute(r.old_rejects(), cut, into="v_n", using="p_cutoff")
    delete = _execute(r.delete_rejects(targets), cut, using="p_cutoff")
    nl = "\n        "
    return f"""CREATE OR REPLACE FUNCTION traficov2_prune(p_cutoff timestamptz, p_dry_run boolean)
RETURNS jsonb LANGUAGE plpgsql AS $fn$
DECLARE
    v_out jsonb := '{{}}'::jsonb; v_n bigint; v_kept bigint;
BEGIN
    {kept}
    IF p_dry_run THEN
        {nl.join(count_old)}
        {total}
        v_out := v_out || jsonb_build_object('rejects', v_n - v_kept);
    ELSE
        {nl.join(delete_old)}
        {delete}
        GET DIAGNOSTICS v_n = ROW_COUNT;
        v_out := v_out || jsonb_build_object('rejects', v_n);
    END IF;
    RETURN v_out || jsonb_build_object('open_rejects_kept', v_kept);
END
$fn$;"""


def render_rest_functions(specs, preserve: dict[str, list[str]]) -> str:
    specs = list(specs)
    parts = [render_prune_function(specs)]
    for spec in specs:
        # the merge function before it took its call's id (a second overload would be ambiguous)
        parts.append(f"DROP FUNCTION IF EXISTS {merge_function_name(spec)}(jsonb, text, timestamptz);")
        parts.append(render_merge_function(spec, preserve.get(spec.name, [])))
        parts.append(render_deactivate_function(spec))
        # the plan functions before they saw the adoption of the old tool's rows (issue 22)
        parts.append(f"DROP FUNCTION IF EXISTS {plan_function_name(spec)}(jsonb, timestamptz, integer);")
        parts.append(f"DROP FUNCTION IF EXISTS {plan_deactivate_function_name(spec)}(jsonb, integer);")
        parts.append(render_plan_function(spec, preserve.get(spec.name, [])))
        parts.append(render_plan_deactivate_function(spec, preserve.get(spec.name, [])))
        parts.append(render_backprop_function(spec))
    return "\n\n".join(parts)


# ---- step 013: the rules the REST store ran in Python, now the direct path's own SQL ---------

LATEST_WINS_FUNCTION = "traficov2_latest_wins"


def _literal(text: str) -> str:
    return sql.Literal(text).as_string(None)


def render_latest_wins_function() -> str:
    """``traficov2_latest_wins(p_rows, p_unread)``: which staged rows lose to a later row of
    their key, by the direct path's statements (``merge.duplicate_keys``, ``drop_superseded``,
    ``drop_lost``) over a work table of the columns they read. ``p_rows``: staged rows
    (``_n``, ``sync_key``, ``source_id``, ``source_updated_at``, ``_order``); ``p_unread``: the
    source rows set aside unread (``sync_key``, ``source_updated_at``, ``_order``, ``source_id``). Returns
    ``{"superseded": [...], "lost": [...], "replaced": [...]}``, each loser's ``_n``,
    ``sync_key`` and ``source_id``, the superseded in source order; ``replaced``: the unread
    rows a staged row of their key outranks (``drop_replaced_unread``: ``sync_key``,
    ``source_id``, ``_order``). Writes nothing but temporary tables."""
    ready = sql.SQL(
        "CREATE TEMP TABLE {ready} (_n bigint, sync_key text, source_id text, source_updated_at timestamptz, "
        "_order bigint)").format(ready=q.I(q.READY))
    load = sql.SQL("INSERT INTO {t} SELECT * FROM jsonb_populate_recordset(NULL::{t}, $1)")
    losers = sql.SQL("SELECT coalesce(jsonb_agg(jsonb_build_object('_n', _n, 'sync_key', sync_key, "
                     "'source_id', source_id) ORDER BY _order), '[]'::jsonb) FROM gone")
    unread = sql.SQL("SELECT coalesce(jsonb_agg(jsonb_build_object('sync_key', sync_key, 'source_id', source_id, "
                     "'_order', _order) ORDER BY _order), '[]'::jsonb) FROM gone")
    drop = sql.SQL("DROP TABLE IF EXISTS {}, {}, {}").format(q.I(q.READY), q.I(q.DUPLICATES), q.I(q.UNCHANGED))
    return _plpgsql(
        f"{LATEST_WINS_FUNCTION}(p_rows jsonb, p_unread jsonb)", "jsonb",
        "v_superseded jsonb; v_lost jsonb; v_replaced jsonb;", [
            _execute(drop),
            _execute(ready),
            _execute(load.format(t=q.I(q.READY)), using="p_rows"),
            _execute(q.create_unchanged()),
            _execute(load.format(t=q.I(q.UNCHANGED)), using="p_unread"),
            _execute(q.duplicate_keys()),
            _execute(q.drop_superseded(losers), into="v_superseded"),
            _execute(q.drop_lost(losers), into="v_lost"),
            _execute(q.drop_replaced_unread(unread), into="v_replaced"),
            _execute(drop),
            "RETURN jsonb_build_object('superseded', v_superseded, 'lost', v_lost, 'replaced', v_replaced);",
        ])


def source_function_name(spec: TableSpec) -> str:
    return f"traficov2_source_{spec.name}"


def _source_columns(spec: TableSpec) -> tuple[str, list[str], str, str, str]:
    """What a function reading ``spec``'s source looks up per call, as SQL literals: the source
    table's name, the value names, the registry's column names, each column's text (present)
    and its missing mark (a column the source lacks)."""
    source = _literal(sql.Identifier(spec.source).as_string(None))
    names = value_names(len(spec.column_names))
    columns = "ARRAY[" + ", ".join(_literal(c) for c in spec.column_names) + "]::text[]"
    present = "ARRAY[" + ", ".join(_literal(as_text(c).as_string(None) + " AS " + sql.Identifier(n).as_string(None))
                                   for c, n in zip(spec.column_names, names)) + "]::text[]"
    missing = "ARRAY[" + ", ".join(_literal(MISSING.as_string(None) + " AS " + sql.Identifier(n).as_string(None))
                                   for n in names) + "]::text[]"
    return source, names, columns, present, missing


def _values_lookup(source: str, columns: str, present: str, missing: str) -> str:
    """The plpgsql lines of a function reading a source: the table must exist, and ``v_values``
    gets each registry column's text, or its missing mark where the source lacks the column."""
    return f"""    IF v_table IS NULL THEN
        RAISE EXCEPTION 'relation % does not exist', {source} USING ERRCODE = '42P01';
    END IF;
    SELECT string_agg(CASE WHEN a.attname IS NULL THEN c.missing ELSE c.present END, ', ' ORDER BY c.n) INTO v_values
      FROM unnest({columns}, {present}, {missing}) WITH ORDINALITY AS c(name, present, missing, n)
      LEFT JOIN pg_attribute a ON a.attrelid = v_table AND a.attname = c.name AND a.attnum > 0 AND NOT a.attisdropped;
"""


def render_source_function(spec: TableSpec) -> str:
    """``traficov2_source_<table>(p_fingerprint, p_after, p_limit, p_updated_column, p_since)``:
    one keyset page of the source table as the direct path reads it (``stores/pg/source.py``),
    by the same expressions (``stores/sql/source.py``): the first ``p_limit`` rows of id after
    ``p_after`` (the last page's last ``source_id``; NULL: from the start), changed after
    ``p_since`` by ``p_updated_column`` when given; each row's id as text, its change time (as
    JSON, as the API sends it), its source hash and the registry columns' text values (NULL
    where the source lacks the column). The columns the source has are looked up per call."""
    source, names, columns, present, missing = _source_columns(spec)
    values_lookup = _values_lookup(source, columns, present, missing)
    values = [sql.SQL("n.{}").format(sql.Identifier(n)) for n in names]
    head = sql.SQL("SELECT n._source_id, n._changed, {h}, ARRAY[{vals}]::text[] FROM (SELECT ").format(
        h=row_hash(values, sql.SQL("$1")), vals=sql.SQL(", ").join(values)).as_string(None)
    column = ("SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a WHERE a.attrelid = v_table "
              "AND a.attname = {} AND a.attnum > 0 AND NOT a.attisdropped")
    name = sql.Identifier(source_function_name(spec)).as_string(None)
    return f"""CREATE OR REPLACE FUNCTION {name}(p_fingerprint text, p_after text, p_limit integer,
    p_updated_column text, p_since timestamptz)
RETURNS TABLE (source_id text, changed_at jsonb, source_hash text, source_values text[])
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_table regclass := to_regclass({source});
    v_values text; v_id_type text; v_changed text := 'NULL::jsonb'; v_where text := '';
BEGIN
{values_lookup}    {column.format("'id'")} INTO v_id_type;
    IF v_id_type IS NULL THEN
        RAISE EXCEPTION 'source table % has no id column', {source} USING ERRCODE = '42703';
    END IF;
    IF p_after IS NOT NULL THEN
        v_where := v_where || ' AND id > $2::' || v_id_type;
    END IF;
    IF p_updated_column IS NOT NULL THEN
        IF NOT EXISTS ({column.format("p_updated_column")}) THEN
            RAISE EXCEPTION 'source table % has no column %', {source}, p_updated_column USING ERRCODE = '42703';
        END IF;
        v_changed := format('to_jsonb(%I)', p_updated_column);
        IF p_since IS NOT NULL THEN
            v_where := v_where || format(' AND %I > $4', p_updated_column);
        END IF;
    END IF;
    RETURN QUERY EXECUTE {_literal(head)} || v_values || ', id::text AS _source_id, ' || v_changed
        || ' AS _changed, id AS _id FROM ' || v_table::text || ' WHERE true' || v_where || ') n ORDER BY n._id LIMIT $3'
        USING p_fingerprint, p_after, p_limit, p_since;
END
$fn$;"""


def render_shared_rule_functions(specs) -> str:
    """Step 013: latest wins for duplicate keys and the source read with its row hashes, as
    functions of the direct path's own SQL (the REST store computed both in Python before)."""
    return "\n\n".join([render_latest_wins_function(), *(render_source_function(s) for s in specs)])


# ---- step 018: a whole read proved a no-op inside the database --------------------------------

_ROWS_MARK = "__trafico_source_values__"


def unchanged_function_name(spec: TableSpec) -> str:
    return f"traficov2_unchanged_{spec.name}"


def render_unchanged_function(spec: TableSpec) -> str:
    """``traficov2_unchanged_<table>(p_fingerprint, p_updated_column)``: whether a whole read of
    the source would find every row as last written (``stores/sql/source.unchanged_summary``:
    the direct path's hash and match, inside the database), as JSON: ``rows``, ``unchanged``,
    ``matched`` (distinct target rows), ``active`` (active target rows), ``latest`` (the latest
    change time among the unchanged rows, by ``p_updated_column`` when given). The REST store
    asks it before a whole read: a no-op run ships no source row. The source's columns are
    looked up per call, as ``traficov2_source_<table>`` does."""
    source, names, columns, present, missing = _source_columns(spec)
    values_lookup = _values_lookup(source, columns, present, missing)
    statement = unchanged_summary(sql.SQL("SELECT " + _ROWS_MARK), len(names), sql.Identifier(spec.target),
                                  sql.SQL("$1")).as_string(None)
    head, tail = statement.split(_ROWS_MARK)
    column = ("SELECT 1 FROM pg_attribute a WHERE a.attrelid = v_table "
              "AND a.attname = {} AND a.attnum > 0 AND NOT a.attisdropped")
    name = sql.Identifier(unchanged_function_name(spec)).as_string(None)
    return f"""CREATE OR REPLACE FUNCTION {name}(p_fingerprint text, p_updated_column text)
RETURNS jsonb LANGUAGE plpgsql STABLE
SET enable_nestloop = off  -- a hash join, whatever the target's statistics say (as the direct path's read)
AS $fn$
DECLARE
    v_table regclass := to_regclass({source});
    v_values text; v_changed text := 'NULL::timestamptz';
    v_rows bigint; v_unchanged bigint; v_matched bigint; v_active bigint; v_latest timestamptz;
BEGIN
{values_lookup}    IF NOT EXISTS ({column.format("'id'")}) THEN
        RAISE EXCEPTION 'source table % has no id column', {source} USING ERRCODE = '42703';
    END IF;
    IF p_updated_column IS NOT NULL THEN
        IF NOT EXISTS ({column.format("p_updated_column")}) THEN
            RAISE EXCEPTION 'source table % has no column %', {source}, p_updated_column USING ERRCODE = '42703';
        END IF;
        v_changed := format('%I', p_updated_column);
    END IF;
    EXECUTE {_literal(head)} || v_values || ', id::text AS _source_id, ' || v_changed
        || ' AS _source_updated_at FROM ' || v_table::text || {_literal(tail)}
        INTO v_rows, v_unchanged, v_matched, v_active, v_latest USING p_fingerprint;
    RETURN jsonb_build_object('rows', v_rows, 'unchanged', v_unchanged, 'matched', v_matched,
                              'active', v_active, 'latest', v_latest);
END
$fn$;"""


def render_unchanged_functions(specs) -> str:
    """Step 018: the whole read proved a no-op in the database, per table."""
    return "\n\n".join(render_unchanged_function(s) for s in specs)
