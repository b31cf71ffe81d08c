"""Parameters of a notebook run: parameter files from ``params/`` layered, checked, never a secret."""
from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import UsageError
from .notebook import PROJECT_ROOT


class RunnerError(UsageError):
    """The runner could not start a notebook (bad parameters, missing folder); one line."""


#: Parameters a params file may set; ``run_id`` and ``archive_path`` belong to the runner.
FILE_PARAMETERS = ("table", "mode", "dry_run", "config_path", "allow_mass_deactivation")


def project_dir(cfg, name: str) -> Path:
    """A project folder (``notebooks``, ``params``): beside the config if it has one, else the repo's."""
    here = cfg.resolve(name)
    return here if here.is_dir() else PROJECT_ROOT / name


def notebooks_dir(cfg) -> Path:
    d = cfg.resolve(cfg.runner.notebooks_dir)
    if d.is_dir():
        return d
    if (PROJECT_ROOT / "notebooks").is_dir():
        return PROJECT_ROOT / "notebooks"
    raise RunnerError(f"notebooks folder not found: {d} (set runner.notebooks_dir in the config)")


def load_params(*paths: str | os.PathLike) -> dict[str, Any]:
    """Merge YAML parameter files, later files winning; only :data:`FILE_PARAMETERS` keys allowed."""
    import yaml
    out: dict[str, Any] = {}
    for path in paths:
        p = Path(path)
        if not p.is_file():
            raise RunnerError(f"{p}: parameter file not found")
        try:
            data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            at = f" at line {mark.line + 1}" if mark else ""
            raise RunnerError(f"{p}: broken YAML{at}: {getattr(exc, 'problem', exc)}") from None
        if not isinstance(data, dict):
            raise RunnerError(f"{p}: expected a mapping of parameter names to values")
        unknown = sorted(set(data) - set(FILE_PARAMETERS))
        if unknown:
            raise RunnerError(f"{p}: unknown parameter(s) {', '.join(unknown)}; "
                              f"expected some of {', '.join(FILE_PARAMETERS)}")
        out.update(data)
    return out


def table_params(cfg, table: str) -> dict[str, Any]:
    """``params/<table>.yaml`` when it exists (the table's own defaults), else ``{"table": table}``."""
    p = project_dir(cfg, "params") / f"{table}.yaml"
    return {"table": table, **(load_params(p) if p.is_file() else {})}


def check_parameters(params: dict[str, Any], secrets: Sequence[str]) -> dict[str, Any]:
    """Refuse bad parameter values and any parameter that carries a secret (one line)."""
    from ..pipeline import MODES
    if "mode" in params and params["mode"] not in MODES:
        raise RunnerError(f"parameter mode: expected one of {', '.join(MODES)}, got {params['mode']!r}")
    for flag in ("dry_run", "allow_mass_deactivation"):
        if flag in params and not isinstance(params[flag], bool):
            raise RunnerError(f"parameter {flag}: expected true or false, got {params[flag]!r}")
    for name, value in params.items():
        text = json.dumps(value, default=str)
        if any(s and s in text for s in secrets):
            raise RunnerError(f"parameter {name} holds a secret value; secrets reach the notebook only "
                              "through the environment or the config file")
    return params
