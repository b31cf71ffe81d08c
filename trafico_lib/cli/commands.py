"""``python update_traficov2.py`` and the ``trafico`` console script (docs/architecture.md §8): the commands.

Each command takes the loaded configuration and the parsed flags, prints its output and
returns an exit code; errors are raised and turned into one line by :mod:`.exits`.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from ..errors import EXIT_FAILED, EXIT_OK, UsageError
from ..paths import shown_path
from ..runner.runs import finish_line, progress_log
from ..tables import TABLES, get_table
from .exits import run_with_config
from .log import setup_logging
from .output import format_back_propagation, format_summary, print_json
from .parser import build_parser


def selected_tables(table: str | None) -> list[str]:
    """Every table, or the one named (by short, source or target name); a bad name is usage."""
    if not table:
        return list(TABLES)
    try:
        return [get_table(table).name]
    except KeyError:
        raise UsageError(f"unknown table {table!r}; valid tables: {', '.join(TABLES)}") from None


def cmd_init_db(cfg, args) -> int:
    from ..schema import adopted_tables, migrations
    from ..stores import direct_store
    from ..stores.rest.store import NO_SCHEMA_WRITES
    store = direct_store(cfg, NO_SCHEMA_WRITES)
    applied = store.init_schema({n: cfg.watched_fields(n) for n in TABLES})
    total = len(migrations())
    with store.transaction() as conn:
        adopted = adopted_tables(conn)
    if args.json:
        print_json({"database": store.name, "store": store.kind, "applied": applied, "migrations": total,
                    "adopted": adopted})
    else:
        print(f"Schema on {store.name}: {len(applied)} migration(s) applied now"
              f"{' (' + ', '.join(applied) + ')' if applied else ''}; {total} in total; up to date.")
        if adopted:
            print(f"Adopted in place (made by the old tool; columns added, none dropped or retyped, access "
                  f"unchanged): {', '.join(adopted)}. The next sync matches their rows to the sources by key.")
    return EXIT_OK


def cmd_load_samples(cfg, args) -> int:
    from ..sample import load_samples
    from ..stores import direct_store
    store = direct_store(cfg, "loading the sample CSVs writes the source tables directly: it needs database.url "
                              "(or TRAFICO_DATABASE_URL), not the REST API")
    with store.transaction() as conn:
        counts = load_samples(conn, cfg)
    if args.json:
        print_json({"loaded": counts})
    else:
        print(f"Loaded the sample CSVs from {shown_path(cfg.resolve(cfg.csv_sources.data_path))} into {store.name}:")
        for name, n in counts.items():
            print(f"  {name}: {n} rows")
    return EXIT_OK


def cmd_sync(cfg, args) -> int:
    from ..pipeline import new_run_id
    tables = [t for t in selected_tables(args.table) if cfg.table(t).enabled]
    run_id = args.run_id or new_run_id()  # one id for every table and every line printed
    if args.no_notebook:
        from ..pipeline import check_settings, run_table
        from ..stores import open_store
        store = open_store(cfg)
        check_settings(cfg, store, tables)
        tty = sys.stderr.isatty()  # a progress bar; a log file gets pipeline.PROGRESS_LOGGER's lines
        results = []
        for name in tables:
            how = f"{args.mode}{', dry-run' if args.dry_run else ''}"
            progress_log.info("%s %s: started (%s, --no-notebook)", run_id, name, how)
            res = run_table(name, mode=args.mode, dry_run=args.dry_run, cfg=cfg, store=store,
                            run_id=run_id, progress=not args.json and tty,
                            allow_mass_deactivation=args.allow_mass_deactivation)
            results.append(res.to_dict())
            progress_log.info("%s %s", run_id, finish_line(results[-1]))
    else:
        from ..runner import run_sync_notebooks
        from ..stores import open_store
        results = run_sync_notebooks(cfg, tables, mode=args.mode, dry_run=args.dry_run,
                                     config_path=args.config, run_id=run_id,
                                     allow_mass_deactivation=args.allow_mass_deactivation)
        store = open_store(cfg)
    if args.json:
        print_json({"store": store.name, "results": results})
    else:
        print(format_summary(results, dry_run=args.dry_run, store=store.name, run_id=run_id,
                             no_notebook=args.no_notebook))
    # the Data Docs site after every run (a dry run writes nothing; a run in which every table was
    # unchanged, its log rows only, validated nothing and leaves it as it is); never fails the run
    if not args.dry_run and not all(r.get("unchanged_since") for r in results):
        from ..docs import refresh_docs
        refresh_docs(cfg, run_id=run_id, command="sync")
    return EXIT_OK if all(r.get("status") in ("ok", "dry-run") for r in results) else EXIT_FAILED


def cmd_back_propagate(cfg, args) -> int:
    only = selected_tables(args.table)[0] if args.table else None
    from ..pipeline import new_run_id
    run_id = args.run_id or new_run_id()
    if args.no_notebook:
        from ..pipeline import back_propagate, back_propagation_fields
        results = back_propagate(cfg, back_propagation_fields(cfg, only), run_id=run_id, dry_run=args.dry_run)
        failed, where = any(r.get("status") != "ok" for r in results), None
    else:  # the back_propagate notebook, archived
        from ..runner import run_back_propagate_notebook
        from ..runner.runs import rendering
        results, run = run_back_propagate_notebook(cfg, only, dry_run=args.dry_run, config_path=args.config,
                                                   run_id=run_id)
        failed, where = not run.ok, rendering(run)
    if args.json:
        print_json({"results": results})
    else:
        print(format_back_propagation(results, dry_run=args.dry_run, run_id=run_id, no_notebook=args.no_notebook,
                                      where=where))
    return EXIT_FAILED if failed else EXIT_OK


def cmd_prune(cfg, args) -> int:
    from ..retention import prune
    res = prune(cfg, dry_run=args.dry_run)
    if args.json:
        print_json(res.to_dict())
    else:
        print(res.summary())
    return EXIT_OK


def cmd_health(cfg, args) -> int:
    from ..docs import refresh_docs
    from ..health import run_health_check
    code = run_health_check(cfg, as_json=args.json)
    refresh_docs(cfg, run_id=args.run_id, command="health check")  # the Data Docs site; never fails the check
    return code


# the commands one invocation may ask for (``--init-db`` may come before any but --print-sql)
ACTIONS = {"print_sql": "--print-sql", "load_samples": "--load-samples", "prune": "--prune",
           "health_check": "--health-check", "back_propagate": "--back-propagate"}
# the flags that mean something to each command ("sync": none of ACTIONS)
APPLIES = {"--table": ("sync", "back_propagate"), "--mode": ("sync",),
           "--dry-run": ("sync", "back_propagate", "prune"), "--allow-mass-deactivation": ("sync",)}


def check_flags(args) -> None:
    """Flags that contradict each other, or that the chosen command would silently ignore,
    are a usage error (exit 2) before anything runs; a bad --table is named whatever the command."""
    chosen = [a for a in ACTIONS if getattr(args, a)]
    if len(chosen) > 1:
        raise UsageError(f"{' and '.join(ACTIONS[a] for a in chosen)} cannot run together; run them one at a time")
    if args.print_sql and args.init_db:
        raise UsageError("--print-sql and --init-db cannot run together: --print-sql only prints the schema")
    command = chosen[0] if chosen else ("init_db" if args.init_db else "sync")
    given = {"--table": args.table is not None, "--mode": args.mode is not None, "--dry-run": args.dry_run,
             "--allow-mass-deactivation": args.allow_mass_deactivation}
    if args.table is not None:
        selected_tables(args.table)
    for flag, used in given.items():
        if used and command not in APPLIES[flag]:
            what = ACTIONS.get(command) or ("--init-db" if command == "init_db" else "a sync")
            raise UsageError(f"{flag} does not apply to {what}")


def run(cfg, args) -> int:
    """Dispatch the parsed flags; returns the exit code (errors propagate)."""
    check_flags(args)
    args.mode = args.mode or "incremental"
    if args.print_sql:
        from ..schema import render_sql
        sys.stdout.write(render_sql({n: cfg.watched_fields(n) for n in TABLES}))  # as --init-db applies it
        return EXIT_OK
    if args.init_db:
        code = cmd_init_db(cfg, args)
        if code != EXIT_OK or not any(getattr(args, a) for a in ACTIONS):
            return code
    if args.load_samples:
        return cmd_load_samples(cfg, args)
    if args.prune:
        return cmd_prune(cfg, args)
    if args.health_check:
        return cmd_health(cfg, args)
    if args.back_propagate:
        return cmd_back_propagate(cfg, args)
    return cmd_sync(cfg, args)


def main(argv: Sequence[str] | None = None, prog: str = "trafico") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["watch"]:  # ``trafico watch``: the long-lived command (cli/watch.py)
        from .watch import main as watch_main
        return watch_main(argv[1:], prog=f"{prog} watch")
    args = build_parser(prog).parse_args(argv)
    setup_logging(args.verbose, json=args.json)
    # stdout is data for --json and --print-sql (the schema pasted into Supabase): notices go to stderr
    return run_with_config(args.config, lambda cfg: run(cfg, args), verbose=args.verbose,
                           json=args.json or args.print_sql)
