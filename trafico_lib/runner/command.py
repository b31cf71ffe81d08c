"""``python -m trafico_lib.runner sync|back-propagate|health``: the Makefile's command line."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from .archive import scrub_text
from .params import RunnerError, check_parameters, load_params
from .runs import _rel, run_back_propagate_notebook, run_health_notebook, run_sync_notebooks


def _parser() -> argparse.ArgumentParser:
    from ..cli import _Parser
    p = _Parser(prog="python -m trafico_lib.runner",
                description="Run the trafico notebooks with papermill and archive them.")
    sub = p.add_subparsers(dest="command", required=True)
    for name, helptext in (("sync", "run the sync notebook of every table (or --table)"),
                           ("back-propagate", "run the back-propagation notebook"),
                           ("health", "run the health-check notebook")):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--config", help="configuration file")
        s.add_argument("--params", action="append", default=[], metavar="FILE",
                       help="YAML parameter file (params/); repeat to layer, later files win")
        s.add_argument("--run-id", help="run id (default: a new one)")
        s.add_argument("--json", action="store_true", help="machine-readable output")
        s.add_argument("--verbose", "-v", action="store_true")
        if name != "health":
            s.add_argument("--table", help="one table only")
            s.add_argument("--dry-run", action="store_true", default=None, help="write nothing anywhere")
        if name == "sync":
            s.add_argument("--mode", choices=["incremental", "full"])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m trafico_lib.runner sync|back-propagate|health``; exit 0 ok, 1 failed, 2 usage."""
    from ..stores import StoreError
    from ..cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, _setup_logging, _tables, format_summary
    from ..config import ConfigError, load_config
    args = _parser().parse_args(argv)
    _setup_logging(args.verbose)
    try:
        cfg = load_config(args.config)
        params = load_params(*args.params)
        table = getattr(args, "table", None) or params.get("table")
        dry_run = args.dry_run if getattr(args, "dry_run", None) is not None else bool(params.get("dry_run", False))
        config_path = args.config or params.get("config_path")
        if args.command == "sync":
            mode = args.mode or params.get("mode", "incremental")
            check_parameters({"mode": mode, "dry_run": dry_run}, cfg.secrets)
            tables = _tables(argparse.Namespace(table=table))
            results = run_sync_notebooks(cfg, tables, mode=mode, dry_run=dry_run, config_path=config_path,
                                         run_id=args.run_id)
            failed = [r for r in results if r.get("status") not in ("ok", "dry-run")]
            if args.json:
                print(json.dumps({"results": results}, ensure_ascii=False, indent=2, default=str))
            else:
                print(format_summary(results, dry_run=dry_run))
            for r in failed:
                print(f"error: {r['error'] or r['table'] + ': ' + r['status']}", file=sys.stderr)
            _print_archive(cfg, [Path(r["notebook"]) for r in results if r.get("notebook")], args.json)
            return EXIT_FAILED if failed else EXIT_OK
        if args.command == "back-propagate":
            if table:
                table = _tables(argparse.Namespace(table=table))[0]
            results, run = run_back_propagate_notebook(cfg, table, dry_run=dry_run, config_path=config_path,
                                                       run_id=args.run_id)
            if args.json:
                print(json.dumps({"results": results, "notebook": str(run.output) if run.output else None},
                                 ensure_ascii=False, indent=2, default=str))
            else:
                print("=== Back-propagation" + (" (dry-run, nothing written)" if dry_run else "") + " ===")
                for r in results:
                    if r.get("status") in ("ok", None):
                        print(f"{r['table']}: {r.get('rows_updated', 0)} source rows updated")
            if run.error:
                print(f"error: {run.error}", file=sys.stderr)
            _print_archive(cfg, [run.output] if run.output else [], args.json)
            return EXIT_OK if run.ok and all(r.get("status") == "ok" for r in results) else EXIT_FAILED
        run = run_health_notebook(cfg, config_path=config_path, run_id=args.run_id)
        if args.json:
            print(json.dumps({"result": run.result, "notebook": str(run.output) if run.output else None,
                              "error": run.error}, ensure_ascii=False, indent=2, default=str))
        elif run.result:
            print(run.result.get("text") or json.dumps(run.result, ensure_ascii=False, indent=2, default=str))
        if run.error:
            print(f"error: {run.error}", file=sys.stderr)
        _print_archive(cfg, [run.output] if run.output else [], args.json)
        return EXIT_OK if run.ok else EXIT_FAILED
    except (ConfigError, UsageError, RunnerError) as exc:
        print(f"error: {scrub_text(str(exc), _secrets_or_empty())}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILED
    except StoreError as exc:  # the database cannot be reached: one line, no kernel started
        print(f"error: {scrub_text(str(exc), _secrets_or_empty())}", file=sys.stderr)
        return EXIT_FAILED


def _secrets_or_empty() -> list[str]:
    return [v for k, v in os.environ.items() if k in ("TRAFICO_DATABASE_URL", "SUPABASE_KEY", "key_supabase",
                                                      "TRAFICO_SQLSERVER_PASSWORD") and v]


def _print_archive(cfg, outputs: list[Path], as_json: bool) -> None:
    if as_json or not outputs:
        return
    where = sorted({_rel(p.parent) for p in outputs})
    print(f"Archive: {', '.join(where)} ({len(outputs)} executed notebook(s), each with an .html beside it)")
