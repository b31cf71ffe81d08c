-- 003: manual_updated_at is set whenever a preserved field is changed by anyone but the sync.
-- The sync marks its own transactions with SET LOCAL trafico.sync = 'on'.
-- The preserved fields are the trigger's arguments; --init-db re-creates the triggers
-- from the configuration's preserve_fields (defaults below).

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

CREATE OR REPLACE TRIGGER traficov2_arribos_manual BEFORE UPDATE ON traficov2_arribos
    FOR EACH ROW EXECUTE FUNCTION traficov2_mark_manual('Chofer', 'Estado');
CREATE OR REPLACE TRIGGER traficov2_pendiente_desconsolidar_manual BEFORE UPDATE ON traficov2_pendiente_desconsolidar
    FOR EACH ROW EXECUTE FUNCTION traficov2_mark_manual('Chofer', 'Estado');
CREATE OR REPLACE TRIGGER traficov2_remisiones_manual BEFORE UPDATE ON traficov2_remisiones
    FOR EACH ROW EXECUTE FUNCTION traficov2_mark_manual('Chofer', 'Estado');
CREATE OR REPLACE TRIGGER traficov2_arribos_ctns_expo_manual BEFORE UPDATE ON traficov2_arribos_ctns_expo
    FOR EACH ROW EXECUTE FUNCTION traficov2_mark_manual('Chofer', 'Obs.', 'Estado');
