"""The run's record in the system tables, as SQL both stores run: the direct path
(``stores/pg/record.py``) on its connection, the REST store as functions rendered from these
constants (``schema/functions.py``: named placeholders become the functions' parameters)."""
from __future__ import annotations

# A source row that stays broken is read again by every run that covers it: the same reject
# (or duplicate) is recorded again only once it is older than this.
REJECT_REPEAT_HOURS = 24


# When a run read a reject (or a duplicate) it had recorded: the first sighting is the row's
# ``run_id``/``created_at``, the latest its ``last_run_id``/``last_seen_at`` (the health check's
# current state counts a reject by them, see trafico_lib.health). ``read_whole_*``: the table's
# latest run that read the whole source (full mode, a hash delta, a CSV): a reject it did not see
# is gone from the source. Schema step 015; here too because the functions of step 006, which
# runs first, name them. Adopted old-tool tables are not touched: these are trafico's own.
SEEN_COLUMNS = """ALTER TABLE traficov2_sync_rejects ADD COLUMN IF NOT EXISTS last_seen_at timestamptz;
ALTER TABLE traficov2_sync_rejects ADD COLUMN IF NOT EXISTS last_run_id text;
ALTER TABLE traficov2_sync_changes ADD COLUMN IF NOT EXISTS last_seen_at timestamptz;
ALTER TABLE traficov2_sync_changes ADD COLUMN IF NOT EXISTS last_run_id text;
ALTER TABLE traficov2_sync_state ADD COLUMN IF NOT EXISTS read_whole_run_id text;
ALTER TABLE traficov2_sync_state ADD COLUMN IF NOT EXISTS read_whole_at timestamptz;"""

_SAME_REJECT = (
    "r.table_name = %(tbl)s AND r.sync_key IS NOT DISTINCT FROM %(key)s::text AND r.reasons = %(reasons)s::jsonb"
    " AND (r.raw_row - '_row') = (%(raw)s::jsonb - '_row') AND r.created_at > now() - make_interval(hours => %(hours)s)")

# One rejected row, unless recorded the same within the last %(hours)s: then that record is
# marked seen by this run (``last_run_id``, ``last_seen_at``), so the run's summary, which points
# at traficov2_sync_rejects, points at a row holding its run id. Answers how many rows it
# recorded now (``recorded``: 0 when it only marked one seen). The REST store runs it as
# traficov2_record_reject(), rendered from here by schema/functions.py.
RECORD_REJECT = (
    "WITH seen AS (UPDATE traficov2_sync_rejects s SET last_seen_at = now(), last_run_id = %(run)s"
    f" WHERE s.id = (SELECT r.id FROM traficov2_sync_rejects r WHERE {_SAME_REJECT}"
    " ORDER BY r.created_at DESC, r.id DESC LIMIT 1) RETURNING 1), "
    "ins AS (INSERT INTO traficov2_sync_rejects (run_id, table_name, sync_key, reasons, raw_row, last_seen_at,"
    " last_run_id) SELECT %(run)s, %(tbl)s, %(key)s::text, %(reasons)s::jsonb, %(raw)s::jsonb, now(), %(run)s"
    " WHERE NOT EXISTS (SELECT 1 FROM seen) RETURNING 1) "
    "SELECT count(*)::integer AS recorded FROM ins")


DUPLICATE_FIELD = "duplicate"  # a change row for a source row a later one of its key replaced

_SAME_DUPLICATE = (
    f"c.field = '{DUPLICATE_FIELD}' AND c.table_name = %(tbl)s AND c.sync_key = %(key)s::text"
    " AND c.old IS NOT DISTINCT FROM to_jsonb(%(sid)s::text) AND c.created_at > now() - make_interval(hours => %(hours)s)")

# One replaced source row as a change row (its source id as ``old``), unless recorded the same
# within the last %(hours)s: a duplicate that stays in the source is read by every run, and
# shown once a day, as a reject is; a repeat marks that row seen by this run, as a reject's
# does (the REST store runs it as traficov2_record_duplicate()). Answers ``recorded``.
RECORD_DUPLICATE = (
    "WITH seen AS (UPDATE traficov2_sync_changes s SET last_seen_at = now(), last_run_id = %(run)s"
    f" WHERE s.id = (SELECT c.id FROM traficov2_sync_changes c WHERE {_SAME_DUPLICATE}"
    " ORDER BY c.created_at DESC, c.id DESC LIMIT 1) RETURNING 1), "
    "ins AS (INSERT INTO traficov2_sync_changes (run_id, table_name, sync_key, field, old, new, last_seen_at,"
    f" last_run_id) SELECT %(run)s, %(tbl)s, %(key)s::text, '{DUPLICATE_FIELD}', to_jsonb(%(sid)s::text), NULL,"
    " now(), %(run)s WHERE NOT EXISTS (SELECT 1 FROM seen) RETURNING 1) "
    "SELECT count(*)::integer AS recorded FROM ins")


def _not_ahead(w: str) -> str:
    """The time ``w``, but never past the database's clock (NULL stays NULL)."""
    return f"CASE WHEN {w} IS NULL THEN NULL ELSE least({w}, clock_timestamp()) END"


# A run's success. The watermark never passes the database's clock: one source time in the
# future (2099) would otherwise hold it there, and every incremental read after it would read
# nothing. It only moves forward, except after a read of the whole source (``reset``: a full
# run), which sets it to what that read saw. ``source_rows`` is how many rows the source held,
# when the run read it whole (else the last count stays): what the next full run's source is
# compared with (engine/guard.py); such a run is also the table's latest whole read
# (``read_whole_run_id``, ``read_whole_at``: see SEEN_COLUMNS). Returns the watermark stored.
# The REST store runs the same
# statement inside the database as traficov2_record_state() (schema/functions.py).
RECORD_STATE = (
    "INSERT INTO traficov2_sync_state AS s (table_name, watermark, last_success_at, last_run_id, source_rows, "
    "read_whole_run_id, read_whole_at) "
    f"VALUES (%(table_name)s, {_not_ahead('%(watermark)s::timestamptz')}, now(), %(run_id)s, %(source_rows)s, "
    "CASE WHEN %(source_rows)s::bigint IS NOT NULL THEN %(run_id)s END, "
    "CASE WHEN %(source_rows)s::bigint IS NOT NULL THEN now() END) "
    "ON CONFLICT (table_name) DO UPDATE SET watermark = CASE WHEN %(reset)s THEN EXCLUDED.watermark "
    f"ELSE {_not_ahead('greatest(EXCLUDED.watermark, s.watermark)')} END, "
    "last_success_at = now(), last_run_id = EXCLUDED.last_run_id, "
    "source_rows = coalesce(EXCLUDED.source_rows, s.source_rows), "
    "read_whole_run_id = coalesce(EXCLUDED.read_whole_run_id, s.read_whole_run_id), "
    "read_whole_at = coalesce(EXCLUDED.read_whole_at, s.read_whole_at) RETURNING watermark")
