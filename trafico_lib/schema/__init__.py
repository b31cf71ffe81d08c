"""Versioned SQL migrations (DESIGN §3), applied by ``--init-db``, printable for Supabase.

Each ``migrations/NNN_name.sql`` is applied once, in order, inside one transaction, and
recorded in ``traficov2_schema_migrations``; every statement is also written to be
idempotent so pasting the whole script into the Supabase SQL editor twice is harmless.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import psycopg
from psycopg import sql

from ..tables import TABLES

_TRACKING = """CREATE TABLE IF NOT EXISTS traficov2_schema_migrations (
    version text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);"""


@dataclass(frozen=True)
class Migration:
    version: str
    name: str
    sql: str


def migrations() -> list[Migration]:
    files = sorted(p for p in resources.files(__package__).joinpath("migrations").iterdir()
                   if p.name.endswith(".sql"))
    out = []
    for f in files:
        version, _, rest = f.name.partition("_")
        out.append(Migration(version, rest.removesuffix(".sql"), f.read_text(encoding="utf-8")))
    return out


def trigger_statements(preserve: dict[str, list[str]]) -> list[sql.Composed]:
    """CREATE OR REPLACE TRIGGER for each target with its preserved fields as arguments."""
    out = []
    for name, fields in preserve.items():
        target = TABLES[name].target
        out.append(sql.SQL(
            "CREATE OR REPLACE TRIGGER {trg} BEFORE UPDATE ON {tbl} "
            "FOR EACH ROW EXECUTE FUNCTION traficov2_mark_manual({args})").format(
            trg=sql.Identifier(f"{target}_manual"), tbl=sql.Identifier(target),
            args=sql.SQL(", ").join(sql.Literal(f) for f in fields)))
    return out


def render_sql() -> str:
    """The whole schema as one plain SQL script (for the Supabase SQL editor)."""
    parts = ["-- trafico schema: paste into the Supabase SQL editor; safe to run twice.", _TRACKING]
    for m in migrations():
        parts.append(f"-- migration {m.version}: {m.name}\n{m.sql.strip()}")
        parts.append(f"INSERT INTO traficov2_schema_migrations (version) VALUES ('{m.version}') "
                     "ON CONFLICT DO NOTHING;")
    return "\n\n".join(parts) + "\n"


def apply_migrations(conn: psycopg.Connection, preserve: dict[str, list[str]] | None = None) -> list[str]:
    """Apply pending migrations; returns the versions applied now. Idempotent."""
    applied_now = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('trafico:migrations'))")
        conn.execute(_TRACKING)
        done = {r[0] for r in conn.execute("SELECT version FROM traficov2_schema_migrations")}
        for m in migrations():
            if m.version in done:
                continue
            conn.execute(m.sql)
            conn.execute("INSERT INTO traficov2_schema_migrations (version) VALUES (%s)", (m.version,))
            applied_now.append(m.version)
        if preserve:
            for stmt in trigger_statements(preserve):
                conn.execute(stmt)
    return applied_now

