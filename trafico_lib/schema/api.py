"""Access through Supabase's REST API (docs/architecture.md §6), rendered from the registry.

Supabase serves every table of the ``public`` schema through PostgREST to three roles: ``anon``
(the public key), ``authenticated`` (a signed-in user) and ``service_role`` (the secret key,
which bypasses row-level security). As Supabase recommends, every trafico table gets
row-level security with no policy, so the public and user keys read and write nothing, and
``service_role`` gets what the sync needs. A table the old tool made (``schema/adopt.py``) is the
exception: the desk's app may read and write it with the public key, and migrating never
changes who can read or write a table that existed before, so its row-level security is left
as it was (off, as the old DDL left it). The source tables are not trafico's: they keep their
own security, and ``service_role`` is granted reading them and updating them (back-propagation).

On a PostgreSQL without Supabase's roles (the embedded server, a plain server) nothing changes:
no API serves its tables, and a role the direct path connects as with grants only (not the
tables' owner) must not be shut out by row-level security. Idempotent: it runs on every apply.
"""
from __future__ import annotations

from collections.abc import Iterable

from ..tables import TableSpec
from .adopt import ADOPTED
from .targets import text_array

SYSTEM_TABLES = ("traficov2_schema_migrations", "traficov2_sync_log", "traficov2_sync_state",
                 "traficov2_sync_rejects", "traficov2_sync_changes", "traficov2_sync_calls", ADOPTED)

# The REST merge calls' receipts (schema/rest_merge.py): what a call committed, under the id the
# caller gave it, so a call the gateway failed after PostgREST committed it is answered from here
# when asked again, and the run counts what it wrote. Made here, before the grants below need it.
CALLS = """CREATE TABLE IF NOT EXISTS traficov2_sync_calls (
    run_id text NOT NULL,
    call_id text NOT NULL,
    result jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, call_id)
);"""

API_ROLE = "service_role"


def render_api_access(specs: Iterable[TableSpec]) -> str:
    specs = list(specs)
    own = [*SYSTEM_TABLES, *(s.target for s in specs)]
    sources = sorted({s.source for s in specs})
    return f"""{CALLS}

DO $api$
DECLARE
    t text;
BEGIN
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN  -- tables served to the public key
        FOREACH t IN ARRAY {text_array(own)} LOOP  -- a table the old tool made keeps its access as it was
            IF NOT EXISTS (SELECT 1 FROM {ADOPTED} a WHERE a.table_name = t) THEN
                EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
            END IF;
        END LOOP;
    END IF;
    IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{API_ROLE}') THEN
        GRANT USAGE ON SCHEMA public TO {API_ROLE};
        FOREACH t IN ARRAY {text_array(own)} LOOP
            EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO {API_ROLE}', t);
        END LOOP;
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {API_ROLE};
        FOREACH t IN ARRAY {text_array(sources)} LOOP
            IF to_regclass(format('public.%I', t)) IS NOT NULL THEN
                EXECUTE format('GRANT SELECT, UPDATE ON %I TO {API_ROLE}', t);
            END IF;
        END LOOP;
    END IF;
END
$api$;"""
