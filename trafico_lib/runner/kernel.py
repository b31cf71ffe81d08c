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
