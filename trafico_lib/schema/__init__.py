"""Versioned schema migrations (docs/architecture.md §3), applied by ``--init-db``, printable for Supabase.

Two kinds of step, in version order, recorded in ``traficov2_schema_migrations``:

* ``migrations/NNN_name.sql`` files: applied once.
* steps rendered from the registry (:data:`RENDERED`): ``002`` the target tables
  (:mod:`.targets`), ``004`` their manual-edit triggers (:mod:`.triggers`), ``005`` access
  through Supabase's REST API (:mod:`.api`), ``006``, ``007``, ``008``, ``011``, ``012`` (the adoption of the old
  tool's rows) and ``013`` (latest wins, the source read with its hashes) the functions the REST store calls
  (:mod:`.functions`, :mod:`.rest_merge`), ``014`` those its health reader calls (:mod:`.rest_health`), ``015`` when a reject was last seen
  and a table's current validation state (:mod:`.rest_health`), ``016`` a source's probe and the
  probe a table's state keeps (:mod:`.rest_probe`), ``017`` the watch's checked mark and NOTIFY trigger
  function, ``018`` the whole read a REST run proves a no-op inside the database (:mod:`.rest_merge`).
  Idempotent, they
  run on every apply, so a table or column new in the registry reaches an existing database
  with no new SQL file; they are reported as applied only the first time.

Before any step, the tables the old tool made are recorded as adopted (:mod:`.adopt`): the
steps add their columns and leave their access as it was. Everything runs inside one transaction. Every statement is idempotent, so pasting
:func:`render_sql` into the Supabase SQL editor twice is harmless.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import resources

import psycopg

from ..tables import TABLES
from .adopt import ADOPTED, render_adoption
from .api import render_api_access
from .functions import render_batch_functions, render_functions, render_log_function
from .rest_health import render_health_functions, render_state_step
from .rest_merge import (render_adopt_functions, render_rest_functions, render_shared_rule_functions,
                         render_unchanged_functions)
from .rest_probe import render_probe_step
from .targets import render_targets
from .triggers import merged_fields, preserved_fields, render_triggers, trigger_statements

__all__ = ["Migration", "RENDERED", "adopted_tables", "apply_migrations", "latest_version", "migrations", "render_sql",
           "trigger_statements"]

_TRACKING = """CREATE TABLE IF NOT EXISTS traficov2_schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);"""

Preserve = Mapping[str, Iterable[str]]

# version -> (name, its SQL from the registry and the preserved fields in force)
RENDERED: dict[str, tuple[str, Callable[[Preserve | None], str]]] = {
    "002": ("target_tables", lambda preserve: render_targets(TABLES.values())),
    "004": ("manual_edit_triggers",
            lambda preserve: render_triggers(preserved_fields(TABLES.values(), preserve))),
    "005": ("api_access", lambda preserve: render_api_access(TABLES.values())),
    "006": ("sync_functions", lambda preserve: render_functions()),
    "007": ("rest_merge_functions",
            lambda preserve: render_rest_functions(TABLES.values(),
                                                   merged_fields(preserved_fields(TABLES.values(), preserve)))),
    "008": ("rest_batch_writes", lambda preserve: render_batch_functions()),
    "011": ("rest_log_once", lambda preserve: render_log_function()),  # also the step of 006's lease times
    "012": ("rest_adopt_functions",
            lambda preserve: render_adopt_functions(TABLES.values(), preserved_fields(TABLES.values(), preserve))),
    "013": ("rest_latest_wins_and_source_hash", lambda preserve: render_shared_rule_functions(TABLES.values())),
    "014": ("rest_health_functions", lambda preserve: render_health_functions()),
    "015": ("table_state", lambda preserve: render_state_step()),
    "016": ("source_probe", lambda preserve: render_probe_step(TABLES.values())),
    "018": ("rest_unchanged_read", lambda preserve: render_unchanged_functions(TABLES.values())),
}


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str
    every_time: bool = False  # rendered from the registry: runs on every apply


def migrations(preserve: Preserve | None = None) -> list[Migration]:
    """Every step in version order; rendered steps use ``preserve`` over the registry's fields."""
    out = [Migration(v, n, render(preserve), every_time=True) for v, (n, render) in RENDERED.items()]
    for f in resources.files(__package__).joinpath("migrations").iterdir():
        if f.name.endswith(".sql"):
            version, _, rest = f.name.partition("_")
            if version in RENDERED:
                raise RuntimeError(f"migration {f.name}: version {version} is a rendered step")
            out.append(Migration(version, rest.removesuffix(".sql"), f.read_text(encoding="utf-8")))
    return sorted(out, key=lambda m: m.version)


def latest_version() -> str:
    """The newest step of the schema: what a database must have applied to run this version
    (read from the registry and the migration files' names; nothing is rendered)."""
    files = [f.name.partition("_")[0] for f in resources.files(__package__).joinpath("migrations").iterdir()
             if f.name.endswith(".sql")]
    return max([*RENDERED, *files])


def render_sql(preserve: Preserve | None = None) -> str:
    """The whole schema as one plain SQL script (for the Supabase SQL editor); ``preserve``:
    each table's preserved fields (the configuration's), else the registry's."""
    parts = ["-- trafico schema: paste into the Supabase SQL editor; safe to run twice.",
             "-- tables the old tool made are adopted in place: columns added, none dropped or retyped, access unchanged",
             render_adoption(TABLES.values()), _TRACKING]
    for m in migrations(preserve):
        parts.append(f"-- migration {m.version}: {m.name}\n{m.sql.strip()}")
        parts.append(f"INSERT INTO traficov2_schema_migrations (version) VALUES ('{m.version}') "
                     "ON CONFLICT DO NOTHING;")
    return "\n\n".join(parts) + "\n"


def apply_migrations(conn: psycopg.Connection, preserve: Preserve | None = None) -> list[str]:
    """Apply pending migrations and the rendered steps; returns the versions applied for the
    first time now. ``preserve``: preserved fields per table for the triggers (default: the
    registry's). Idempotent."""
    applied_now = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('trafico:migrations'))")
        conn.execute(render_adoption(TABLES.values()))  # before anything of trafico's exists
        conn.execute(_TRACKING)
        done = {r[0] for r in conn.execute("SELECT version FROM traficov2_schema_migrations")}
        for m in migrations(preserve):
            if m.version in done and not m.every_time:
                continue
            conn.execute(m.sql)
            if m.version not in done:
                conn.execute("INSERT INTO traficov2_schema_migrations (version) VALUES (%s)", (m.version,))
                applied_now.append(m.version)
    return applied_now


def adopted_tables(conn: psycopg.Connection) -> list[str]:
    """The tables the old tool made that this database's schema adopted (:mod:`.adopt`), by name."""
    return [r[0] for r in conn.execute(f"SELECT table_name FROM {ADOPTED} ORDER BY table_name")]
