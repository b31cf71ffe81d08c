"""The command line: ``python update_traficov2.py`` and the ``trafico`` console script (DESIGN §8).

Exit codes: 0 success / healthy, 1 a failed sync or an unhealthy check, 2 bad usage or
configuration. Errors are one readable line; ``--verbose`` adds the traceback.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import traceback
from typing import Sequence

from .config import ConfigError, load_config
from .tables import TABLES, get_table

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
log = logging.getLogger("trafico")


class UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's own convention)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser(prog: str = "update_traficov2.py") -> argparse.ArgumentParser:
    p = _Parser(prog=prog, description="Keep the TráficoV2 tables in step with the operational tables.")
    p.add_argument("--mode", choices=["incremental", "full"], default="incremental",
                   help="incremental (default): changed rows only; full: everything, and deactivate rows gone from the source")
    p.add_argument("--table", help=f"one table only ({', '.join(TABLES)})")
    p.add_argument("--config", help="configuration file (default: trafico_config.json if present, else built-in defaults)")
    p.add_argument("--verbose", "-v", action="store_true", help="debug logging and tracebacks")
    p.add_argument("--dry-run", action="store_true", help="compute and show the plan; write nothing anywhere")
    p.add_argument("--health-check", action="store_true", help="print the system health block; exit 1 if unhealthy")
    p.add_argument("--back-propagate", action="store_true", help="copy the traffic desk's Chofer back to the source tables")
    p.add_argument("--prune", action="store_true",
                   help="delete sync log, changes, rejects and archived notebooks older than archival.days_to_keep")
    p.add_argument("--init-db", action="store_true", help="create or upgrade the schema (idempotent)")
    p.add_argument("--print-sql", action="store_true", help="print the schema as plain SQL (for the Supabase SQL editor)")
    p.add_argument("--load-samples", action="store_true", help="(demo) create the source tables and load data/*.csv into them")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-notebook", action="store_true", help="run the library directly instead of the notebooks")
    p.add_argument("--run-id", help=argparse.SUPPRESS)
    return p


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> str:
    return f"warning: {message}\n"


def _setup_logging(verbose: bool) -> None:
    if not verbose:  # a warning is one line for people; --verbose keeps Python's full form
        import warnings
        warnings.formatwarning = _one_line_warning
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    noisy = ("great_expectations", "papermill", "traitlets", "asyncio", "matplotlib", "urllib3")
    for name in noisy:
        logging.getLogger(name).setLevel(logging.WARNING if verbose else logging.ERROR)

    def quiet(record: logging.LogRecord) -> bool:  # libraries that reset their own levels on import
        return record.levelno >= logging.WARNING or not record.name.startswith(noisy)
    for handler in logging.getLogger().handlers:
        handler.addFilter(quiet)


def _tables(args) -> list[str]:
    if not args.table:
        return [n for n in TABLES]
    try:
        return [get_table(args.table).name]
    except KeyError:
        raise UsageError(f"unknown table {args.table!r}; valid tables: {', '.join(TABLES)}") from None


def _print(obj, as_json: bool) -> None:
    if as_json:
        print(json.dumps(obj, ensure_ascii=False, indent=2, default=str))
    else:
        print(obj)


# ---- commands -------------------------------------------------------------------------------

def cmd_init_db(cfg, args) -> int:
    from .schema import apply_migrations, migrations
    from .stores import open_store
    store = open_store(cfg)
    preserve = {n: (cfg.table(n).preserve_fields if cfg.table(n).preserve_fields is not None
                    else list(spec.preserve_fields)) for n, spec in TABLES.items()}
    with store.connect() as conn:
        applied = apply_migrations(conn, preserve)
    total = len(migrations())
    if args.json:
        _print({"database": store.name, "applied": applied, "migrations": total}, True)
    else:
        print(f"Schema on {store.name}: {len(applied)} migration(s) applied now"
              f"{' (' + ', '.join(applied) + ')' if applied else ''}; {total} in total; up to date.")
    return EXIT_OK


def cmd_load_samples(cfg, args) -> int:
    from .sample import load_samples
    from .stores import open_store
    store = open_store(cfg)
    with store.connect() as conn:
        counts = load_samples(conn, cfg)
    if args.json:
        _print({"loaded": counts}, True)
    else:
        print(f"Loaded the sample CSVs from {cfg.resolve(cfg.csv_sources.data_path)} into {store.name}:")
        for name, n in counts.items():
            print(f"  {name}: {n} rows")
    return EXIT_OK


def format_summary(results: list[dict], *, dry_run: bool = False) -> str:
    """The old tool's closing summary, extended: per table then totals."""
    title = "=== Dry-run Plan (nothing written) ===" if dry_run else "=== Sync Summary ==="
    lines = [title]
    tot = {"inserted": 0, "updated": 0, "errors": 0, "unchanged": 0, "rejected": 0, "deactivated": 0}
    for r in results:
        c = r.get("counts") or {}
        errors = 0 if r.get("status") in ("ok", "dry-run") else 1
        ins, upd = c.get("inserted", 0) or 0, c.get("updated", 0) or 0
        lines.append(f"{r['table']}: Inserted {ins}, Updated {upd}, Errors {errors} | "
                     f"unchanged {c.get('unchanged', 0) or 0}, rejected {c.get('rejected', 0) or 0}, "
                     f"deactivated {c.get('deactivated', 0) or 0}"
                     + (f" | archive {r['notebook']}" if r.get("notebook") else ""))
        if r.get("error"):
            lines.append(f"  error: {r['error']}")
        for k, v in (("inserted", ins), ("updated", upd), ("errors", errors),
                     ("unchanged", c.get("unchanged", 0) or 0), ("rejected", c.get("rejected", 0) or 0),
                     ("deactivated", c.get("deactivated", 0) or 0)):
            tot[k] += v
    lines.append(f"Total: Inserted {tot['inserted']}, Updated {tot['updated']}, Errors {tot['errors']} | "
                 f"unchanged {tot['unchanged']}, rejected {tot['rejected']}, deactivated {tot['deactivated']}")
    return "\n".join(lines)


