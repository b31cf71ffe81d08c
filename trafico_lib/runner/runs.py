"""The runs people schedule: the sync notebook for every table, back-propagation, the health check."""
from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..counts import counts_sum, status_timing, unchanged_text
from ..errors import UsageError, one_line
from ..paths import shown_path
from .execute import ArchiveFull, NotebookRun, execute
from .params import table_params
from .session import KernelSession, kernel_session

log = logging.getLogger("trafico")
#: Each table's start and finish, one line each, the message starting with the run id; the
#: command lines show them, stamped with the time, when their output is not a terminal (a log file).
PROGRESS_LOGGER = "trafico.progress"  # = pipeline.PROGRESS_LOGGER (not imported: the command line starts light)
progress_log = logging.getLogger(PROGRESS_LOGGER)


SYNC_NOTEBOOK = "sync"
HEALTH_NOTEBOOK = "health_check"
BACKPROP_NOTEBOOK = "back_propagate"


def _progress(enabled: bool, text: str, *, run_id: str, line: str) -> None:
    """On a terminal (``enabled``) the short ``text`` on stderr; and ``line``, after the run id,
    to :data:`PROGRESS_LOGGER` (a log file's line: the command line shows it, stamped, when
    its output is not a terminal)."""
    if enabled:
        print(text, file=sys.stderr, flush=True)
    progress_log.info("%s %s", run_id, line)


def rendering(run: NotebookRun) -> str | None:
    """The executed notebook to point people at: its HTML rendering, else the .ipynb (shown)."""
    return shown_path(run.html or run.output)


def took(res: dict[str, Any]) -> str:
    """The table's status and durations (``trafico_lib.counts``): ``ok in 9.4 s: run 6.1 s
    (write 0.027 s) + kernel start and archive 3.3 s`` (the runner's wall time of the notebook
    split into the run its log row records and the rest), ``ok, run 6.1 s (write 0.027 s)``
    (--no-notebook)."""
    return status_timing(str(res.get("status")), res.get("run_seconds"), res.get("write_seconds"),
                         wall_seconds=res.get("notebook_seconds"))


def finish_line(res: dict[str, Any], where: str | None = None) -> str:
    """``arribos: ok in 9.4 s: run 6.1 s (write 0.027 s) + kernel start and archive 3.3 s;
    159 rows read = 156 kept + 2 duplicate rows replaced + 1 rejected; 156 keys = 0 inserted +
    1 updated + 155 unchanged; 0 deactivated; runs/.../..._sync_arribos.html``."""
    c = res.get("counts") or {}
    if res.get("unchanged_since") and res.get("status") == "ok":  # skipped: its log row only
        return f"{res['table']}: {unchanged_text(res['unchanged_since'], res.get('source_rows'))}"
    if res.get("status") in ("ok", "dry-run"):
        what = counts_sum(c, dry_run=res.get("status") == "dry-run")
    else:
        what = str(res.get("error") or res.get("status"))
    return f"{res['table']}: {took(res)}; {what}" + (f"; {where}" if where else "")


def _config_param(cfg, config_path: str | None) -> str | None:
    """The config file the kernel should read, relative to the kernel's folder (the config's
    folder, :meth:`Config.relative`): the parameters cell names no machine's folders."""
    if cfg.source_path:
        return cfg.relative(cfg.source_path)
    return cfg.relative(Path(config_path).resolve()) if config_path else None


