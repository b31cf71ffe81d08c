"""One error model and one secret scrubber for the whole library.

Every error trafico raises on purpose is a :class:`TraficoError` carrying one readable line:

* :class:`UsageError` (exit 2): bad usage or configuration; nothing ran.
  :class:`ConfigError` is the configuration branch of it.
* :class:`SyncFailed` (exit 1): a sync, a source or the database failed.
* :class:`TransientError` (exit 1 when it outlives its retries): worth another try;
  :class:`StoreUnavailable` is the store (the database, the Supabase project) not answering.

:func:`one_line` turns *any* exception into its line (ours as they are, others prefixed with
their type) and :func:`exit_code` into its exit code; the command line uses both and nothing
else. :func:`scrub` masks every form of credential in a text: the configured secret values
(plain, HTML- and JSON-escaped), the password of a URL (``user:***@host``), and
``password=…``/``pwd=…`` pairs of libpq and ODBC connection strings.
"""
from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Iterable

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


class StoreUnavailable(TransientError):
    """The store cannot be reached: the database refuses or times out the connection (or the
    embedded server does not start), the Supabase project's API does not answer (refused,
    timed out, its name not found, its gateway failing) once the client's retries are spent.
    Raised by both stores, handled once: the health check's block and the command line's
    exit code. The message names the store, never a secret."""


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
            f"no row was deactivated. {_really_gone(table)}")


def _really_gone(table: str) -> str:
    """How to let a refused full run through when the rows really left the source."""
    return (f"If those rows really left the source, run again with --allow-mass-deactivation "
            f"(or sync_settings.{table}.allow_mass_deactivation: true)")


class SourceShrank(SyncFailed):
    """A full run's source holds far fewer rows than at the table's last successful run (an empty
    or cut-short export, a truncated table): refused before anything is written."""

    def __init__(self, table: str, rows: int, previous: int, share: float):
        self.table, self.rows, self.previous, self.share = table, rows, previous, share
        super().__init__(
            f"{table}: refused: the source holds {rows} rows, {rows / max(previous, 1):.0%} of the {previous} it "
            f"held at the last successful run (it may lose at most max_deactivation_share {share:.0%}): it looks "
            f"empty or cut short; nothing was written. {_really_gone(table)}")


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
# Every pattern here is linear in the text: a scan starts only where a run of its characters
# starts (a lookbehind), and runs are consumed possessively, so no start rescans what another
# scanned (the old unanchored patterns rescanned the rest of a long word from each of its
# characters: 80 KB took seconds, 1 MB minutes). ``scripts/bench.py --scrub`` measures it.

# A word (a run of non-blanks) holding an @: the only place a URL's password can be.
_AT_WORD = re.compile(r"(?<!\S)(?=[^\s@]*+@)\S++")
# Where a URL's scheme ends: ``scheme://``, ``scheme:/``, ``scheme//`` (mistyped) or a bare ``//``.
_SCHEME_END = re.compile(r"(?<![A-Za-z0-9+.-])(?:[A-Za-z][A-Za-z0-9+.-]*+(?::/{1,2}|//)|//)")
_LEADING_SCHEME = re.compile(r"\s*+(?:[A-Za-z][A-Za-z0-9+.-]*+(?::/{1,2}|//)|//)?")
_USER = re.compile(r"[\w.%+-]+")
# password=..., pwd=... in libpq key=value and ODBC strings: quoted '…', {…} or up to a blank/semicolon
# (a braced value stops at the next {, so no scan crosses another: one holding a { is masked up to
# its first blank or semicolon)
_KV_PASSWORD = re.compile(
    r"(?i)(?P<head>\b(?:password|passwd|pwd|secret|apikey|api_key)\s*+=\s*+)"
    r"(?P<pw>'(?:[^'\\]|\\.)*'|\{(?:[^{}]|\}\})*\}|[^;\s]++)")
# JWTs (a key that travels in a header), wherever they show up
_JWT = re.compile(r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]{8,}+")
# what splits a password a URL parser misread (an unencoded @, /, :, ?, # or blank): each piece of
# at least FRAGMENT_MIN characters is masked on its own, wherever the parser's message put it
_URL_DELIMITERS = re.compile(r"[\s@/:?#%&=;,\[\]]+")
FRAGMENT_MIN = 3


def _mask_userinfo(word: str) -> str:
    """A word with an @: the password of its URL (``scheme://user:PW@host``, the scheme mistyped
    or missing: ``postgresql//``, ``postgresql:/``, ``user:PW@host``) masked. The password runs
    from the colon after the user to the word's last @ (a password may hold an unencoded @)."""
    at = word.rfind("@")
    head = word[:at]
    m = _SCHEME_END.search(head)
    if m:
        start = m.end()
        colon = head.find(":", start)
        if colon < 0 or "/" in head[start:colon]:
            return word
    else:
        start = len(head) - len(head.lstrip("\"'(<[{=,;"))
        colon = head.find(":", start)
        if colon < 0 or _USER.fullmatch(head[start:colon]) is None:
            return word
    if colon + 1 >= at:
        return word
    return head[:colon + 1] + MASK + word[at:]


