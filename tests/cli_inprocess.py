"""The command lines called in the test's own process, seen as a subprocess would see them.

A ``python update_traficov2.py …`` subprocess costs a Python start and the library's imports
(Great Expectations alone is seconds) on every call; most tests are about what the command does
(exit code, the lines it prints, what it writes), not about the process. :func:`run` calls the
entry point's ``main`` here instead and gives back what :func:`subprocess.run` would:
``returncode``, ``stdout``, ``stderr``.

What a process would start fresh is set up and put back around each call, so no line leaks into
the next call or the next test, and no call sees the last one's state:

* stdout and stderr captured at the file descriptors (1 and 2), so a child process the command
  starts (a notebook kernel, ``pg_ctl``) or a C library writes into the same capture, as with a
  pipe; neither is a terminal;
* the environment replaced by the one given, the working folder changed, ``sys.argv`` set;
* logging as at a process start: no handler on the root logger (``basicConfig`` then installs
  the command's own, writing to the captured stderr), every logger's level, handlers, filters and
  ``propagate`` put back afterwards (the command's ``trafico.progress`` handler and its quiet
  library loggers would otherwise stay for the rest of the session), the secret filter's
  remembered secrets forgotten;
* warnings shown as a process shows them (Python's default filters, printed on stderr with the
  format the command chose), not recorded by pytest;
* the SIGTERM/SIGINT handlers the command installs put back;
* ``SystemExit`` (argparse) becomes the exit code; any other escaping exception is printed as
  Python prints it (a ``Traceback``) with exit code 1, as a process would end (a
  ``KeyboardInterrupt`` is left to stop the test run).

The entry points stay tested as real processes too, once each (tests/test_cli.py: the signal
tests, ``--print-sql``, the ``trafico`` script; tests/test_secrets.py: the runner's papermill
parameters and ``python -m trafico_lib.docs``).
"""
from __future__ import annotations

import io
import logging
import os
import signal
import subprocess
import sys
import tempfile
import traceback
import warnings
from contextlib import contextmanager
from pathlib import Path
from collections.abc import Callable, Iterator, Mapping, Sequence

ROOT = Path(__file__).resolve().parent.parent

# Python's warning filters at a plain start (no -W, no PYTHONWARNINGS, not a debug build)
_PROCESS_FILTERS = [("default", DeprecationWarning, "__main__"), ("ignore", DeprecationWarning, None),
                    ("ignore", PendingDeprecationWarning, None), ("ignore", ImportWarning, None),
                    ("ignore", ResourceWarning, None)]


def _entry(args: Sequence[str]) -> tuple[str, Callable[[list[str]], int], list[str]]:
    """(argv[0], main, the rest) for ``update_traficov2.py …``, ``trafico …``,
    ``-m trafico_lib.runner …`` and ``-m trafico_lib.docs …``."""
    from trafico_lib.cli import docs_main, main, runner_main
    args = [str(a) for a in args]
    first = Path(args[0]).name
    if first == "update_traficov2.py":
        return str(ROOT / first), lambda argv: main(argv, prog="update_traficov2.py"), args[1:]
    if first == "trafico":
        return first, lambda argv: main(argv, prog="trafico"), args[1:]
    if args[:2] == ["-m", "trafico_lib.runner"]:
        return "-m", runner_main, args[2:]
    if args[:2] == ["-m", "trafico_lib.docs"]:
        return "-m", docs_main, args[2:]
    raise ValueError(f"not an entry point of trafico: {args!r}")


@contextmanager
def _captured_fds() -> Iterator[dict[str, str]]:
    """fd 1 and 2 (and ``sys.stdout``/``sys.stderr`` over them) into files; their text, decoded
    as a subprocess's ``text=True`` would, in the yielded dict once the block ends."""
    seen: dict[str, str] = {}
    saved_sys = sys.stdout, sys.stderr
    for stream in saved_sys:
        stream.flush()
    saved_fds = os.dup(1), os.dup(2)
    files = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
    try:
        os.dup2(files[0].fileno(), 1)
        os.dup2(files[1].fileno(), 2)
        sys.stdout = io.TextIOWrapper(open(1, "wb", closefd=False), encoding="utf-8", errors="replace",
                                      line_buffering=True)
        sys.stderr = io.TextIOWrapper(open(2, "wb", closefd=False), encoding="utf-8", errors="backslashreplace",
                                      line_buffering=True)
        yield seen
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except ValueError:  # closed by the command
                pass
        sys.stdout, sys.stderr = saved_sys
        os.dup2(saved_fds[0], 1)
        os.dup2(saved_fds[1], 2)
        for fd in saved_fds:
            os.close(fd)
        for name, f in zip(("stdout", "stderr"), files):
            f.seek(0)
            seen[name] = f.read().decode("utf-8", errors="replace")
            f.close()


@contextmanager
def _fresh_logging() -> Iterator[None]:
    from trafico_lib.cli.log import NOISY, SCRUB
    from trafico_lib.runner.runs import PROGRESS_LOGGER
    for name in (PROGRESS_LOGGER, *NOISY):  # known before the call, so put back after it
        logging.getLogger(name)
    manager = logging.Logger.manager
    loggers = [logging.getLogger(), *(x for x in list(manager.loggerDict.values()) if isinstance(x, logging.Logger))]
    saved = [(x, x.level, list(x.handlers), list(x.filters), x.propagate, x.disabled) for x in loggers]
    secrets, formatwarning = list(SCRUB.secrets), warnings.formatwarning
    root = logging.getLogger()
    root.handlers = []  # as at a process start: basicConfig installs the command's handler
    root.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for handler in root.handlers:  # the command's own (on the captured stderr)
            handler.close()
        for x, level, handlers, filters, propagate, disabled in saved:
            x.setLevel(level)
            x.handlers[:] = handlers
            x.filters[:] = filters
            x.propagate, x.disabled = propagate, disabled
        manager._clear_cache()
        SCRUB.secrets = secrets
        warnings.formatwarning = formatwarning


@contextmanager
def _process_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.resetwarnings()
        for action, category, module in reversed(_PROCESS_FILTERS):
            warnings.filterwarnings(action, category=category, module=module or "")

        def show(message, category, filename, lineno, file=None, line=None):
            (file or sys.stderr).write(warnings.formatwarning(message, category, filename, lineno, line))
        warnings.showwarning = show
        yield


@contextmanager
def _process_state(env: Mapping[str, str], cwd: Path, argv: list[str]) -> Iterator[None]:
    saved_env, saved_cwd, saved_argv = dict(os.environ), os.getcwd(), sys.argv
    saved_signals = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    sys.argv = argv
    try:
        yield
    finally:
        for s, handler in saved_signals.items():
            signal.signal(s, handler)
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run(args: Sequence[str], *, env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike | None = None) -> subprocess.CompletedProcess:
    """``args`` as a test would give them to ``[sys.executable, *args]`` (``update_traficov2.py``
    may be a path to it); ``env`` the whole environment (default: this process's); ``cwd`` the
    working folder (default: the project's)."""
    argv0, main, rest = _entry(args)
    code = 1
    with _captured_fds() as seen:
        with _process_state(dict(os.environ if env is None else env), Path(cwd or ROOT), [argv0, *rest]), \
                _fresh_logging(), _process_warnings():
            try:
                code = main(rest) or 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
                if exc.code is not None and not isinstance(exc.code, int):
                    print(exc.code, file=sys.stderr)
            except Exception:  # what a process would print before it ends with 1
                traceback.print_exc(file=sys.stderr)
                code = 1
    return subprocess.CompletedProcess([sys.executable, *map(str, args)], code, seen["stdout"], seen["stderr"])