def _hold_store(cfg, *, required: bool = False, tables: Sequence[str] = ()) -> Any:
    """Check the database once before starting kernels.

    With no database configured, start (or attach to) the embedded server for the whole
    invocation, so the kernels attach to a running server instead of each starting its own.
    ``required``: a database that cannot be reached stops the command here, with one line
    (a StoreError), instead of failing every notebook the same way; so does a schema that is
    missing or old, and a setting of ``tables`` that names what the database lacks.
    Returns the store opened (None: it could not be, and was not ``required``).
    """
    from ..errors import SchemaMissing
    from ..stores import StoreError, open_store
    try:
        store = open_store(cfg)
        if required:
            store.check()
            store.require_schema()
            from ..pipeline import check_settings
            check_settings(cfg, store, list(tables))
    except (StoreError, SchemaMissing):
        if required:
            raise
    except UsageError:  # a configuration that names no usable store: nothing can run
        raise
    except Exception as exc:  # the notebook will fail at its first database call and say why
        if required:
            raise StoreError(one_line(exc, cfg.secrets)) from None
        log.warning("%s", one_line(exc, cfg.secrets))
        return None
    return store


def _stopped_midway(why: str) -> Callable[[Any], str]:
    """The ERROR text of a run stopped midway: ``why``, then what the store kept of it."""
    def text(store: Any) -> str:
        from ..stores.base import stopped_midway  # (pandas: not at the runner's start-up)
        return f"{why}: {stopped_midway(store)}"
    return text


def _record_failure(cfg, table: str, run_id: str, mode: str, error: str | Callable[[Any], str],
                    notebook: str | None) -> None:
    """An ``ERROR`` row in ``traficov2_sync_log`` for a notebook that stopped before recording one
    (``error``: its text, or a function of the store that gives it)."""
    from ..pipeline import record_error
    from ..stores import open_store
    from ..tables import get_table
    record_error(lambda: open_store(cfg), get_table(table), run_id=run_id, mode=mode, error=error,
                 notebook=notebook, secrets=cfg.secrets)


def sync_run_name(table: str) -> str:
    """A table's sync run as named in the archive and in errors: ``sync_<table>``."""
    return f"{SYNC_NOTEBOOK}_{table}"


def sync_result(table: str, run: NotebookRun, params: dict[str, Any]) -> dict[str, Any]:
    """A table's result shaped like ``RunResult.to_dict()``, from what its notebook recorded."""
    from ..tables import get_table
    spec = get_table(table)
    res = dict(run.result) if run.result else {
        "table": spec.name, "target": spec.target, "run_id": params["run_id"], "mode": params.get("mode"),
        "dry_run": params.get("dry_run", False), "status": "error", "counts": {}, "run_seconds": None,
        "write_seconds": None, "error": None, "attempts": 0}
    if run.error:
        if res.get("status") in ("ok", "dry-run"):
            res["status"] = "error"
        res["error"] = f"table {spec.name}: {run.error}"
    res["notebook"] = str(run.output) if run.output else None
    res["html"] = str(run.html) if run.html else None
    res["notebook_seconds"] = run.duration_seconds  # the runner's wall time: kernel start, the run, the archive
    return res


def not_run_result(table: str, params: dict[str, Any], error: str) -> dict[str, Any]:
    """A table's result when its notebook did not run to the end (no executed copy to read)."""
    from ..tables import get_table
    spec = get_table(table)
    return {"table": spec.name, "target": spec.target, "run_id": params["run_id"], "mode": params.get("mode"),
            "dry_run": params.get("dry_run", False), "status": "not run", "counts": {}, "run_seconds": None,
            "write_seconds": None, "error": error, "attempts": 0, "notebook": None, "html": None,
            "notebook_seconds": None}


def skip_unchanged(cfg, store, table: str, *, mode: str, run_id: str, allow_mass_deactivation: bool = False
                   ) -> dict[str, Any] | None:
    """A table whose source and context are as its last run left them (``pipeline.probe``): its
    one log row, recorded here, and its result; None when it must run (its notebook then runs).
    No kernel starts, nothing is validated or archived for a skipped table."""
    from ..pipeline import start
    from ..pipeline.probe import skip_if_unchanged
    try:
        ctx = start(table, mode=mode, cfg=cfg, store=store, run_id=run_id,
                    allow_mass_deactivation=allow_mass_deactivation)
        skipped = skip_if_unchanged(ctx)
    except Exception as exc:  # its notebook runs, and says what is wrong
        log.debug("%s: not skipped: %s", table, one_line(exc, cfg.secrets))
        return None
    if skipped is None:
        return None
    return {**skipped.to_dict(), "html": None, "notebook_seconds": None}


