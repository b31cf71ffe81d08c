"""A notebook run by hand in Jupyter, as the sync log records it. Layer 0.

The runner archives every notebook it executes and logs the archived copy's path as the run's
``notebook``. A notebook an analyst runs in JupyterLab is not archived (its outputs live in the
browser), so its log row says instead where it ran and who ran it:
``interactive: notebooks/sync.ipynb by ana@depot-pc``; health and the Data Docs then say the run
was interactive, not that it had no notebook. (It writes at all only when the analyst set
``dry_run = False``: the notebooks' default is a dry run.)
"""
from __future__ import annotations

import getpass
import os
import socket
import sys
from collections.abc import Mapping

from .paths import shown_path

PREFIX = "interactive: "
#: What health and the Data Docs say of a run's archive when the run was interactive.
NOT_ARCHIVED = "run interactively in JupyterLab (not archived)"
#: Set by the Jupyter server (JupyterLab, Notebook) for each kernel it starts for a notebook:
#: the notebook's path (absolute, in jupyter_server 2). papermill and nbval set nothing.
SESSION_ENV = "JPY_SESSION_NAME"


def interactive_notebook(environ: Mapping[str, str] | None = None) -> str | None:
    """``interactive: <notebook> by <user>@<host>`` in a kernel a Jupyter server started for a
    notebook, else None (the runner, papermill, the command line, the tests)."""
    env = os.environ if environ is None else environ
    path = env.get(SESSION_ENV)
    if not path or "ipykernel" not in sys.modules:  # (a command started from a notebook cell inherits the variable)
        return None
    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "?"
    # relative to the project folder, where the notebook works (runner.notebook.use_project_folder)
    return f"{PREFIX}{shown_path(path)} by {user}@{socket.gethostname()}"


def is_interactive(notebook: str | None) -> bool:
    """Whether a logged ``notebook`` is an interactive run's (not an archived copy's path)."""
    return bool(notebook) and str(notebook).startswith(PREFIX)
