"""Execute one notebook with papermill, archive it, and read its result back."""
from __future__ import annotations

import errno
import logging
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import SyncFailed, one_line, scrub
from ..paths import shown_path
from .archive import archive_path, render_html, safe_name, scrub_file
from .kernel import KERNEL_ARGUMENTS, START_TIMEOUT_SECONDS
from .notebook import CellFailure, find_failure, read_result
from .params import RunnerError, check_parameters, notebooks_dir
from .session import KERNEL_STARTS, KernelSession, kernel_session, register_engine, relayed_progress

__all__ = ["ArchiveFull", "NotebookRun", "execute", "relayed_progress", "KERNEL_STARTS"]

log = logging.getLogger("trafico")

# below this, not even a notebook's first save fits: the run is refused before it starts
ARCHIVE_MIN_FREE_BYTES = 64 * 1024
_NO_ROOM = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


class ArchiveFull(SyncFailed):
    """The folder executed notebooks go to has no room: one line naming it and its free space.
    ``ran`` says whether the notebook had started (its kernel may have written the table)."""

    def __init__(self, message: str, *, ran: bool):
        super().__init__(message)
        self.ran = ran


def free_space(folder: Path) -> str:
    """The free space of ``folder``'s filesystem, as people read it (``12 KB``, ``3.4 MB``)."""
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "unknown"
    return f"{free / 1024:.0f} KB" if free < 1024 * 1024 else f"{free / 1024 / 1024:.1f} MB"


def _full(folder: Path, what: str, kind: str = "archive folder") -> str:
    return (f"the {kind} {shown_path(folder)} is full ({free_space(folder)} free): {what}; "
            f"make room there, or set audit_archive.path to a folder with room")


def _no_room(exc: BaseException | None) -> bool:
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno in _NO_ROOM:
            return True
        exc = exc.__cause__ or exc.__context__
    return False
progress_log = logging.getLogger("trafico.progress")  # runs.PROGRESS_LOGGER


def _no_cell_ran(out: Path) -> bool:
    """Whether no code cell of the (partly) executed copy at ``out`` ran: the kernel never
    started. papermill writes the copy, every cell pending, before it starts the kernel."""
    import nbformat
    try:
        nb = nbformat.read(out, as_version=4)
    except (OSError, ValueError):
        return not out.exists()
    return all(c.get("execution_count") is None and not c.get("outputs") for c in nb.cells if c.cell_type == "code")


@dataclass
class NotebookRun:
    """One executed notebook: where it is archived, what it recorded, where it failed."""
    notebook: str                   # the run's name: the archive name (``sync_arribos``), else the notebook's
    output: Path | None             # archived .ipynb (None when archiving is off)
    html: Path | None
    result: dict[str, Any] | None   # what the notebook recorded (None if it stopped before)
    failure: CellFailure | None
    error: str | None               # one line when the run failed, else None
    duration_seconds: float

    @property
    def ok(self) -> bool:
        return self.error is None


