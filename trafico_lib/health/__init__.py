"""The health check (docs/architecture.md §8): facts about the sync, the old block, JSON, an exit code.

    facts = gather_facts(cfg)          # one dict, JSON-able: everything the check knows
    print(render_block(facts))         # the old block (=== System Health Check === ...)
    card_html(facts, links_from=folder, base=cfg.base_dir)   # the same facts as an HTML card
    code = facts["exit_code"]          # 0 healthy, 1 unhealthy, 2 bad configuration

``run_health_check(cfg, as_json=...)`` does the three for ``--health-check``. One table's current
state alone: ``with store.health_reader() as r: print(state_line(table_state(r, spec, cfg)))``. The notebook
calls the same functions, plus :func:`lag_history` and :func:`rejects_by_rule` (given the
store's ``health_reader()``) and the tables and plots of :mod:`.render`.

Rooms: :mod:`.facts` gathers (the store through its health reader, the SQL Server probe,
the disk), :mod:`.assess` judges (pure), :mod:`.render` shows, :mod:`.check` runs the whole.
No SQL here: the queries live with the stores (``stores/sql/health.py``, run by both health readers).

What each fact means
--------------------
* **Database Connection**: a connection (``database.connect_timeout_seconds``) and the
  database clock. A database that cannot be reached is ``✗`` with one line of reason and
  exit 1, quickly; the other facts that need it are then absent. Every later query runs in
  a read-only transaction under a statement timeout, so the check never hangs and never writes.
* **Failed Syncs (24h)**: ``ERROR`` rows of ``traficov2_sync_log`` in the last 24 hours of the
  database clock; unhealthy above ``health.max_failed_syncs_24h``.
* **Table Row Counts**: each source table's row count (``missing ✗`` when it does not exist),
  with what those rows are, adding up to it: ``arribos: 159 ✓ (156 distinct Contenedor, 2
  duplicate rows merged, 1 row without key)`` (a duplicate row is a keyed row beyond the first
  of its key, merged into that key's one target row; a slot table says how many rows share a
  booking); then each target's active row count with its own facts, from the table's current
  state (below): ``traficov2_arribos: 156 ✓ (114 with warnings, 1 source row rejected)``, plus
  source keys pending or no longer in the source; ``✓`` when the target *accounts for every
  source row*. That comparison is on **distinct normalized business keys** (the table's
  ``account_key``), not raw counts, because duplicate source rows (the same container twice)
  collapse to one target row: the source's key columns are normalized with the pipeline's
  own rules (:mod:`trafico_lib.normalize`, :func:`trafico_lib.engine.stage.build_sync_key`,
  the config's ``key`` override), and each source key must be an active target key, or a
  rejected key (any reject row still retained for the table: an incremental run by change
  timestamp does not re-read, so does not re-reject, a row that stayed broken), or
  legitimately pending (its source row changed after the stored watermark, so the next
  incremental run will read it). Source rows whose key is empty map to no target key:
  counted as ``unkeyed`` (they are in the rejects) and left out. The difference shown with
  ``✗`` is the number of source keys in none of the three.
  **Slot tables** (``TableSpec.slots``: the expo bookings) compare **distinct groups**
  (``slots.group``, the booking): a source row with a quantity N stands for N slots and the
  target holds one row per slot, but the slot count of a group may legitimately exceed the
  source demand (slots holding an item or manual data are never removed) and a group's rows
  merge into one set of slots, so a demand sum would raise false alarms; "every source group
  has active slots or was rejected" is exact (a slot's reject key ``group|sequence`` counts
  for its group). Active target keys absent from the source (deactivated by the next full
  run) are reported as ``extra``, a warning, not a failure.
* **Current state** (``facts["tables"][i]["state"]``, :func:`table_state`; not a line of the old
  block but its target line's warnings and rejects, the JSON, the Data Docs and the sync
  notebook's last cell): the table *now*, whatever the last run re-read, counted in the database
  in one statement (``stores/sql/health.table_state``; over REST the function of step 015):
  ``rows`` its active target rows; ``warned_rows`` those carrying a warning rule
  (``validation_warnings``, kept per row, so a row a run set aside as unchanged keeps its last
  outcome); ``rejected_rows`` the source rows rejected *now*; per rule of the suite (every rule,
  0 for the clean ones), the active rows carrying it plus the current rejects that broke it, and
  the first 20 of them (key columns, the value in the rule's column). A reject is **current**
  when (1) it is the newest record of its source row (same source id, else key, else raw row);
  (2) it was seen (``last_run_id``/``last_seen_at``: a run that reads a recorded reject again
  marks it seen) by the table's latest run that read the whole source (``read_whole_run_id``:
  full mode, a hash delta, a table always read whole) or by a later run: a whole read that did
  not meet it means the source row is gone or fixed, while an incremental run by change time
  that did not re-read it leaves it current, since an unchanged source row is still broken; and
  (3) its source row has not become an active target row since: no active row of its key or
  source id written (``synced_at``) after the reject was last seen. Before the table's first
  whole read under this rule every retained reject passes (2).
* **Sync Lag (hours)**: hours since each target's last successful sync
  (``traficov2_sync_state.last_success_at``, database clock); ``Never synced`` when none.
  Unhealthy above ``health.max_lag_hours``, or never synced, or when the watermark is ahead of
  the database clock (past ``FUTURE_SKEW``): incremental reads then read nothing, so the lag
  is unknown (``unknown ✗``), not the hours since a run that read nothing.
* **Lease** (a line per table a Supabase REST run holds, ``traficov2_sync_state``): the run,
  its host and process, since when, how long ago it was renewed; ``stale`` (a warning) once
  past its expiry: the run renews its lease while it works, so a stale lease is a dead run's,
  and the next run takes the table over.
* Added: rejects in the last 24 h; the last run (its id, tables and archived notebooks);
  SQL Server reachability when ``sql_server.enabled`` (a warning when unreachable, a
  configuration error when no server is configured); free disk where the archive and the
  embedded database live (with psutil; a warning under ``health.min_free_disk_mb``).

Exit codes: 0 healthy; 1 unhealthy (database down, schema missing, failed syncs over the
threshold, a count mismatch or missing table, lag over the threshold or never synced);
2 bad configuration. Disabled tables (``sync_settings.<t>.enabled = false``) are listed
but never make the check unhealthy. Warnings (disk, SQL Server, extra keys) never change
the exit code.
"""
from .assess import EXIT_CONFIG, EXIT_HEALTHY, EXIT_UNHEALTHY, assess
from .card import card_html, notebook_page_folder
from .check import gather_facts, run_health_check
from .facts import (
    account, disk_facts, key_parts, lag_facts, normalized_keys, sqlserver_facts, table_facts, table_state,
)
from .render import (
    COUNT_LABELS, counts_legend, counts_table, failures_table, history_frame, history_table, lag_history,
    last_run_table, notebook_result, plot_lag, plot_rejects, plot_rows_changed, rejects_by_rule, rejects_frame,
    rejects_table, render_block, short_name, state_line, state_table, to_json, verdict_line, when_text,
    with_short_names,
)

__all__ = [
    "COUNT_LABELS", "EXIT_CONFIG", "EXIT_HEALTHY", "EXIT_UNHEALTHY", "account", "assess", "card_html", "counts_legend",
    "counts_table", "disk_facts", "failures_table", "gather_facts", "history_frame", "history_table", "key_parts",
    "lag_facts", "lag_history", "last_run_table", "normalized_keys", "notebook_page_folder", "notebook_result", "plot_lag", "plot_rejects",
    "plot_rows_changed", "rejects_by_rule", "rejects_frame", "rejects_table", "render_block", "run_health_check",
    "short_name", "sqlserver_facts", "state_line", "state_table", "table_facts", "table_state", "to_json",
    "verdict_line", "when_text", "with_short_names",
]
