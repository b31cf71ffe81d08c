"""The watch's loop: wait for a NOTIFY or the next probe, probe, run what changed.

Each watched table keeps, in memory, the probe of its source taken just before its last
successful run here (:attr:`WatchedTable.synced`). A table runs when a NOTIFY names its source,
or when a probe differs from that one; a probe equal to it means nothing changed since, and the
cycle writes nothing (once a minute at most it marks the table checked: ``checked_at``, what the
health check's lag counts from). At start every table runs once (catching up with what changed
while no watch ran).

A run is the table's ordinary run (its notebook, archived, or ``--no-notebook`` the library),
taking the store's lock (direct) or lease (REST) as ``make sync`` does, so a cron run of the same
table and a watch cycle never overlap: a cycle that finds the table busy says so and tries again
after the poll interval. A table whose run fails waits (:class:`~.backoff.Backoff`) before its
next try; the others keep their pace. The database going away is one line, and its return
another; meanwhile the watch tries to reconnect, and what changed meanwhile is found by the
first probes after.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..config import Config
from ..counts import plural, seconds_text
from ..errors import Interrupted, StoreUnavailable, TraficoError, TransientError, one_line
from ..stores import Store
from ..tables import TableSpec, get_table
from .backoff import Backoff
from .link import CHANNEL, DirectLink, Link, install_triggers
from .stop import Stop

if TYPE_CHECKING:
    from ..engine.probe import SourceProbe

CHECKED_EVERY = 60.0      # seconds between two checked_at marks of an unchanged table
RECONNECT_MAX = 10.0      # the longest wait between two reconnection attempts

#: (table, run id, mode, store) -> the run's result, shaped like ``RunResult.to_dict()``
RunTable = Callable[[str, str, str, Store], dict[str, Any]]
#: (text, run id or None): one line for people (the command line stamps it)
Say = Callable[[str, "str | None"], None]
LOST = (StoreUnavailable, TransientError)


def run_mode(synced: SourceProbe | None, now: SourceProbe | None) -> str:
    """The mode of the run that carries a change: ``full`` when rows may have left the source
    (fewer rows than at the last run here, or the rows changed but neither their count nor
    their newest change time did: an update that left the change time alone, or a delete with
    an insert), which only a full run deactivates or an incremental read by change time sees;
    else ``incremental``. A delete together with inserts of more rows between two probes
    waits for the nightly full run."""
    if synced is None or now is None:
        return "incremental"
    if now.rows < synced.rows:
        return "full"
    if now.digest != synced.digest and now.rows == synced.rows and now.changed_max == synced.changed_max:
        return "full"
    return "incremental"


@dataclass
class WatchedTable:
    spec: TableSpec
    updated_column: str | None
    backoff: Backoff
    notified: bool = False
    synced: SourceProbe | None = None   # the probe taken before its last successful run here
    pending: bool = True                # runs as soon as its backoff allows (at start: catch up)
    next_probe: float = 0.0
    checked: float | None = None        # when checked_at was last marked (monotonic)
    why: str = "start"                  # what made it pending, for its line


@dataclass
class Watcher:
    cfg: Config
    tables: list[WatchedTable]
    connect: Callable[[], Link]         # a new link (a new store too: an embedded server restarts)
    run_table: RunTable
    say: Say
    stop: Stop = field(default_factory=Stop)
    clock: Callable[[], float] = time.monotonic
    link: Link | None = None
    cycles: int = 0

    @classmethod
    def for_tables(cls, cfg: Config, names: Sequence[str], **kwargs) -> Watcher:
        w = cfg.watch
        tables = [WatchedTable(get_table(n), cfg.table(n).updated_column,
                               Backoff(base=w.poll_seconds, cap=w.max_backoff_seconds)) for n in names]
        return cls(cfg, tables, **kwargs)

    # ---- start ------------------------------------------------------------------------------

    def start(self, *, how: str) -> None:
        """Connect, create the NOTIFY triggers when asked (and possible), and say in one line
        which tables are notified and which polled (``how``: through the notebooks or not)."""
        self.link = self.connect()
        w = self.cfg.watch
        listens = isinstance(self.link, DirectLink) and self.link.listens
        missing: set[str] = set()
        if isinstance(self.link, DirectLink) and self.link.listens:
            for name, problem in install_triggers(self.link.store, [t.spec for t in self.tables]).items():
                if problem:
                    missing.add(name)
                    self.say(f"{name}: no NOTIFY trigger on its source ({problem}): polled", None)
        for t in self.tables:
            t.notified = listens and t.spec.name not in missing
        notified = [t.spec.name for t in self.tables if t.notified]
        polled = [t.spec.name for t in self.tables if not t.notified]
        parts = []
        if notified:
            parts.append(f"notified (LISTEN {CHANNEL}; probed every {seconds_text(w.notify_poll_seconds)} too): "
                         + ", ".join(notified))
        if polled:
            parts.append(f"polled every {seconds_text(w.poll_seconds)}: " + ", ".join(polled))
        why = self._why_polled()
        self.say(f"watch: {plural(len(self.tables), 'table')} on {self.link.store.name}, {how}; "
                 + "; ".join(parts) + (f" ({why})" if why and polled else ""), None)

    def _why_polled(self) -> str | None:
        link, w = self.link, self.cfg.watch
        if isinstance(link, DirectLink):
            if link.listens:
                return None
            if w.notify:
                return "watch.notify is on, but a transaction pooler drops a LISTEN"
            return "watch.notify is off"
        return "no LISTEN over the REST API" if w.notify else None

    # ---- the loop ---------------------------------------------------------------------------

    def run(self, *, cycles: int | None = None) -> str | None:
        """Cycle until a signal (or until ``cycles`` cycles in all, for tests); the signal's name,
        or None. The link stays open (:meth:`close`)."""
        try:
            while not self.stop.requested and (cycles is None or self.cycles < cycles):
                try:
                    self.cycle()
                except LOST as exc:
                    self.reconnect(exc)
                self.cycles += 1
        except Interrupted:
            pass
        return self.stop.signal

    def close(self) -> None:
        if self.link is not None:
            self.link.close()
            self.link = None

    def _due(self, t: WatchedTable) -> float:
        return t.backoff.next_at if t.pending else t.next_probe

    def cycle(self) -> None:
        """Wait until a table is due (or a NOTIFY), probe the tables due, run the changed ones."""
        link = self.link
        assert link is not None
        wait = min(self._due(t) for t in self.tables) - self.clock()
        notified = link.wait(wait) if wait > 0 else set()
        for t in self.tables:
            if t.spec.source in notified and not t.pending:
                t.pending, t.why = True, "notified"
        now = self.clock()
        for t in self.tables:
            if not t.pending and now >= t.next_probe:
                self._probe(link, t, now)
        for t in self.tables:
            if self.stop.requested:
                return
            if t.pending and t.backoff.ready(self.clock()):
                self._sync(link, t)

    def _probe(self, link: Link, t: WatchedTable, now: float) -> None:
        probe = self._probe_of(link, t)
        t.next_probe = now + self._probe_every(t)
        if probe is None or probe != t.synced:
            t.pending, t.why = True, "changed"
        elif t.checked is None or now - t.checked >= CHECKED_EVERY:
            link.mark_checked(t.spec)
            t.checked = now

    def _probe_every(self, t: WatchedTable) -> float:
        """Seconds between two probes of ``t``: the poll, or the slower safety net of a notified table."""
        w = self.cfg.watch
        return w.notify_poll_seconds if t.notified else w.poll_seconds

    @staticmethod
    def _probe_of(link: Link, t: WatchedTable) -> SourceProbe | None:
        """The source's probe; None (the table runs, and its run says what is wrong) when the
        database refuses it for this table. The database gone raises (the outage's line)."""
        try:
            return link.probe(t.spec, t.updated_column)
        except LOST:
            raise
        except TraficoError:
            return None

    def _sync(self, link: Link, t: WatchedTable) -> None:
        from ..pipeline import new_run_id
        before = self._probe_of(link, t)
        mode = run_mode(t.synced, before)
        run_id = new_run_id()
        with self.stop.holding():
            try:
                res = self.run_table(t.spec.name, run_id, mode, link.store)
            except LOST:
                raise
            except Exception as exc:  # (a run records its own failures; this one stopped before it could)
                res = {"table": t.spec.name, "status": "error", "error": one_line(exc, self.cfg.secrets)}
        now = self.clock()
        status = res.get("status")
        if status == "ok":
            from ..runner.runs import finish_line
            where = res.get("html") or res.get("notebook")
            line = finish_line(res, self.cfg.shown(where) if where else None).removeprefix(f"{t.spec.name}: ")
            self.say(f"{t.spec.name} ({t.why}, {mode}): {line}", run_id)
            if t.backoff.failures:
                self.say(f"{t.spec.name}: back to normal after {plural(t.backoff.failures, 'failed run')}", run_id)
            t.synced, t.pending, t.checked = before, False, now
            t.next_probe = now + self._probe_every(t)
            t.backoff.reset()
            return
        error = str(res.get("error") or status)
        for prefix in (f"table {t.spec.name}: ", f"{t.spec.name}: ", f"{t.spec.target}: "):  # said once, first
            error = error.removeprefix(prefix)
        if status == "locked":
            t.backoff.later(now, self.cfg.watch.poll_seconds)
            self.say(f"{t.spec.name}: busy, not run this cycle: {error}; trying again in "
                     f"{seconds_text(self.cfg.watch.poll_seconds)}", run_id)
            return
        self._probe_of(link, t)  # the database gone: the outage's line, not the table's failure
        wait = t.backoff.fail(now)
        capped = " (the longest wait: watch.max_backoff_seconds)" if wait >= self.cfg.watch.max_backoff_seconds else ""
        self.say(f"{t.spec.name}: failed ({plural(t.backoff.failures, 'time')} in a row): {error}; "
                 f"next try in {seconds_text(wait)}{capped}", run_id)

    def reconnect(self, exc: BaseException) -> None:
        """One line when the database goes, one when it is back; reconnect attempts between."""
        started = self.clock()
        self.say(f"watch: lost the database ({one_line(exc, self.cfg.secrets)}); reconnecting", None)
        if self.link is not None:
            try:
                self.link.close()
            except Exception:  # noqa: BLE001 - a connection already gone
                pass
            self.link = None
        wait = min(self.cfg.watch.poll_seconds, RECONNECT_MAX)
        while True:
            time.sleep(wait)
            try:
                self.link = self.connect()
                break
            except LOST:
                wait = min(wait * 2, RECONNECT_MAX, self.cfg.watch.max_backoff_seconds)
        for t in self.tables:  # what changed meanwhile (its NOTIFY went unheard): probed now
            t.next_probe = 0.0
        self.say(f"watch: the database is back after {seconds_text(self.clock() - started)} (reconnected)", None)
