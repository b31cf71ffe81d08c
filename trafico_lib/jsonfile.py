"""Reading a JSON file people edit by hand (config, suites), with one-line errors."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def read_json(path: str | os.PathLike, where: str, error: type[Exception]) -> Any:
    """Parse a UTF-8 JSON file (a BOM is fine); any problem raises ``error`` with one line
    starting with ``where``: not found, not UTF-8, or broken JSON with its line and column."""
    try:
        raw = Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise error(f"{where}: file not found") from None
    except UnicodeDecodeError as exc:
        raise error(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise error(f"{where}: broken JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
