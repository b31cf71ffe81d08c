"""A source's probe (``engine.probe.SourceProbe``) as one statement both stores run: the direct
path on its connection (``stores/pg/source.py``), the REST store as ``traficov2_probe_<table>``
(schema step 016, ``schema/rest_probe.py``), rendered from this very statement, so no source
row crosses the API and both stores compute the same three values.

The digest is the sum of ``hashtextextended`` (64 bits) of every row's text record: order-free
(no sort), exact (a numeric sum never overflows), and any insert, update or delete changes it
but for a hash collision. The row's text is the whole source row's, every column of it: a
change in a column the registry does not read makes a run too (it then finds nothing to write)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from psycopg import sql

from ...tables import TableSpec
from .record import DUPLICATE_FIELD, REJECT_REPEAT_HOURS

if TYPE_CHECKING:
    from ...engine.probe import SourceProbe

NO_CHANGE_COLUMN = sql.SQL("NULL::timestamptz")


def source_probe(source: sql.Composable, changed: sql.Composable = NO_CHANGE_COLUMN) -> sql.Composed:
    """``rows``, ``changed_max`` (the newest ``changed``, as timestamptz) and ``digest`` (text)
    of the table ``source``; ``changed``: the change-time column (an identifier), else NULL."""
    return sql.SQL(
        "SELECT count(*)::bigint AS rows, max({changed})::timestamptz AS changed_max, "
        "coalesce(sum(hashtextextended(ROW(t.*)::text, 0)), 0)::text AS digest FROM {source} t").format(
        changed=changed, source=source)


# What a table's state keeps of the probe its last successful writing run took before reading
# (schema step 016): the probe, the run's context (``engine.fingerprint``: configuration, run
# date, exit records), whether the run was full (deactivations judged) and which run it was.
PROBE_COLUMNS = """ALTER TABLE traficov2_sync_state ADD COLUMN IF NOT EXISTS probe_rows bigint;
ALTER TABLE traficov2_sync_state ADD COLUMN IF NOT EXISTS probe_changed_max timestamptz;
ALTER TABLE traficov2_sync_state ADD COLUMN IF NOT EXISTS probe_digest text;
ALTER TABLE traficov2_sync_state ADD COLUMN IF NOT EXISTS probe_context text;
ALTER TABLE traficov2_sync_state ADD COLUMN IF NOT EXISTS probe_full boolean;
ALTER TABLE traficov2_sync_state ADD COLUMN IF NOT EXISTS probe_run_id text;"""

# The probe a successful writing run took before reading (NULLs: it had none, a CSV source:
# the next run cannot be skipped), in the run's transaction, after its state (RECORD_STATE made
# the row). The REST store runs it as traficov2_record_probe() (schema/rest_probe.py).
RECORD_PROBE = (
    "UPDATE traficov2_sync_state SET probe_rows = %(rows)s::bigint, "
    "probe_changed_max = %(changed_max)s::timestamptz, probe_digest = %(digest)s::text, "
    "probe_context = %(context)s::text, probe_full = %(was_full)s::boolean, probe_run_id = %(run_id)s::text "
    "WHERE table_name = %(table_name)s")

# What the skip rule (pipeline/probe.py) compares a new probe with: the stored one, and whether
# the table's newest run failed (its newest SYNC or ERROR log row is an ERROR). One row always.
# The REST store runs it as traficov2_read_probe() (schema/rest_probe.py).
# ``recheck_due``: a reject or duplicate that run recorded or saw is due to be recorded again (the
# same is recorded once a day, RECORD_REJECT): the source row is still there, and the health
# check's rejects of the last 24 h must still count it, so the table runs.
_DUE = f"created_at <= now() - make_interval(hours => {REJECT_REPEAT_HOURS})"
READ_PROBE = (
    "SELECT s.probe_rows, s.probe_changed_max, s.probe_digest, s.probe_context, s.probe_full, s.probe_run_id, "
    "coalesce((SELECT l.operation = 'ERROR' FROM traficov2_sync_log l WHERE l.table_name = %(table_name)s "
    "AND l.operation IN ('SYNC', 'ERROR') ORDER BY l.sync_timestamp DESC, l.id DESC LIMIT 1), false) AS last_failed, "
    "(EXISTS (SELECT 1 FROM traficov2_sync_rejects r WHERE r.table_name = %(table_name)s "
    f"AND r.last_run_id = s.probe_run_id AND r.{_DUE}) OR EXISTS (SELECT 1 FROM traficov2_sync_changes c "
    f"WHERE c.table_name = %(table_name)s AND c.field = '{DUPLICATE_FIELD}' AND c.last_run_id = s.probe_run_id "
    f"AND c.{_DUE})) AS recheck_due "
    "FROM (SELECT 1) one LEFT JOIN traficov2_sync_state s ON s.table_name = %(table_name)s")
STORED_PROBE = ("probe_rows", "probe_changed_max", "probe_digest", "probe_context", "probe_full", "probe_run_id",
                "last_failed", "recheck_due")


def probe_params(spec: TableSpec, run_id: str, probe: SourceProbe | None, context: str | None,
                 full: bool) -> dict[str, Any]:
    """RECORD_PROBE's parameters (all NULL but the run's when there is no probe: the next run runs)."""
    return {"table_name": spec.target, "run_id": run_id if probe is not None else None,
            "rows": probe.rows if probe is not None else None,
            "changed_max": probe.changed_max if probe is not None else None,
            "digest": probe.digest if probe is not None else None,
            "context": context if probe is not None else None, "was_full": full if probe is not None else None}
