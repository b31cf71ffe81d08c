"""``trafico watch`` (``make watch``): one long-lived process that keeps TráficoV2 seconds behind
its sources (README "Seconds behind the sources", docs/architecture.md §8).

It keeps its imports, its connection and (through the notebooks) one warm kernel; it wakes on a
NOTIFY from a trigger on a source table (``watch.notify``, direct connection) or on a cheap change
probe every ``watch.poll_seconds`` (``Store.source_probe``: count, newest change time and a hash
aggregate computed in the database; over REST through the schema's RPC), and runs the changed
table. Cron keeps the nightly full run, the health check and the prune; the store's lock (direct)
or lease (REST) keeps a watch cycle and a cron run of one table apart.

Modules: ``loop`` (the cycle), ``link`` (probe, LISTEN, checked mark, the NOTIFY triggers),
``backoff``, ``stop`` (SIGTERM/SIGINT), ``runs`` (what a cycle runs).
"""
from __future__ import annotations

from collections.abc import Sequence

from ..config import Config
from ..stores import open_store
from .backoff import Backoff
from .link import CHANNEL, TRIGGER, DirectLink, Link, RestLink, install_triggers, open_link, remove_triggers
from .loop import CHECKED_EVERY, Say, Watcher, WatchedTable, run_mode
from .runs import library_run, notebook_run
from .stop import Stop


def watch(cfg: Config, tables: Sequence[str], *, say: Say, notebook: bool = True, config_path: str | None = None,
          cycles: int | None = None) -> str | None:
    """Watch ``tables`` until SIGTERM/SIGINT (or ``cycles`` cycles); returns the signal's name
    (None after ``cycles``). Through the notebooks, one kernel is kept for the whole watch."""
    stop = Stop()
    stop.install()

    def connect() -> Link:
        return open_link(open_store(cfg), notify=cfg.watch.notify)

    def loop(run) -> str | None:
        w = Watcher.for_tables(cfg, tables, connect=connect, run_table=run, say=say, stop=stop)
        try:
            w.start(how="through the notebooks (one kernel kept)" if notebook else "--no-notebook")
            return w.run(cycles=cycles)
        finally:
            w.close()

    # what a run of a changed table imports (validation: Great Expectations, seconds), imported
    # once now, so the first change does not pay it: here, or in the kept kernel (in the background)
    if not notebook:
        import great_expectations  # noqa: F401
        return loop(library_run(cfg))
    from ..runner import kernel_session
    from ..runner.session import GX_IMPORTS, SYNC_IMPORTS
    with kernel_session(cfg) as session:
        session.warm([*SYNC_IMPORTS, *GX_IMPORTS])
        return loop(notebook_run(cfg, config_path, session))

__all__ = ["Backoff", "CHANNEL", "CHECKED_EVERY", "DirectLink", "Link", "RestLink", "Say", "Stop", "TRIGGER",
           "Watcher", "WatchedTable", "install_triggers", "library_run", "notebook_run", "open_link",
           "remove_triggers", "run_mode", "watch"]
