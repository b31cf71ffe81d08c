"""The manual-edit triggers of the targets, rendered from the registry (docs/architecture.md §3).

``traficov2_mark_manual`` (migrations 003, 010) records, in ``manual_edits``, when a preserved
field was changed outside the sync, per field (and the latest in ``manual_updated_at``); each
target gets one trigger whose arguments are its preserved fields: the registry's
``preserve_fields``, or the configuration's when ``--init-db`` gives them (as written, e.g. the
desk's ``chofer``, and as the registry spells them: a name the table lacks records nothing).
``CREATE OR REPLACE TRIGGER`` makes every statement safe to run again.

Rows written before the times were kept per field (``manual_edits`` NULL) get theirs from
:func:`edit_time_statements`: the row's ``manual_updated_at`` for each preserved field whose
value is not the one the source last gave (the desk's), none for the others (nothing of the
desk's there to keep). Later runs find no such row and change nothing.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from psycopg import sql

from ..tables import TableSpec, get_table
from .targets import name


def preserved_fields(specs: Iterable[TableSpec],
                     preserve: Mapping[str, Iterable[str]] | None = None) -> dict[str, list[str]]:
    """Each table's preserved fields: ``preserve[name]`` where given, else the registry's."""
    preserve = preserve or {}
    return {s.name: list(preserve.get(s.name, s.preserve_fields)) for s in specs}


def merged_fields(preserve: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """The preserved fields the merge decides: the watched ones that are synced columns (a
    desk-only column such as an adopted table's ``chofer`` is never written by the sync)."""
    return {t: [f for f in fields if f in get_table(t).target_column_names] for t, fields in preserve.items()}


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


def edit_time_statements(preserve: Mapping[str, Iterable[str]]) -> list[sql.Composed]:
    """Each target's ``manual_edits`` defaults to ``{}``; rows without it get it from their
    ``manual_updated_at`` (see the module docstring)."""
    out = []
    for table, fields in preserve.items():
        target = name(get_table(table).target)
        per_field = sql.SQL(", ").join(sql.SQL(
            "{lit}, CASE WHEN (to_jsonb({tbl}) ->> {lit}) IS DISTINCT FROM (source_preserved ->> {lit}) "
            "THEN manual_updated_at END").format(lit=sql.Literal(f), tbl=target) for f in fields)
        edits = (sql.SQL("jsonb_strip_nulls(jsonb_build_object({}))").format(per_field) if fields
                 else sql.SQL("'{}'::jsonb"))
        out.append(sql.SQL("ALTER TABLE {} ALTER COLUMN manual_edits SET DEFAULT '{{}}'::jsonb").format(target))
        out.append(sql.SQL(
            "UPDATE {tbl} SET manual_edits = CASE WHEN manual_updated_at IS NULL THEN '{{}}'::jsonb ELSE {edits} END "
            "WHERE manual_edits IS NULL").format(tbl=target, edits=edits))
    return out


def render_triggers(preserve: Mapping[str, Iterable[str]]) -> str:
    """The triggers, and the per-field edit times of older rows, as plain SQL, one statement a line."""
    return "".join(f"{stmt.as_string()};\n" for stmt in [*trigger_statements(preserve),
                                                          *edit_time_statements(preserve)])
