"""The runner: executes the notebooks with papermill and archives every run (docs/architecture.md §2, §8).

    results = run_sync_notebooks(cfg, ["arribos"], mode="full")   # one dict per table
    run = execute(cfg, "health_check", {"config_path": ...})      # any notebook, archived

Each invocation has one run id. Every executed notebook, failed ones included, is archived as
``<archive>/<yyyy>/<mm>/<dd>/<run_id>_<notebook>.ipynb`` (the date is the run id's, in the display zone) with
an HTML rendering beside it; both are scrubbed of the configuration's secret values. The
kernel is named explicitly, runs in the configuration's folder, and every cell has a timeout.

Results travel back in the executed notebook, never by re-querying the database: the last
cell of a notebook calls :func:`record_result`, which displays the result under the MIME
type :data:`RESULT_MIME`; :func:`read_result` finds it in the executed copy. A failed cell is
found by :func:`find_failure` and reported as one line naming the table, the cell and the error.

Parameters are never secrets: credentials reach the kernel only through the environment (or
the configuration file the kernel reads itself); :func:`check_parameters` refuses a parameter
holding a secret value. ``python -m trafico_lib.runner`` is the command line the Makefile uses
(``sync``, ``back-propagate``, ``health``), with parameter files from ``params/``; it lives in
:mod:`trafico_lib.cli.runner` (this package is a library and never imports the CLI).

Modules: ``notebook`` (the notebook side of the protocol), ``params``, ``kernel``, ``archive``,
``session`` (one kernel for a run's notebooks: :func:`kernel_session`), ``execute`` (one
notebook), ``runs`` (the scheduled runs).
"""
from .archive import archive_dir, archive_path, render_html, scrub_file
from .execute import NotebookRun, execute
from .kernel import ensure_kernel
from .notebook import RESULT_MIME, CellFailure, find_failure, read_result, record_result, use_project_folder
from .params import FILE_PARAMETERS, RunnerError, check_parameters, load_params, notebooks_dir, table_params
from .runs import (BACKPROP_NOTEBOOK, HEALTH_NOTEBOOK, SYNC_NOTEBOOK, run_back_propagate_notebook,
                   run_health_notebook, run_sync_notebooks, sync_result, sync_run_name)
from .session import KernelSession, kernel_session

__all__ = [
    "BACKPROP_NOTEBOOK", "CellFailure", "KernelSession", "kernel_session", "SYNC_NOTEBOOK", "FILE_PARAMETERS", "HEALTH_NOTEBOOK", "NotebookRun", "RESULT_MIME",
    "RunnerError", "archive_dir", "archive_path", "check_parameters", "ensure_kernel", "execute", "find_failure",
    "load_params", "notebooks_dir", "read_result", "record_result", "render_html", "run_back_propagate_notebook",
    "run_health_notebook", "run_sync_notebooks", "scrub_file", "sync_result", "sync_run_name", "table_params", "use_project_folder",
]
