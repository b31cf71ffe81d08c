"""One error model and one secret scrubber for the whole library.

Every error trafico raises on purpose is a :class:`TraficoError` carrying one readable line:

* :class:`UsageError` (exit 2): bad usage or configuration; nothing ran.
  :class:`ConfigError` is the configuration branch of it.
* :class:`SyncFailed` (exit 1): a sync, a source or the database failed.
* :class:`TransientError` (exit 1 when it outlives its retries): worth another try.

:func:`one_line` turns *any* exception into its line (ours as they are, others prefixed with
their type) and :func:`exit_code` into its exit code; the command line uses both and nothing
else. :func:`scrub` masks every form of credential in a text: the configured secret values
(plain, HTML- and JSON-escaped), the password of a URL (``user:***@host``), and
``password=…``/``pwd=…`` pairs of libpq and ODBC connection strings.
"""
from __future__ import annotations

import html
import json
import re
from typing import Iterable

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
MASK = "***"


class TraficoError(Exception):
    """Base of every error trafico raises on purpose; ``str()`` is one readable line."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str = ""):
        super().__init__(_first_line(str(message)) or type(self).__name__)


class UsageError(TraficoError):
    """Bad usage or configuration (exit 2): nothing ran."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration problem: the file, the key path inside it and what was expected."""


class SyncFailed(TraficoError):
    """A table's run, a source or the database failed (exit 1)."""


class TransientError(SyncFailed):
    """A fault worth retrying (connection lost, server busy); exit 1 once retries are spent."""


class TableLocked(SyncFailed):
    """Another run holds the table; nothing was written."""


class SchemaMissing(SyncFailed):
    """The database (or Supabase project) has no trafico schema, or an older one."""


class MassDeactivation(SyncFailed):
    """A full run would deactivate more of the table than its ``max_deactivation_share``
    (an empty or cut-short source, most likely); refused, no row deactivated."""

    def __init__(self, table: str, gone: int, active: int, share: float):
        self.table, self.gone, self.active, self.share = table, gone, active, share
        super().__init__(
            f"{table}: refused to deactivate {gone} of its {active} active rows ({gone / max(active, 1):.0%}, "
            f"more than max_deactivation_share {share:.0%}): the source looks empty or cut short; "
            f"no row was deactivated. If those rows really left the source, run again with "
            f"--allow-mass-deactivation (or sync_settings.{table}.allow_mass_deactivation: true)")


class SourceShrank(SyncFailed):
    """A full run's source holds far fewer rows than at the table's last successful run (an empty
    or cut-short export, a truncated table): refused before anything is written."""

    def __init__(self, table: str, rows: int, previous: int, share: float):
        self.table, self.rows, self.previous, self.share = table, rows, previous, share
        super().__init__(
            f"{table}: refused: the source holds {rows} rows, {rows / max(previous, 1):.0%} of the {previous} it "
            f"held at the last successful run (it may lose at most max_deactivation_share {share:.0%}): it looks "
            f"empty or cut short; nothing was written. If those rows really left the source, run again with "
            f"--allow-mass-deactivation (or sync_settings.{table}.allow_mass_deactivation: true)")


# ---- one line, one exit code -----------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """Text without terminal colour codes (IPython's tracebacks carry them)."""
    return _ANSI.sub("", text)


def _first_line(text: str) -> str:
    for line in strip_ansi(text).strip().splitlines():
        if line.strip():
            return line.strip()
    return ""


def one_line(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """An exception as one readable line, scrubbed: ours as they are, others with their type."""
    text = _first_line(str(exc))
    if not isinstance(exc, TraficoError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return scrub(text, secrets)


def exit_code(exc: BaseException) -> int:
    """2 for usage/configuration, 128 + the signal for a stop (SIGINT 130, SIGTERM 143), 1 for
    anything else that went wrong."""
    if isinstance(exc, Interrupted):
        return 128 + exc.signum
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return exc.exit_code if isinstance(exc, TraficoError) else EXIT_FAILED


class Interrupted(KeyboardInterrupt):
    """The process was told to stop (SIGTERM from cron or systemd, SIGINT from Ctrl-C): the
    run unwinds as from Ctrl-C, its open transaction rolled back, an ERROR row recorded."""

    def __init__(self, signum: int):
        import signal
        self.signum = signum
        self.name = signal.Signals(signum).name
        super().__init__(self.name)


def stop_on_signals():
    """From now on SIGTERM (and SIGINT) raise :class:`Interrupted` in the main thread, so the
    run unwinds (rolls back, records, says one line) instead of dying mid-write; returns the
    handlers it replaced."""
    import signal

    def handler(signum, frame):
        raise Interrupted(signum)
    return {s: signal.signal(s, handler) for s in (signal.SIGTERM, signal.SIGINT)}


# ---- secrets -------------------------------------------------------------------------------------

# scheme://user:password@host -> scheme://user:***@host (the password may hold anything but @ and /)
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]+)(?=@)")
# password=..., pwd=... in libpq key=value and ODBC strings: quoted '…', {…} or up to a blank/semicolon
_KV_PASSWORD = re.compile(
    r"(?i)(?P<head>\b(?:password|passwd|pwd|secret|apikey|api_key)\s*=\s*)"
    r"(?P<pw>'(?:[^'\\]|\\.)*'|\{(?:[^}]|\}\})*\}|[^;\s]+)")
# Authorization / apikey headers and JWTs (a key that travels in a header)
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b")


def secret_forms(secrets: Iterable[str]) -> list[str]:
    """Each secret as written, HTML-escaped (each way nbconvert may) and JSON-escaped; longest first."""
    htmls = (lambda t: t, lambda t: html.escape(t, quote=True), lambda t: html.escape(t, quote=False),
             lambda t: html.escape(t, quote=False).replace('"', "&#34;").replace("'", "&#39;"))
    forms: set[str] = set()
    for s in secrets:
        if not s:
            continue
        for h in htmls:
            forms.update({h(s), json.dumps(h(s))[1:-1]})
    return sorted((f for f in forms if f), key=len, reverse=True)


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every credential masked as ``***`` (see the module's docstring)."""
    if not text:
        return text
    for form in secret_forms(secrets):
        text = text.replace(form, MASK)
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    text = _KV_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _JWT.sub(MASK, text)


def connection_secrets(conninfo: str | None) -> list[str]:
    """The secret parts of a connection string in any form (URL or libpq ``key=value``):
    the whole string and its password, so either can be scrubbed wherever it shows up."""
    if not conninfo:
        return []
    out = [conninfo]
    try:
        from psycopg.conninfo import conninfo_to_dict
        pw = conninfo_to_dict(conninfo).get("password")
    except Exception:  # malformed: mask what looks like a password, and the whole string
        pw = None
        for m in (*_URL_PASSWORD.finditer(conninfo), *_KV_PASSWORD.finditer(conninfo)):
            out.append(m.group("pw").strip("'{}"))
    if pw:
        out.append(str(pw))
    return [s for s in dict.fromkeys(out) if s]


def describe_conninfo(conninfo: str) -> str:
    """A printable name for a connection string, never its password: ``host/dbname``."""
    try:
        from psycopg.conninfo import conninfo_to_dict
        d = conninfo_to_dict(conninfo)
    except Exception:
        return "an unreadable database address (check TRAFICO_DATABASE_URL / database.url)"
    host = str(d.get("host") or "local socket")
    if host.startswith("/"):
        host = "local socket"
    return f"{host}/{d.get('dbname') or 'postgres'}"
