"""The run's record in the system tables, as SQL both stores run: the direct path
(``stores/pg/record.py``) on its connection, the REST store as functions rendered from these
constants (``schema/functions.py``: named placeholders become the functions' parameters)."""
from __future__ import annotations

# A source row that stays broken is read again by every run that covers it: the same reject
# (or duplicate) is recorded again only once it is older than this.
REJECT_REPEAT_HOURS = 24


# One rejected row, unless recorded the same within the last %(hours)s (the REST store runs it
# as traficov2_record_reject(), rendered from here by schema/functions.py).
RECORD_REJECT = (
    "INSERT INTO traficov2_sync_rejects (run_id, table_name, sync_key, reasons, raw_row) "
    "SELECT %(run)s, %(tbl)s, %(key)s::text, %(reasons)s::jsonb, %(raw)s::jsonb WHERE NOT EXISTS ("
    " SELECT 1 FROM traficov2_sync_rejects r WHERE r.table_name = %(tbl)s"
    " AND r.sync_key IS NOT DISTINCT FROM %(key)s::text AND r.reasons = %(reasons)s::jsonb"
    " AND (r.raw_row - '_row') = (%(raw)s::jsonb - '_row') AND r.created_at > now() - make_interval(hours => %(hours)s))")


DUPLICATE_FIELD = "duplicate"  # a change row for a source row a later one of its key replaced

# One replaced source row as a change row (its source id as ``old``), unless recorded the same
# within the last %(hours)s: a duplicate that stays in the source is read by every run, and
# shown once a day, as a reject is (the REST store runs it as traficov2_record_duplicate()).
RECORD_DUPLICATE = (
    "INSERT INTO traficov2_sync_changes (run_id, table_name, sync_key, field, old, new) "
    f"SELECT %(run)s, %(tbl)s, %(key)s::text, '{DUPLICATE_FIELD}', to_jsonb(%(sid)s::text), NULL WHERE NOT EXISTS ("
    f" SELECT 1 FROM traficov2_sync_changes c WHERE c.field = '{DUPLICATE_FIELD}' AND c.table_name = %(tbl)s"
    " AND c.sync_key = %(key)s::text AND c.old IS NOT DISTINCT FROM to_jsonb(%(sid)s::text)"
    " AND c.created_at > now() - make_interval(hours => %(hours)s))")


def _not_ahead(w: str) -> str:
    """The time ``w``, but never past the database's clock (NULL stays NULL)."""
    return f"CASE WHEN {w} IS NULL THEN NULL ELSE least({w}, clock_timestamp()) END"


# A run's success. The watermark never passes the database's clock: one source time in the
# future (2099) would otherwise hold it there, and every incremental read after it would read
# nothing. It only moves forward, except after a read of the whole source (``reset``: a full
# run), which sets it to what that read saw. ``source_rows`` is how many rows the source held,
# when the run read it whole (else the last count stays): what the next full run's source is
# compared with (engine/guard.py). Returns the watermark stored. The REST store runs the same
# statement inside the database as traficov2_record_state() (schema/functions.py).
RECORD_STATE = (
    "INSERT INTO traficov2_sync_state AS s (table_name, watermark, last_success_at, last_run_id, source_rows) "
    f"VALUES (%(table_name)s, {_not_ahead('%(watermark)s::timestamptz')}, now(), %(run_id)s, %(source_rows)s) "
    "ON CONFLICT (table_name) DO UPDATE SET watermark = CASE WHEN %(reset)s THEN EXCLUDED.watermark "
    f"ELSE {_not_ahead('greatest(EXCLUDED.watermark, s.watermark)')} END, "
    "last_success_at = now(), last_run_id = EXCLUDED.last_run_id, "
    "source_rows = coalesce(EXCLUDED.source_rows, s.source_rows) RETURNING watermark")
