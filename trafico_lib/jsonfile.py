"""Reading a JSON file people edit by hand (config, suites), with one-line errors."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


MAX_DEPTH = 32  # objects and lists inside each other; a config is 4 deep, a suite 5


def read_json(path: str | os.PathLike, where: str, error: type[Exception]) -> Any:
    """Parse a UTF-8 JSON file (a BOM is fine); any problem raises ``error`` with one line
    starting with ``where``: not found, a folder, unreadable, not UTF-8, broken JSON with its
    line and column, or nested deeper than ``MAX_DEPTH`` (with the path where)."""
    p = Path(path)
    if p.is_dir():
        raise error(f"{where}: expected a JSON file, got a folder (name the file inside it, "
                    f"e.g. {p / 'trafico_config.json'})")
    try:
        raw = p.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise error(f"{where}: file not found") from None
    except UnicodeDecodeError as exc:
        raise error(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise error(f"{where}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: broken JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise error(f"{where}: expected JSON nested at most {MAX_DEPTH} levels deep, got far deeper") from None
    except ValueError as exc:  # e.g. a number longer than Python reads
        raise error(f"{where}: unreadable JSON: {exc}") from None
    deep = _too_deep(data)
    if deep is not None:
        deep = deep if len(deep) <= 60 else deep[:60] + "…"
        raise error(f"{where}: {deep or '(top)'}: expected JSON nested at most {MAX_DEPTH} levels deep")
    return data


def _too_deep(data: Any) -> str | None:
    """The path of the first value nested deeper than MAX_DEPTH (iteratively: no recursion)."""
    stack = [(data, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if not isinstance(value, (dict, list)):
            continue
        if depth >= MAX_DEPTH:
            return path
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            stack.append((v, f"{path}[{k}]" if isinstance(k, int) else (f"{path}.{k}" if path else str(k)),
                          depth + 1))
    return None
