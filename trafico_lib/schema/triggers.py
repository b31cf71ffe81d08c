"""The manual-edit triggers of the targets, rendered from the registry (docs/architecture.md §3).

``traficov2_mark_manual`` (migration 003) sets ``manual_updated_at`` when a preserved field
changes outside the sync; each target gets one trigger whose arguments are its preserved
fields: the registry's ``preserve_fields``, or the configuration's when ``--init-db`` gives them.
``CREATE OR REPLACE TRIGGER`` makes every statement safe to run again.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from psycopg import sql

from ..tables import TableSpec, get_table
from .targets import name


def preserved_fields(specs: Iterable[TableSpec],
                     preserve: Mapping[str, Iterable[str]] | None = None) -> dict[str, list[str]]:
    """Each table's preserved fields: ``preserve[name]`` where given, else the registry's."""
    preserve = preserve or {}
    return {s.name: list(preserve.get(s.name, s.preserve_fields)) for s in specs}


def trigger_statements(preserve: Mapping[str, Iterable[str]]) -> list[sql.Composed]:
    """CREATE OR REPLACE TRIGGER for each target with its preserved fields as arguments."""
    out = []
    for table, fields in preserve.items():
        target = get_table(table).target
        out.append(sql.SQL(
            "CREATE OR REPLACE TRIGGER {trg} BEFORE UPDATE ON {tbl} "
            "FOR EACH ROW EXECUTE FUNCTION traficov2_mark_manual({args})").format(
            trg=name(f"{target}_manual"), tbl=name(target),
            args=sql.SQL(", ").join(sql.Literal(f) for f in fields)))
    return out


def render_triggers(preserve: Mapping[str, Iterable[str]]) -> str:
    """The triggers as plain SQL, one statement a line."""
    return "".join(f"{stmt.as_string()};\n" for stmt in trigger_statements(preserve))
