"""Logging for the command lines: warnings as one line, libraries quiet unless ``--verbose``."""
from __future__ import annotations

import logging
import warnings

NOISY = ("great_expectations", "papermill", "traitlets", "asyncio", "matplotlib", "urllib3")


def one_line_warning(message, category, filename, lineno, file=None, line=None) -> str:
    return f"warning: {message}\n"


def setup_logging(verbose: bool) -> None:
    if not verbose:  # a warning is one line for people; --verbose keeps Python's full form
        warnings.formatwarning = one_line_warning
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING if verbose else logging.ERROR)

    def quiet(record: logging.LogRecord) -> bool:  # libraries that reset their own levels on import
        return record.levelno >= logging.WARNING or not record.name.startswith(NOISY)
    for handler in logging.getLogger().handlers:
        handler.addFilter(quiet)
