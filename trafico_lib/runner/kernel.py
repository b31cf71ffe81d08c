"""The Jupyter kernel the notebooks run in: always this environment's interpreter."""
from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

log = logging.getLogger("trafico")


#: The kernel's own log, quiet: ipykernel warns on every start that local TCP is unencrypted, and
#: logs the interrupt jupyter_client sends before every shutdown. Cell errors are in the notebook.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]
START_TIMEOUT_SECONDS = 60
#: The kernel's name in Jupyter's menus and in the notebooks' metadata (ipykernel's own).
KERNEL_DISPLAY_NAME = "Python 3 (ipykernel)"


def ensure_kernel(name: str = "python3", *, prefix: str | os.PathLike | None = None) -> bool:
    """Make the kernel spec ``name`` run this very interpreter, whatever else is installed.

    A user-level spec of the same name (``~/.local/share/jupyter/kernels``) may point at
    another environment, even one deleted since. So the runner keeps its own spec inside this
    environment (``<prefix>/share/trafico/kernels/<name>``, default prefix ``sys.prefix``)
    and puts that folder first on ``JUPYTER_PATH``, which Jupyter searches before the user's
    folders. Returns True if it wrote the spec now.
    """
    import json as _json
    root = Path(prefix or sys.prefix) / "share" / "trafico"
    spec_file = root / "kernels" / name / "kernel.json"
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    # named as ipykernel names its own spec: JupyterLab writes a kernel's display name into the
    # notebook it opens, so the notebooks (which carry this name) open unmodified, in `make lab`
    # as in any Jupyter of this environment
    spec = {"argv": argv, "display_name": KERNEL_DISPLAY_NAME, "language": "python", "metadata": {"debugger": True}}
    wrote = False
    try:
        current = _json.loads(spec_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        current = None
    if current != spec:
        spec_file.parent.mkdir(parents=True, exist_ok=True)
        spec_file.write_text(_json.dumps(spec, indent=1), encoding="utf-8")
        wrote = True
        log.info("kernel spec %s now runs %s", name, sys.executable)
    paths = [p for p in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if p]
    if str(root) not in paths[:1]:
        os.environ["JUPYTER_PATH"] = os.pathsep.join([str(root), *[p for p in paths if p != str(root)]])
    return wrote


# ---- inside the kernel: a shared kernel reads like a fresh one to each notebook -------------------
# These two run in the run's kernel (sent by session.KernelSession as silent code, so no cell
# of any notebook shows them). ``mark_fresh`` right after the kernel starts: what a fresh kernel
# holds. ``fresh_namespace`` after each notebook: back to that.

_FRESH: dict[str, tuple[list[logging.Handler], int, bool]] | None = None


def _loggers() -> dict[str, logging.Logger]:
    found = {name: lg for name, lg in logging.Logger.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    found[""] = logging.getLogger()
    return found


def mark_fresh() -> None:
    """In the kernel, once it started: remember every logger's handlers, level and propagation."""
    global _FRESH
    _FRESH = {name: (list(lg.handlers), lg.level, lg.propagate) for name, lg in _loggers().items()}


def fresh_namespace(folder: str) -> None:
    """In the kernel, after a notebook: what it left is gone before the next one runs.

    The user namespace, ``Out``/``_`` and the history (IPython's ``reset(new_session=True)``:
    the next cell is ``In [1]`` again); the folder (back to ``folder``, where the kernel started);
    the log handlers a notebook added (closed: a second table's lines are not written twice);
    the display zone (:func:`trafico_lib.clock.set_zone`); open figures; the "already shown"
    registry of warnings (so a warning a notebook raises shows in it, as in a fresh kernel).
    Imports stay: that is what the kernel is shared for. Objects the namespace held (a store's
    connections) are collected now.
    """
    import gc
    ip = sys.modules["IPython"].get_ipython()
    ip.reset(new_session=True)
    os.chdir(folder)
    for name, lg in _loggers().items():
        handlers, level, propagate = (_FRESH or {}).get(name, ([], logging.NOTSET, True))
        for h in [h for h in lg.handlers if h not in handlers]:
            lg.removeHandler(h)
            h.close()
        if _FRESH is not None:
            lg.setLevel(level)
            lg.propagate = propagate
    clock = sys.modules.get("trafico_lib.clock")
    if clock is not None:
        clock.set_zone(None)
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close("all")
    for module in list(sys.modules.values()):
        registry = getattr(module, "__warningregistry__", None)
        if isinstance(registry, dict):
            registry.clear()
    gc.collect()