def drop_unchanged_archive(run: NotebookRun, res: dict[str, Any]) -> None:
    """A run that changed, rejected or failed nothing is its log row (``pipeline.changed_something``):
    its archived copy (and HTML page) is removed, and its result names none."""
    if res.get("status") != "ok" or res.get("keep_notebook", True) or run.error:
        return
    for path in (run.output, run.html):
        if path is not None:
            Path(path).unlink(missing_ok=True)
    res["notebook"] = res["html"] = None
    res["archived"] = "nothing changed: log row only"


def run_sync_notebooks(cfg, tables: Sequence[str], *, mode: str = "incremental", dry_run: bool = False,
                       config_path: str | None = None, run_id: str | None = None,
                       progress: bool | None = None, allow_mass_deactivation: bool = False,
                       session: KernelSession | None = None) -> list[dict[str, Any]]:
    """Run the ``sync`` notebook for each enabled table under one run id; a dict per table.

    Every table's notebook runs in one kernel (``session``, else one opened for this run and
    shut down at its end: :func:`~.session.kernel_session`), started at the first notebook.

    Each table's executed copy is archived as ``<run_id>_sync_<table>.ipynb`` (see
    :func:`sync_run_name`), which also names the run in errors.

    Each dict is shaped like ``RunResult.to_dict()`` (read back from the executed notebook)
    with ``notebook`` (the archived .ipynb) and ``html``. A notebook that failed gives status
    ``error`` and an ``error`` line naming the table, the cell and the exception.
    """
    from ..pipeline import new_run_id
    run_id = run_id or new_run_id()
    progress = sys.stderr.isatty() if progress is None else progress
    store = _hold_store(cfg, required=True, tables=tables)
    if session is None:
        with kernel_session(cfg) as own:
            return _sync_notebooks(cfg, store, tables, mode=mode, dry_run=dry_run, config_path=config_path,
                                   run_id=run_id, progress=progress, allow_mass_deactivation=allow_mass_deactivation,
                                   session=own)
    return _sync_notebooks(cfg, store, tables, mode=mode, dry_run=dry_run, config_path=config_path, run_id=run_id,
                           progress=progress, allow_mass_deactivation=allow_mass_deactivation, session=session)


