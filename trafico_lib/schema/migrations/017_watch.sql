-- 017: `trafico watch` (trafico_lib/watch/, README "Seconds behind the sources").
--
-- checked_at: when a running watch last found a table's source unchanged since the table's last
-- successful sync (written at most once a minute, never by an idle probe otherwise): the health
-- check's lag counts from the later of it and last_success_at, so a watched table whose source
-- simply did not change is not "behind".
ALTER TABLE traficov2_sync_state ADD COLUMN IF NOT EXISTS checked_at timestamptz;

-- What the watch calls, directly and over REST alike (one statement, two stores).
CREATE OR REPLACE FUNCTION traficov2_watch_checked(p_table_name text) RETURNS void LANGUAGE sql AS $fn$
UPDATE traficov2_sync_state SET checked_at = now() WHERE table_name = p_table_name;
$fn$;

-- The wake-up: a statement-level trigger calling this on a source table sends the table's name on
-- the channel trafico_watch when the writing transaction commits. The trigger ON a source table is
-- opt-in (watch.notify: the operational tables are not trafico's): the watch creates it at start.
CREATE OR REPLACE FUNCTION traficov2_watch_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    PERFORM pg_notify('trafico_watch', TG_TABLE_NAME);
    RETURN NULL;
END
$fn$;
