"""The protocol between a notebook and the runner: what a notebook calls (``record_result``,
``use_project_folder``) and how the runner reads an executed copy back (``read_result``,
``find_failure``); and, while it runs, the kernel's progress lines for a big table
(:data:`PROGRESS_FILE_ENV`)."""
from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import strip_ansi


RESULT_MIME = "application/vnd.trafico.result+json"
#: Set by the runner for the kernel it starts: a file where the kernel appends the pipeline's
#: progress lines (``trafico.progress``: a big table's chunks and batches), which the runner
#: follows and logs as they come, so a log file sees a long table advance.
PROGRESS_FILE_ENV = "TRAFICO_PROGRESS_FILE"
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the checkout: trafico_lib/runner/ is two below


def record_result(result: dict[str, Any], *, shown: str | None = None, failure: str | None = None) -> None:
    """Leave a notebook's result in its output for the runner (last cell of a notebook).

    The result is displayed under :data:`RESULT_MIME` (read back by :func:`read_result`); what
    people see of it (Jupyter, the archived HTML) is its text beside it: ``shown``, one line,
    never the JSON. Values that are not JSON (dates, numbers from numpy) are written as
    text. ``failure`` (one line) then fails the cell, so the archived notebook shows a run that
    did not succeed as failed.
    """
    from IPython.display import display

    from ..errors import SyncFailed
    data = json.loads(json.dumps(result, default=str, ensure_ascii=False))
    line = shown or f"result recorded for the runner: {data.get('status', 'recorded')}"
    display({RESULT_MIME: data, "text/plain": line}, raw=True)
    if failure:
        raise SyncFailed(failure)


def use_project_folder(archive_path: str | None = None) -> Path:
    """Outside the runner (a notebook opened in Jupyter), work from the project folder.

    Jupyter starts a kernel in the notebook's folder, ``notebooks/``; ``make`` and the runner
    work from the project folder, where ``trafico_config.json``, ``data/`` and ``.trafico/``
    are. A notebook calls this first so its relative paths mean the same thing either way.
    Under the runner (``archive_path`` set) the folder is left as the runner chose it.
    Under the runner, it also sends the kernel's progress lines to the runner
    (:func:`forward_progress`).
    """
    forward_progress()
    here = Path.cwd().resolve()
    if archive_path is None and here == (PROJECT_ROOT / "notebooks").resolve():
        os.chdir(PROJECT_ROOT)
    return Path.cwd()


def forward_progress() -> None:
    """In a kernel the runner started (:data:`PROGRESS_FILE_ENV` set): the pipeline's progress
    lines go to the runner's file, one per line; elsewhere nothing changes."""
    path = os.environ.get(PROGRESS_FILE_ENV)
    if not path:
        return
    logger = logging.getLogger("trafico.progress")  # pipeline.PROGRESS_LOGGER
    if any(isinstance(h, logging.FileHandler) and h.baseFilename == os.path.abspath(path) for h in logger.handlers):
        return
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def read_result(nb) -> dict[str, Any] | None:
    """The result the notebook recorded with :func:`record_result` (the last one), or None."""
    found = None
    for cell in nb.cells:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = out.get("data") or {}
            if RESULT_MIME in data:
                value = data[RESULT_MIME]
                found = json.loads(value) if isinstance(value, str) else dict(value)
    return found


@dataclass
class CellFailure:
    """The cell a notebook stopped at: where it is and what it raised."""
    execution_count: int | None
    step: str            # the cell's id in the source notebook (the step's name), or its position
    first_line: str      # the cell's first line of code
    ename: str
    evalue: str

    def describe(self) -> str:
        where = f"cell In [{self.execution_count}]" if self.execution_count else "a cell"
        evalue = " ".join(self.evalue.split())
        return f"{where} '{self.step}' ({self.first_line}): {self.ename}: {evalue}" if evalue else \
            f"{where} '{self.step}' ({self.first_line}): {self.ename}"


def find_failure(nb) -> CellFailure | None:
    """The first code cell of an executed notebook that ended in an error, or None."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if not errors:
            continue
        err = errors[0]
        lines = [ln.strip() for ln in cell.source.splitlines() if ln.strip() and not ln.strip().startswith("#")]
        first = lines[0] if lines else ""
        if len(first) > 70:
            first = first[:67] + "..."
        step = cell.get("id") or f"cell {i + 1}"
        return CellFailure(cell.get("execution_count"), step, first, err.get("ename", "Error"),
                           strip_ansi(err.get("evalue", "")))
    return None
