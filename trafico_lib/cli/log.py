"""Logging for the command lines: warnings as one line, libraries quiet unless ``--verbose``,
and the run's progress lines for a log file.

When the output is not a terminal (cron, ``make sync >> trafico.log 2>&1``), each table's
start and finish is one line, from the logger ``trafico.progress``, stamped like every summary
line: ``<ISO time to the second> <run id> <what>`` (:func:`stamped`). They go to stdout with the
summary (stderr keeps only warnings and the one-line error, so ``make health >/dev/null`` in a
crontab mails nothing on a healthy run), and never with ``--json``. On a terminal the runner
shows its own short progress lines (stderr) or a progress bar instead.
"""
from __future__ import annotations

import logging
import sys
import warnings
from datetime import UTC, datetime

from .. import clock
from ..errors import scrub
from ..runner.runs import PROGRESS_LOGGER

NOISY = ("great_expectations", "papermill", "traitlets", "asyncio", "matplotlib", "urllib3")


def one_line_warning(message, category, filename, lineno, line=None) -> str:  # warnings.formatwarning's
    return f"warning: {message}\n"


def timestamp(when: datetime | None = None) -> str:
    """The time in the display zone (:mod:`trafico_lib.clock`), ISO 8601 to the second, with its
    offset: ``2026-11-30T09:58:10-03:00``."""
    return clock.stamp(when)


def stamped(text: str, run_id: str | None, when: datetime | None = None) -> str:
    """Every line of ``text`` as ``<timestamp> <run id> <line>`` (grep the run id for a whole run)."""
    head = " ".join(x for x in (timestamp(when), run_id) if x)
    return "\n".join(f"{head} {line}" for line in text.splitlines())


class _Stamped(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{timestamp(datetime.fromtimestamp(record.created, UTC))} {record.getMessage()}"


class ScrubSecrets(logging.Filter):
    """On a handler: every record it writes, ours and third-party ones (httpx, httpcore, urllib3,
    psycopg under ``--verbose``), has its message, arguments, traceback and stack scrubbed of
    the configuration's secrets (:meth:`remember`) and of whatever looks like a credential."""

    def __init__(self) -> None:
        super().__init__()
        self.secrets: list[str] = []

    def remember(self, secrets) -> None:
        self.secrets = list(dict.fromkeys([*self.secrets, *secrets]))

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: say what is there
            message = f"{record.msg} {record.args}"
        record.msg, record.args = scrub(message, self.secrets), ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info, self.secrets)
        return True


SCRUB = ScrubSecrets()  # the one filter on every handler the command lines log through


class _Stdout(logging.StreamHandler):
    """Whatever ``sys.stdout`` is at the time of the line (tests and callers may swap it)."""

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, _value) -> None:
        pass


def setup_logging(verbose: bool, *, json: bool = False) -> None:
    """Warnings and errors on stderr (debug with ``verbose``); the run's stamped progress lines
    on stdout when it is not a terminal, unless the output is ``json``."""
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
        handler.addFilter(SCRUB)
    progress = logging.getLogger(PROGRESS_LOGGER)  # messages start with the run id
    progress.propagate = False
    if not any(isinstance(h, _Stdout) for h in progress.handlers):
        handler = _Stdout()
        handler.setFormatter(_Stamped())
        handler.addFilter(SCRUB)
        progress.addHandler(handler)
    # a log file gets the stamped lines; a terminal gets the runner's short lines (or a bar)
    progress.setLevel(logging.WARNING if json or sys.stdout.isatty() else logging.INFO)
