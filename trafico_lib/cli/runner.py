"""``python -m trafico_lib.runner sync|back-propagate|health``: the Makefile's command line.

The runner itself (``trafico_lib.runner``) is a library; this module is its command line.
"""
from __future__ import annotations

import sys
from collections.abc import Sequence

from ..errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from .commands import selected_tables
from .exits import fail, run_with_config
from .log import setup_logging
from .output import format_archive, format_back_propagation, format_summary, print_json
from .parser import build_runner_parser


def _sync(cfg, args, params: dict) -> int:
    from ..runner import check_parameters, run_sync_notebooks
    table, dry_run, config_path = _common(args, params)
    mode = args.mode or params.get("mode", "incremental")
    allow = _switch(args, params, "allow_mass_deactivation")
    check_parameters({"mode": mode, "dry_run": dry_run, "allow_mass_deactivation": allow}, cfg.secrets)
    results = run_sync_notebooks(cfg, selected_tables(table), mode=mode, dry_run=dry_run,
                                 config_path=config_path, run_id=args.run_id, allow_mass_deactivation=allow)
    failed = [r for r in results if r.get("status") not in ("ok", "dry-run")]
    from ..stores import open_store
    store = open_store(cfg).name
    if args.json:
        print_json({"store": store, "results": results})
    else:
        print(format_summary(results, dry_run=dry_run, store=store))
    for line in dict.fromkeys(r["error"] or f"{r['table']}: {r['status']}" for r in failed):  # "not run" once
        fail(line)
    _archive_line(args, [r.get("notebook") for r in results], dry_run=dry_run, run_id=args.run_id)
    # the Data Docs site after every run (a dry run writes nothing; a run in which every table was
    # unchanged, its log rows only, validated nothing and leaves it as it is); never fails the run
    if not dry_run and not all(r.get("unchanged_since") for r in results):
        from ..docs import refresh_docs
        refresh_docs(cfg, run_id=next((r["run_id"] for r in results if r.get("run_id")), args.run_id), command="sync")
    return EXIT_FAILED if failed else EXIT_OK


def _back_propagate(cfg, args, params: dict) -> int:
    from ..runner import run_back_propagate_notebook
    from ..runner.runs import rendering
    table, dry_run, config_path = _common(args, params)
    if table:
        table = selected_tables(table)[0]
    results, run = run_back_propagate_notebook(cfg, table, dry_run=dry_run, config_path=config_path,
                                               run_id=args.run_id)
    if args.json:
        print_json({"results": results, "notebook": str(run.output) if run.output else None})
    else:
        print(format_back_propagation([r for r in results if r.get("status") in ("ok", None)], dry_run=dry_run,
                                      run_id=args.run_id, where=rendering(run)))
    if run.error:
        fail(run.error)
    _archive_line(args, [run.output], dry_run=dry_run, run_id=args.run_id)
    return EXIT_OK if run.ok and all(r.get("status") == "ok" for r in results) else EXIT_FAILED


def _health(cfg, args, params: dict) -> int:
    from ..pipeline import new_run_id
    from ..runner import run_health_notebook
    _, _, config_path = _common(args, params)
    run_id = args.run_id or new_run_id()
    run = run_health_notebook(cfg, config_path=config_path, run_id=run_id)
    if args.json:
        print_json({"result": run.result, "notebook": str(run.output) if run.output else None, "error": run.error})
    elif run.result:
        print(run.result.get("text") or run.result)
    if run.error:
        fail(run.error)
    _archive_line(args, [run.output], run_id=run_id)
    from ..docs import refresh_docs
    refresh_docs(cfg, run_id=run_id, command="health")  # the Data Docs site; never fails the run
    if not run.ok or not run.result:
        return EXIT_FAILED
    # the block's verdict, as --health-check gives it: 0 healthy, 1 unhealthy, 2 bad configuration
    code = run.result.get("exit_code")
    return code if code in (EXIT_OK, EXIT_FAILED, EXIT_USAGE) else (EXIT_OK if run.result.get("healthy") else EXIT_FAILED)


def _switch(args, params: dict, name: str):
    """A true/false parameter: the flag when given, else the parameter files' value, else False
    (a non-boolean value is left for ``check_parameters`` to refuse)."""
    flag = getattr(args, name, None)
    return flag if flag is not None else params.get(name, False)


def _common(args, params: dict) -> tuple[str | None, bool, str | None]:
    """(table, dry_run, config_path): flags win over the parameter files."""
    table = getattr(args, "table", None) or params.get("table")
    dry_run = bool(_switch(args, params, "dry_run"))
    return table, dry_run, args.config or params.get("config_path")


def _archive_line(args, outputs, *, dry_run: bool = False, run_id: str | None = None) -> None:
    line = None if args.json else format_archive(outputs, dry_run=dry_run, run_id=run_id)
    if line:
        print(line)


COMMANDS = {"sync": _sync, "back-propagate": _back_propagate, "health": _health}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m trafico_lib.runner sync|back-propagate|health``; exit 0 ok, 1 failed, 2 usage."""
    args = build_runner_parser().parse_args(argv)
    if args.command == "watch":  # long-lived, no parameter files (cli/watch.py)
        from .watch import cmd_watch
        setup_logging(args.verbose)
        return run_with_config(args.config, lambda cfg: cmd_watch(cfg, args), verbose=args.verbose)
    setup_logging(args.verbose, json=args.json)

    def command(cfg) -> int:
        from ..pipeline import new_run_id
        from ..runner import load_params
        args.run_id = args.run_id or new_run_id()  # one id for the run's notebooks and every line it prints
        return COMMANDS[args.command](cfg, args, load_params(*args.params))
    return run_with_config(args.config, command, verbose=args.verbose, json=args.json)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