def execute(cfg, notebook: str, parameters: dict[str, Any], *, run_id: str,
            kernel_name: str | None = None, timeout: int | None = None,
            archive_name: str | None = None, session: KernelSession | None = None) -> NotebookRun:
    """Execute ``notebooks/<notebook>.ipynb`` with papermill, archive it (+HTML), read it back.

    ``parameters`` gets ``run_id`` and ``archive_path`` added. The executed copy is archived
    as ``<run_id>_<archive_name>.ipynb``, and errors name the run ``archive_name``: one
    notebook run for several tables is told apart by it (``sync`` runs as ``sync_arribos``).
    Default: the notebook's own name. Never raises for a failing notebook: the failure is in
    the returned run (``error``, ``failure``), and the archived copy shows the failing cell.
    Raises :class:`RunnerError` when the notebook cannot start, :class:`ArchiveFull` when the
    archive folder has no room for it (before it starts, or when a save failed). A run whose ``dry_run``
    parameter is true is archived apart, under ``<archive>-dry`` (never the audit archive).

    ``session``: the notebook runs in that session's kernel (:mod:`.session`: started once for
    a run's notebooks, its namespace reset between them); without one, in a kernel of its own.
    """
    if session is None:
        with kernel_session(cfg, kernel_name) as own:
            return execute(cfg, notebook, parameters, run_id=run_id, kernel_name=kernel_name, timeout=timeout,
                           archive_name=archive_name, session=own)
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    source = notebooks_dir(cfg) / f"{Path(notebook).stem}.ipynb"
    if not source.is_file():
        raise RunnerError(f"notebook not found: {shown_path(source)}")
    name = Path(archive_name).stem if archive_name else source.stem
    secrets = cfg.secrets
    kernel = session.kernel_name
    archive = cfg.audit_archive.enabled
    tmpdir = None
    if archive:
        out = archive_path(cfg, run_id, name, dry_run=parameters.get("dry_run") is True)
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            probe = out.parent / f".{safe_name(run_id)}.writable"
            probe.touch()
            probe.unlink()
            room = shutil.disk_usage(out.parent).free
        except OSError as exc:  # before the notebook runs: nothing was synced without its record
            if _no_room(exc):
                raise ArchiveFull(f"{name}: {_full(out.parent, 'not run')}", ran=False) from None
            raise SyncFailed(f"cannot archive the executed notebook in {shown_path(out.parent)} "
                             f"({exc.strerror or exc}): set audit_archive.path to a writable folder, "
                             f"or audit_archive.enabled to false; nothing was run") from None
        if room < ARCHIVE_MIN_FREE_BYTES:
            raise ArchiveFull(f"{name}: {_full(out.parent, 'not run')}", ran=False)
    else:
        tmpdir = Path(tempfile.mkdtemp(prefix="trafico-run-"))
        out = tmpdir / f"{safe_name(run_id)}_{name}.ipynb"
    # paths as the kernel (started in the configuration's folder) reads them: relative to that
    # folder, so the parameters cell of the archived copy names no machine's folders
    params = check_parameters({**parameters, "run_id": run_id,
                               "archive_path": cfg.relative(out) if archive else None}, secrets)
    cell_timeout = timeout or cfg.runner.cell_timeout_seconds
    t0 = time.monotonic()
    crash: str | None = None
    no_room = False  # the archive's disk filled up under the run
    engine = register_engine()
    for start in range(1, KERNEL_STARTS + 1):
        try:
            km, kc = session.kernel(name)
        except Exception as exc:  # no kernel started after KERNEL_STARTS tries: nothing ran
            raise RunnerError(f"{name}: its kernel did not start: {one_line(exc, secrets)}") from None
        try:
            pm.execute_notebook(str(source), str(out), parameters=params, kernel_name=kernel, engine_name=engine,
                                km=km, kc=kc, cwd=str(cfg.base_dir), progress_bar=False, log_output=False,
                                start_timeout=START_TIMEOUT_SECONDS, execution_timeout=cell_timeout,
                                interrupt_on_timeout=True, extra_arguments=KERNEL_ARGUMENTS)
        except PapermillExecutionError:
            pass  # the executed copy shows the failing cell; find_failure reads it below
        except Exception as exc:  # kernel died, the notebook could not be saved: one line
            crash = one_line(exc, secrets)
            no_room = _no_room(exc)
            if not session.alive():
                session.discard()  # the next notebook (or this one's next try) starts another
            if not no_room and start < KERNEL_STARTS and _no_cell_ran(out):
                # nothing ran, so nothing was done: run it again, in a kernel that answers
                log.warning("%s: its kernel did not start (%s); starting another (%d of %d)",
                            name, crash, start + 1, KERNEL_STARTS)
                session.discard()
                crash = None
                continue
        finally:
            session.notebook_done()
        break
    duration = round(time.monotonic() - t0, 3)
    nb = None
    if out.is_file():
        try:
            scrub_file(out, secrets)
            nb = nbformat.read(out, as_version=4)
        except (OSError, ValueError) as exc:  # a save cut short (NotJSONError is a ValueError)
            no_room = no_room or _no_room(exc) or shutil.disk_usage(out.parent).free < ARCHIVE_MIN_FREE_BYTES
            if not no_room:
                raise
    if no_room:  # the kernel is gone; what it wrote is in the database's log, its notebook is not whole
        line = _full(out.parent, f"its executed notebook could not be written (stopped after {duration:.0f} s)",
                     "archive folder" if archive else "temporary folder")
        out.unlink(missing_ok=True)
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)
        raise ArchiveFull(f"{name}: {line}", ran=True)
    result = read_result(nb) if nb is not None else None
    failure = find_failure(nb) if nb is not None else None
    html_path = None
    if archive and nb is not None:
        try:
            html_path = render_html(out)
            scrub_file(html_path, secrets)
        except Exception as exc:  # the archive copy is still there; say why there is no HTML
            log.warning("could not render %s as HTML: %s", out.name, one_line(exc, secrets))
    error = None
    if failure is not None:
        if failure.ename == "KeyboardInterrupt":
            failure.ename, failure.evalue = "Timeout", f"the cell ran longer than {cell_timeout} s and was interrupted"
        error = f"{name} failed at {failure.describe()}"
    elif crash is not None:
        error = f"{name} failed: {crash}"
    elif nb is None:
        error = f"{name} failed: no executed notebook was written"
    if error:
        error = scrub(error, secrets)
    if tmpdir is not None:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return NotebookRun(name, out if archive and out.is_file() else None, html_path, result,
                       failure, error, duration)
