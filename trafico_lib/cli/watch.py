"""``trafico watch`` and ``python -m trafico_lib.runner watch`` (``make watch``): the command.

Every line it prints goes to stdout stamped (``<time> <run id> <what>``; the watch's own lines
carry the id it took at start), as the cron targets' lines are, so ``make watch >> watch.log`` and the systemd journal read alike; warnings and the
one-line error of a failed start go to stderr. Exit 0 when stopped by SIGTERM or SIGINT (the
table in hand finished first), 1 a start that failed (the database unreachable, no schema), 2
bad usage or configuration.
"""
from __future__ import annotations

import logging
import sys

from ..errors import EXIT_OK, Interrupted
from ..runner.runs import PROGRESS_LOGGER
from .commands import selected_tables
from .log import stamped


class Say:
    """A watch's lines: ``<time> <run id> <what>``; its own lines (start, the database, the stop)
    carry the watch's id, a table's run its run's, so every line has the shape of cron's."""

    def __init__(self, watch_id: str):
        self.watch_id = watch_id

    def __call__(self, text: str, run_id: str | None = None) -> None:
        print(stamped(text, run_id or self.watch_id), flush=True)


def cmd_watch(cfg, args) -> int:
    from ..pipeline import new_run_id
    from ..watch import remove_triggers, watch
    say = Say(new_run_id())
    names = [t for t in selected_tables(args.table) if cfg.table(t).enabled]
    if args.remove_triggers:
        from ..stores import direct_store
        from ..tables import get_table
        store = direct_store(cfg, "--remove-triggers drops the NOTIFY triggers from the source tables: it needs "
                                  "database.url (or TRAFICO_DATABASE_URL) or the embedded database, not the REST API")
        for name, problem in remove_triggers(store, [get_table(n) for n in selected_tables(args.table)]).items():
            say(f"{name}: " + (f"NOTIFY trigger not removed: {problem}" if problem else
                               f"no NOTIFY trigger on {get_table(name).source} (removed, or never there)"))
        return EXIT_OK
    csv = [n for n in names if cfg.table(n).source == "csv"]
    if csv:  # a file has no probe: cron's runs keep it
        say(f"not watched (a CSV source has no change probe; cron's runs keep it): {', '.join(csv)}")
    names = [n for n in names if n not in csv]
    if not names:
        say("watch: no table to watch (every selected table is disabled or read from a CSV file)")
        return EXIT_OK
    # the watch says one line per run (the run id, the table, what it did): the runner's own
    # progress lines would say it twice
    logging.getLogger(PROGRESS_LOGGER).setLevel(logging.WARNING)
    try:
        signal = watch(cfg, names, say=say, notebook=not args.no_notebook, config_path=args.config)
    except Interrupted as exc:  # while the kernel started or stopped
        signal = exc.name
    say(f"watch: stopped by {signal}" if signal else "watch: stopped")
    return EXIT_OK


def main(argv: list[str], prog: str = "trafico watch") -> int:
    from .exits import run_with_config
    from .log import setup_logging
    from .parser import build_watch_parser
    args = build_watch_parser(prog).parse_args(argv)
    setup_logging(args.verbose)
    return run_with_config(args.config, lambda cfg: cmd_watch(cfg, args), verbose=args.verbose)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
