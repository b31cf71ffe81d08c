-- 009: the source's row count at each table's last successful run, what a full run's source is
-- compared with before it deactivates anything (a source much smaller than then is refused as
-- empty or cut short; ordinary turnover is not). The rendered step 006 adds it as well (its
-- traficov2_record_state names it); this file makes a database without it ask for --init-db.
ALTER TABLE traficov2_sync_state ADD COLUMN IF NOT EXISTS source_rows bigint;