def secret_forms(secrets: Iterable[str]) -> list[str]:
    """Each secret as written, without its surrounding blanks, as a repr/bytes escape shows it
    (``\\r``), HTML-escaped (each way nbconvert may) and JSON-escaped; longest first."""
    return list(_forms(tuple(secrets)))


@functools.lru_cache(maxsize=64)
def _forms(secrets: tuple[str, ...]) -> tuple[str, ...]:
    htmls = (lambda t: t, lambda t: html.escape(t, quote=True), lambda t: html.escape(t, quote=False),
             lambda t: html.escape(t, quote=False).replace('"', "&#34;").replace("'", "&#39;"))
    forms: set[str] = set()
    for s in secrets:
        if not s:
            continue
        variants = {s, s.strip(), s.encode("unicode_escape").decode("ascii")}
        if "://" not in s and "=" not in s:  # a password or key, not a connection string: its pieces too
            variants.update(password_fragments(s))
        for variant in variants:
            for h in htmls:
                forms.update({h(variant), json.dumps(h(variant))[1:-1]})
    return tuple(sorted((f for f in forms if f.strip()), key=len, reverse=True))


def scrub(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every credential masked as ``***`` (see the module's docstring); linear in
    the length of ``text``."""
    if not text:
        return text
    for form in _forms(tuple(secrets)):
        text = text.replace(form, MASK)
    if "@" in text:
        text = _AT_WORD.sub(lambda m: _mask_userinfo(m.group()), text)
    text = _KV_PASSWORD.sub(lambda m: m.group("head") + MASK, text)
    return _JWT.sub(MASK, text)


def _url_password(conninfo: str) -> str | None:
    """The password a person meant in a URL-like connection string, however mistyped: from the
    colon after the user to the last @ (libpq splits ``user:p@ss@host`` at the first @)."""
    scheme = _LEADING_SCHEME.match(conninfo)  # it matches an empty start too: never None
    rest = conninfo[scheme.end() if scheme else 0:]
    at = rest.rfind("@")
    if at < 0:
        return None
    user, colon, pw = rest[:at].partition(":")
    return pw if colon and pw and "=" not in user and " " not in user.strip() else None


def password_fragments(password: str) -> list[str]:
    """The pieces of a password between URL delimiters (at least FRAGMENT_MIN characters): what
    a parser that split the password at an unencoded @, / or blank still prints. Scrubbing
    masks them (:func:`secret_forms`); they are no secret of their own (a parameter may hold one)."""
    pieces = [p for p in _URL_DELIMITERS.split(password) if len(p) >= FRAGMENT_MIN]
    return pieces if len(pieces) > 1 or (pieces and pieces[0] != password) else []


def connection_secrets(conninfo: str | None) -> list[str]:
    """The secret parts of a connection string in any form (URL or libpq ``key=value``, well
    formed or mistyped): the whole string, its password as libpq reads it and as the person
    meant it (percent-decoded too); scrubbing also masks that password's pieces, which a
    mistyped URL puts in libpq's messages as a host or a database name."""
    if not conninfo:
        return []
    out = [conninfo]
    passwords = []
    try:
        from psycopg.conninfo import conninfo_to_dict
        pw = conninfo_to_dict(conninfo).get("password")
        if pw:
            passwords.append(str(pw))
    except Exception:  # malformed: what looks like a password
        passwords += [m.group("pw").strip("'{}") for m in _KV_PASSWORD.finditer(conninfo)]
    meant = _url_password(conninfo)
    if meant:
        passwords.append(meant)
    from urllib.parse import unquote
    out += [p for pw in passwords for p in (pw, unquote(pw))]
    return [s for s in dict.fromkeys(out) if s]


def misread_password(conninfo: str) -> bool:
    """Whether libpq reads another password than the person meant (a URL whose password holds
    an unencoded @, /, :, ?, # or a blank), or cannot read the string at all."""
    from urllib.parse import unquote
    try:
        from psycopg.conninfo import conninfo_to_dict
        read = str(conninfo_to_dict(conninfo).get("password") or "")
    except Exception:
        return True
    meant = _url_password(conninfo)
    return meant is not None and meant != "" and read != unquote(meant)


def describe_conninfo(conninfo: str) -> str:
    """A printable name for a connection string, never its password: ``host/dbname``; a string
    libpq cannot read, or reads with another password than meant, is named as such, with the
    expected form."""
    if misread_password(conninfo):
        return ("an unreadable database address (check TRAFICO_DATABASE_URL / database.url: it starts "
                "postgresql://, and @ / : ? # or blanks in its password are percent-encoded, @ as %40)")
    from psycopg.conninfo import conninfo_to_dict
    d = conninfo_to_dict(conninfo)
    host = str(d.get("host") or "local socket")
    if host.startswith("/"):
        host = "local socket"
    return scrub(f"{host}/{d.get('dbname') or 'postgres'}", connection_secrets(conninfo))
