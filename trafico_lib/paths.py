"""How a path is printed to a person. Layer 0: the command lines, the runner and retention
all print paths the same way (docs/architecture.md §2)."""
from __future__ import annotations

import os
from pathlib import Path


def shown_path(path: str | os.PathLike | None) -> str | None:
    """A path as shown to people: relative to the current folder when under it (the project
    folder, for make and cron), else as it is."""
    if path is None:
        return None
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
