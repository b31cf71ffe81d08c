-- 010: the desk's edit time is kept per preserved field (issue 21).
-- manual_edits (jsonb, {field: time}, added to every target by step 002 and given to the rows
-- written before it by step 004) records when the desk last typed each preserved field; the
-- merge rule (stores/pg/sql.py) decides each field by its own time, so an edit of Chofer never
-- holds back the source's Estado. manual_updated_at stays: the latest of them, for the readers
-- that ask whether a row was ever edited (expo slots, the desk app, reports).
-- The time is the moment of the edit (clock_timestamp), not its transaction's start: a desk
-- transaction left open must not date its edit before a source change it never saw.

CREATE OR REPLACE FUNCTION traficov2_mark_manual() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    f text;
    old_doc jsonb := to_jsonb(OLD);
    new_doc jsonb := to_jsonb(NEW);
    edited jsonb := '{}'::jsonb;
    at timestamptz := clock_timestamp();
BEGIN
    IF coalesce(current_setting('trafico.sync', true), '') = 'on' THEN
        RETURN NEW;
    END IF;
    FOREACH f IN ARRAY TG_ARGV LOOP
        IF (old_doc -> f) IS DISTINCT FROM (new_doc -> f) THEN
            edited := edited || jsonb_build_object(f, at);
        END IF;
    END LOOP;
    IF edited <> '{}'::jsonb THEN
        NEW.manual_edits := coalesce(NEW.manual_edits, '{}'::jsonb) || edited;
        NEW.manual_updated_at := at;
        NEW.fecha_modificacion := at;
    END IF;
    RETURN NEW;
END
$$;
