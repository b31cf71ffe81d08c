"""Supabase's REST API through supabase-py, with one policy for failures (docs/architecture.md §6).

* **Transient** failures are retried by the one retry policy (``engine/retry.py``: why a call
  is retried here and a run again above it), and only for calls that are safe to repeat
  (reads, and writes the caller marks idempotent): a connection that fails or drops, a read
  timeout, and the gateway's 502/503/504/520 (each a TransientError: :class:`Unavailable`,
  or StoreUnavailable below). supabase-py's own retry is off.
* **Data and permission errors** (4xx, PostgreSQL's SQLSTATE in ``code``) are never retried:
  they become :class:`RestError` with the server's message, one line, the key scrubbed.
* A project that cannot be reached (connection refused or timed out, its name not found) is
  :class:`~trafico_lib.errors.StoreUnavailable` once the retries are spent, as on the direct
  path: ``cannot connect to Supabase REST API (<host>): …``. :class:`Unavailable` (the API or
  its gateway failing) is one too.

The HTTP status would be lost inside supabase-py's ``APIError`` (it keeps only the JSON body),
so the store's own httpx client raises :class:`Unavailable` from a response hook on the
gateway's statuses before supabase-py reads the body.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

import httpx

from ...engine.retry import retrying
from ...errors import StoreUnavailable, SyncFailed, scrub

TRANSIENT_STATUS = frozenset({502, 503, 504, 520})

T = TypeVar("T")


class RestError(SyncFailed):
    """The REST API refused a call (data, permission, schema): not worth repeating."""

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        self.code = code


class Unavailable(StoreUnavailable):
    """The API or its gateway could not answer now (connection, timeout, 502/503/504/520)."""


def _on_response(response: httpx.Response) -> None:
    if response.status_code in TRANSIENT_STATUS:
        raise Unavailable(f"Supabase answered HTTP {response.status_code} for {response.request.method} "
                          f"{response.request.url.path}")


class RestClient:
    """One project's API: ``url`` (``https://<ref>.supabase.co``) and a key (kept secret)."""

    def __init__(self, url: str, key: str, *, timeout: float = 60.0, attempts: int = 3,
                 secrets: list[str] | None = None):
        from supabase import ClientOptions, create_client
        self.url, self.attempts = url.rstrip("/"), attempts
        self.name = f"Supabase REST API ({urlparse(self.url).netloc})"  # printable: the project's host
        self._secrets = [key, *(secrets or [])]
        self._http = httpx.Client(timeout=timeout, event_hooks={"response": [_on_response]})
        try:
            self._client = create_client(self.url, key, options=ClientOptions(
                postgrest_client_retry=False, httpx_client=self._http, auto_refresh_token=False,
                persist_session=False))
        except Exception as exc:  # supabase-py checks the URL and the key's form
            raise RestError(f"Supabase client: {self.scrub(str(exc))}") from None

    def scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def table(self, name: str):
        return self._client.table(name)

    def rpc(self, name: str, params: dict[str, Any] | None = None):
        return self._client.rpc(name, params or {})

    def api_description(self) -> dict:
        """The API's OpenAPI document (PostgREST's root): the tables it serves and their columns."""
        resp = self._http.get(f"{self.url}/rest/v1/", headers={"apikey": self._secrets[0],
                                                              "Authorization": f"Bearer {self._secrets[0]}",
                                                              "Accept": "application/openapi+json"})
        if resp.status_code >= 400:
            raise RestError(f"HTTP {resp.status_code}: {self.scrub(resp.text[:200])}",
                            code=str(resp.status_code))
        return resp.json()

    def call(self, request: Callable[[], T], *, what: str, idempotent: bool = True) -> T:
        """Run ``request`` (a function that builds and executes one supabase-py call), retrying
        transient failures when ``idempotent``; errors become one scrubbed line naming ``what``."""
        from postgrest.exceptions import APIError

        def once() -> T:
            try:
                return request()
            except APIError as exc:
                raise RestError(f"{what}: {self.scrub(_api_message(exc))}", code=exc.code) from None
            except Unavailable as exc:
                raise Unavailable(f"{what}: {self.scrub(str(exc))}") from None
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:  # no connection at all: the direct path's error
                raise StoreUnavailable(f"cannot connect to {self.name}: {type(exc).__name__}: "
                                       f"{self.scrub(str(exc)) or 'no answer'} ({what})") from None
            except httpx.TransportError as exc:
                raise Unavailable(f"{what}: {type(exc).__name__}: {self.scrub(str(exc)) or 'no answer'}") from None

        if not idempotent:
            return once()
        return retrying(self.attempts)(once)

    def call_rpc(self, name: str, params: dict[str, Any], *, what: str, idempotent: bool = True) -> Any:
        """One schema function (``POST /rpc/<name>``) through :meth:`call`: its JSON answer."""
        return self.call(lambda: self.rpc(name, params).execute().data, what=what, idempotent=idempotent)

    def close(self) -> None:
        self._http.close()


def _api_message(exc) -> str:
    parts = [exc.message or "", f"({exc.code})" if exc.code else ""]
    text = " ".join(p for p in parts if p).strip()
    return " ".join(text.split()) or "the API refused the call"


def api_time(value):
    """A timestamptz as the API writes it (ISO 8601), as the direct path reads it (None stays)."""
    from datetime import datetime
    return datetime.fromisoformat(value) if isinstance(value, str) else value
