-- 003: manual_updated_at is set whenever a preserved field is changed by anyone but the sync.
-- The sync marks its own transactions with SET LOCAL trafico.sync = 'on'.
-- The preserved fields are the trigger's arguments; the triggers themselves are rendered from
-- the registry (step 004, schema/triggers.py) and --init-db re-creates them from the
-- configuration's preserve_fields.

CREATE OR REPLACE FUNCTION traficov2_mark_manual() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    f text;
    old_doc jsonb := to_jsonb(OLD);
    new_doc jsonb := to_jsonb(NEW);
BEGIN
    IF coalesce(current_setting('trafico.sync', true), '') = 'on' THEN
        RETURN NEW;
    END IF;
    FOREACH f IN ARRAY TG_ARGV LOOP
        IF (old_doc -> f) IS DISTINCT FROM (new_doc -> f) THEN
            NEW.manual_updated_at := now();
            NEW.fecha_modificacion := now();
            RETURN NEW;
        END IF;
    END LOOP;
    RETURN NEW;
END
$$;