def _sync_notebooks(cfg, store, tables: Sequence[str], *, mode: str, dry_run: bool, config_path: str | None,
                    run_id: str, progress: bool, allow_mass_deactivation: bool,
                    session: KernelSession) -> list[dict[str, Any]]:
    results = []
    full: str | None = None  # once the archive is full, the tables left are reported, not run
    for table in tables:
        if not cfg.table(table).enabled:
            continue
        params = {**table_params(cfg, table), "table": table, "mode": mode, "dry_run": dry_run,
                  "config_path": _config_param(cfg, config_path)}
        if full is not None:
            results.append(not_run_result(table, {**params, "run_id": run_id}, f"not run: {full}"))
            continue
        if allow_mass_deactivation:
            params["allow_mass_deactivation"] = True
        name = sync_run_name(table)
        how = f"{mode}{', dry-run' if dry_run else ''}"
        if not dry_run:  # nothing to do: its log row, no kernel (pipeline/probe.py)
            skipped = skip_unchanged(cfg, store, table, mode=mode, run_id=run_id,
                                     allow_mass_deactivation=allow_mass_deactivation)
            if skipped is not None:
                line = finish_line(skipped)
                _progress(progress, f"  {line}", run_id=run_id, line=line)
                results.append(skipped)
                continue
        _progress(progress, f"running {name} ({how}) ...", run_id=run_id, line=f"{table}: started ({how})")
        try:
            run = execute(cfg, SYNC_NOTEBOOK, params, run_id=run_id, archive_name=name, session=session)
        except ArchiveFull as exc:
            full = "the archive folder is full (see the first error)"
            res = not_run_result(table, {**params, "run_id": run_id}, f"table {table}: {exc}")
            if exc.ran and not dry_run:  # the kernel may have written; its record is this row
                _record_failure(cfg, table, run_id, mode, res["error"], None)
            _progress(progress, f"  {table}: {exc}", run_id=run_id, line=f"{table}: {exc}")
            results.append(res)
            continue
        except KeyboardInterrupt as stop:  # the kernel is shut down, its transaction rolled back
            if not dry_run:
                why = f"stopped by {getattr(stop, 'name', 'SIGINT')} while its notebook ran"
                _record_failure(cfg, table, run_id, mode, _stopped_midway(why), None)
            raise
        res = sync_result(table, run, {**params, "run_id": run_id})
        if run.error and run.result is None and not dry_run:
            _record_failure(cfg, table, run_id, mode, res["error"], res["notebook"])
        drop_unchanged_archive(run, res)
        where = rendering(run) if res["notebook"] else None
        _progress(progress, f"  {table}: {took(res)}" + (f" -> {where}" if where else ""), run_id=run_id,
                  line=finish_line(res, where))
        results.append(res)
    return results


def run_back_propagate_notebook(cfg, table: str | None = None, *, dry_run: bool = False,
                                config_path: str | None = None, run_id: str | None = None,
                                progress: bool | None = None) -> tuple[list[dict[str, Any]], NotebookRun]:
    """Run ``back_propagate`` (one table, or every table when None); per-table results + the run."""
    from ..pipeline import new_run_id
    run_id = run_id or new_run_id()
    progress = sys.stderr.isatty() if progress is None else progress
    params = {"table": table, "dry_run": dry_run, "config_path": _config_param(cfg, config_path)}
    _hold_store(cfg, required=True)
    how = " (dry-run)" if dry_run else ""
    _progress(progress, f"running {BACKPROP_NOTEBOOK}{how} ...", run_id=run_id,
              line=f"{BACKPROP_NOTEBOOK}: started{how}")
    run = execute(cfg, BACKPROP_NOTEBOOK, params, run_id=run_id)
    _notebook_done(progress, run_id, BACKPROP_NOTEBOOK, run)
    results = list((run.result or {}).get("results", []))
    if run.error:
        results.append({"table": table or "all", "run_id": run_id, "dry_run": dry_run, "status": "error",
                        "error": run.error, "rows_updated": 0})
    return results, run


def run_health_notebook(cfg, *, config_path: str | None = None, run_id: str | None = None,
                        progress: bool | None = None) -> NotebookRun:
    """Run ``health_check`` and archive it; its recorded result is ``run.result``."""
    from ..pipeline import new_run_id
    run_id = run_id or new_run_id()
    progress = sys.stderr.isatty() if progress is None else progress
    _hold_store(cfg)
    _progress(progress, f"running {HEALTH_NOTEBOOK} ...", run_id=run_id, line=f"{HEALTH_NOTEBOOK}: started")
    run = execute(cfg, HEALTH_NOTEBOOK, {"config_path": _config_param(cfg, config_path)}, run_id=run_id)
    _notebook_done(progress, run_id, HEALTH_NOTEBOOK, run)
    return run


def _notebook_done(progress: bool, run_id: str, name: str, run: NotebookRun) -> None:
    where = rendering(run)
    status = "ok" if run.ok else "failed"
    _progress(progress, f"  {status} in {run.duration_seconds:.1f} s" + (f" -> {where}" if where else ""),
              run_id=run_id, line=f"{name}: {status} in {run.duration_seconds:.1f} s"
              + (f": {run.error}" if run.error else "") + (f"; {where}" if where else ""))