def cmd_sync(cfg, args) -> int:
    tables = _tables(args)
    results = []
    if args.no_notebook:
        from .pipeline import new_run_id, run_table
        from .stores import open_store
        store = open_store(cfg)
        run_id = args.run_id or new_run_id()
        for name in tables:
            if not cfg.table(name).enabled:
                continue
            res = run_table(name, mode=args.mode, dry_run=args.dry_run, cfg=cfg, store=store,
                            run_id=run_id, progress=not args.json and sys.stderr.isatty())
            d = res.to_dict()
            results.append(d)
            if res.plan is not None and not args.json:
                print(res.plan.summary())
                if len(res.plan.updates):
                    print(res.plan.updates.head(10).to_string(index=False))
    else:
        from .runner import run_sync_notebooks
        results = run_sync_notebooks(cfg, tables, mode=args.mode, dry_run=args.dry_run,
                                     config_path=args.config, run_id=args.run_id)
    if args.json:
        _print({"results": results}, True)
    else:
        print(format_summary(results, dry_run=args.dry_run))
    return EXIT_OK if all(r.get("status") in ("ok", "dry-run") for r in results) else EXIT_FAILED


def cmd_back_propagate(cfg, args) -> int:
    from .engine.backprop import back_propagate
    from .pipeline import new_run_id
    from .stores import open_store
    if not args.no_notebook:  # the back_propagate notebook, archived
        from .runner import run_back_propagate_notebook
        only = _tables(args)[0] if args.table else None
        out, run = run_back_propagate_notebook(cfg, only, dry_run=args.dry_run, config_path=args.config,
                                               run_id=args.run_id)
        return _print_back_propagation(out, args, failed=not run.ok)
    store = open_store(cfg)
    run_id = args.run_id or new_run_id()
    out, failed = [], False
    for name in _tables(args):
        s = cfg.table(name)
        spec = get_table(name)
        if not s.back_propagate:
            continue
        with store.connect() as conn:
            try:
                res = back_propagate(conn, spec, list(s.back_propagate), run_id=run_id, key=s.key,
                                     dry_run=args.dry_run, lock_timeout=cfg.database.lock_timeout_seconds,
                                     updated_column=s.updated_column)
            except Exception as exc:
                from .engine.lock import TableLocked
                if not isinstance(exc, TableLocked):
                    raise
                failed = True
                out.append({"table": name, "status": "locked", "error": str(exc), "rows_updated": 0})
                continue
        out.append(res.to_dict())
    return _print_back_propagation(out, args, failed=failed)


def _print_back_propagation(out: list[dict], args, *, failed: bool) -> int:
    if args.json:
        _print({"results": out}, True)
    else:
        print("=== Back-propagation" + (" (dry-run, nothing written)" if args.dry_run else "") + " ===")
        for r in out:
            print(f"{r['table']}: {r.get('rows_updated', 0)} source rows updated"
                  + (f"  error: {r['error']}" if r.get("error") else ""))
    return EXIT_FAILED if failed else EXIT_OK


def cmd_prune(cfg, args) -> int:
    from .retention import prune
    res = prune(cfg, dry_run=args.dry_run)
    if args.json:
        _print(res.to_dict(), True)
    else:
        print(res.summary())
    return EXIT_OK


def cmd_health(cfg, args) -> int:
    from .health import run_health_check
    return run_health_check(cfg, as_json=args.json)


def main(argv: Sequence[str] | None = None, prog: str = "trafico") -> int:
    args = build_parser(prog).parse_args(argv)
    _setup_logging(args.verbose)
    try:
        cfg = load_config(args.config)
        if args.print_sql:
            from .schema import render_sql
            sys.stdout.write(render_sql())
            return EXIT_OK
        if args.init_db:
            code = cmd_init_db(cfg, args)
            if not (args.load_samples or args.back_propagate or args.health_check):
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
    except (ConfigError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # one readable line; the traceback only with --verbose
        if args.verbose:
            traceback.print_exc()
        from .pipeline import _one_line
        print(f"error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
