"""What the index shows of each table (pure): the table as it is NOW, and, apart, what its last
run did.

    table_now(facts, "arribos")            # rows now, with warnings, rejected, failing rules
    last_run(rec, logged, page)            # "Last run <id> (<when>): read N, inserted …"
    nothing_checked(summary)               # a run that validated no row

The current state is the health facts' ``tables[i]["state"]`` (gathered from the store)::

    {"rows": 156, "warned_rows": 115, "rejected_rows": 1, "as_of": datetime,
     "rules": [{"rule", "severity", "column", "failed", "failing_rows": [{"row", "key", "value"}]}]}

Without it (no facts, the database unreachable, the table's query failed) the index says the
current state is unknown and why; it never shows the last run's rows in its place (an
incremental run re-reads only what changed: its counts are a delta, not the table).
"""
from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from ..health.card import count_text, plural
from ..tables import INTEGER, NUMERIC, TableSpec
from .results import failing_rules

COUNT_WORDS = (("inserted", "inserted"), ("updated", "updated"), ("unchanged", "unchanged"),
               ("rejected", "rejected"), ("deactivated", "deactivated"))


# ---- numbers and values: one format per column ------------------------------------------------------

def number_text(value: Any) -> str:
    """A number in a data cell, one way whatever its stored form: ``4916`` for 4916, 4916.0 and
    ``"4916.000"``; ``12.5`` for 12.500 (no trailing zeros, no thousands separator: a value,
    not a count)."""
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not d.is_finite():
        return str(value)
    text = format(d.normalize(), "f")
    return "0" if text in ("-0", "") else text


def value_text(value: Any, kind: str | None) -> Any:
    """A failing row's value as the page shows it: numbers of a numeric column one way, None
    and empty text kept (the template shows them as ``(empty)``)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return number_text(value)
    if kind in (NUMERIC, INTEGER) and isinstance(value, str):
        try:  # a numeric column's value stored as text (a Decimal through JSON)
            if Decimal(value.strip()).is_finite():
                return number_text(value.strip())
        except (InvalidOperation, ValueError):
            pass  # text that is not a number (what normalization could not read): as it is
    return value


def shown_rows(rows: list[dict], column: str | None, spec: TableSpec | None) -> list[dict]:
    """Failing rows with their key values and value in one format per column."""
    def kind(c):
        try:
            return spec.type_of(c) if spec is not None and c else None
        except (KeyError, ValueError):
            return None
    out = []
    for r in rows:
        shown = {**r, "key": {k: value_text(v, kind(k)) for k, v in (r.get("key") or {}).items()}}
        if "value" in r:
            shown["value"] = value_text(r["value"], kind(column))
        out.append(shown)
    return out


# ---- the table now ------------------------------------------------------------------------------------

def _table_facts(facts: dict | None, name: str) -> dict | None:
    for t in (facts or {}).get("tables") or []:
        if t.get("table") == name:
            return t
    return None


def state_unknown(facts: dict | None, name: str) -> str | None:
    """Why the current state of table ``name`` is not known; None when it is."""
    if facts is None:
        return "the health facts were not gathered for this build"
    db = facts.get("database") or {}
    if not db.get("ok"):
        return f"database unreachable: {db.get('error') or 'no connection'}"
    if facts.get("schema_error") or facts.get("schema_ok") is False:
        return facts.get("schema_error") or "schema missing (run --init-db)"
    t = _table_facts(facts, name)
    if t is None:
        return facts.get("query_error") or "the table was not read"
    if t.get("state_error"):
        return str(t["state_error"])
    if not isinstance(t.get("state"), dict):
        return t.get("error") or "the table's validation state was not gathered"
    return None


def state_status(state: dict) -> bool | str:
    """True: every rule holds for every row; "warnings": rows kept with warnings; False: rows rejected."""
    failing = failing_rules(state)
    if (state.get("rejected_rows") or 0) > 0 or any(r.get("severity") == "blocking" for r in failing):
        return False
    if (state.get("warned_rows") or 0) > 0 or failing:
        return "warnings"
    return True


def table_now(facts: dict | None, name: str, spec: TableSpec | None = None) -> dict:
    """The index's "now" of one table: known (bool), why (when not), rows, warned_rows,
    rejected_rows, as_of, status, failing (rules some row breaks now, blocking first, each with
    its failing rows), rules (how many the suite has)."""
    why = state_unknown(facts, name)
    if why is not None:
        return {"known": False, "why": why}
    state = _table_facts(facts, name)["state"]  # type: ignore[index]
    failing = [{**r, "rows": shown_rows(r.get("failing_rows") or [], r.get("column"), spec)}
               for r in failing_rules(state)]
    return {"known": True, "why": None, "rows": state.get("rows"), "warned_rows": state.get("warned_rows"),
            "rejected_rows": state.get("rejected_rows"), "as_of": state.get("as_of"),
            "status": state_status(state), "failing": failing, "rules": len(state.get("rules") or [])}


# ---- the last run ------------------------------------------------------------------------------------

def nothing_checked(summary: dict) -> bool:
    """A run that validated no row (an incremental run that found nothing new): its rules were
    not evaluated, so it neither passed nor failed."""
    return summary.get("rows") == 0


def run_status(summary: dict, passed: bool | str | None) -> bool | str | None:
    """The badge of a run: ``"unchecked"`` when it checked no row, else ``passed``."""
    return "unchecked" if nothing_checked(summary) else passed


def did_text(logged: dict | None, summary: dict) -> str:
    """``read 3 source rows: 0 inserted, 2 updated, 0 unchanged, 1 rejected, 0 deactivated``,
    from the run's log row (``logged``); without one, what the validation saw."""
    if logged:
        read = logged.get("read")
        parts = [f"{count_text(logged.get(k))} {word}" for k, word in COUNT_WORDS if k in logged]
        text = f"read {plural(read, 'source row')}" + (f": {', '.join(parts)}" if parts else "")
        if logged.get("operation") == "ERROR":
            text = "failed" + (f": {logged['error']}" if logged.get("error") else "")
        return text
    rows = summary.get("rows")
    return f"checked {plural(rows, 'row')} (its log row was not read)"


def last_run(rec: dict, logged: dict | None, page: str, passed: bool | str | None, failing: list[dict]) -> dict:
    """The index's "Last run" line of a table: run_id, saved_at, mode, did (text), page,
    status (badge value), checked (rows validated), failing (the run's failing rules)."""
    summary = rec.get("summary") or {}
    return {"run_id": rec["run_id"], "saved_at": rec.get("saved_at"), "mode": (logged or {}).get("mode"),
            "did": did_text(logged, summary), "page": page, "status": run_status(summary, passed),
            "checked": summary.get("rows"), "failing": failing}
