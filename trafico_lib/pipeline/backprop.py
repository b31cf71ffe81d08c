"""Back-propagation as the notebook and the command line call it: which tables and fields,
what it would change, and each table applied under its lock (``stores`` does the work)."""
from __future__ import annotations

import pandas as pd

from ..config import Config
from ..errors import TableLocked
from ..interactive import interactive_notebook
from ..stores import open_store
from ..tables import TABLES, get_table


def back_propagation_fields(cfg: Config, table: str | None = None) -> dict[str, list[str]]:
    """The tables to back-propagate (one, or every table) with their configured fields."""
    names = [get_table(table).name] if table else [n for n in TABLES]
    return {n: list(cfg.table(n).back_propagate) for n in names if cfg.table(n).back_propagate}


def plan_back_propagation(cfg: Config, todo: dict[str, list[str]], store=None) -> pd.DataFrame:
    """Every source edit back-propagation would make: table, source_key (the source row's key
    as the source holds it) and key_columns (their names), sync_key, field, old, new. The row's
    address in the store (``source_row``, a PostgreSQL ctid or an id) is the stores' business only."""
    store = store or open_store(cfg)
    parts = [store.back_propagate(get_table(n), fields, run_id="plan", key=cfg.table(n).key, dry_run=True,
                                  lock_timeout=cfg.database.lock_timeout_seconds,
                                  updated_column=cfg.table(n).updated_column).changes.assign(table=n)
             for n, fields in todo.items()]
    cols = ["table", "source_key", "key_columns", "sync_key", "field", "old", "new"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def back_propagate(cfg: Config, todo: dict[str, list[str]], *, run_id: str, dry_run: bool = False,
                   store=None, notebook: str | None = None) -> list[dict]:
    """Apply back-propagation table by table (each in its own transaction, under its lock).

    A table another run holds is reported ``locked`` and the others go on. One dict per table.
    ``notebook``: the archived copy the runner executes, kept in each table's log row (as a
    sync's is), so health and the Data Docs link it; in a notebook run by hand in JupyterLab
    the row says so instead (:mod:`trafico_lib.interactive`); None from ``--no-notebook``.
    """
    store = store or open_store(cfg)
    notebook = notebook or interactive_notebook()
    out = []
    for name, fields in todo.items():
        s = cfg.table(name)
        try:
            res = store.back_propagate(get_table(name), fields, run_id=run_id, key=s.key, dry_run=dry_run,
                                       lock_timeout=cfg.database.lock_timeout_seconds,
                                       updated_column=s.updated_column, notebook=notebook)
            out.append(res.to_dict())
        except TableLocked as exc:
            out.append({"table": name, "run_id": run_id, "dry_run": dry_run, "status": "locked",
                        "error": str(exc), "rows_updated": 0, "field_changes": 0})
    return out
