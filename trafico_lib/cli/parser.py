"""The command lines' parsers: the old script's flags, the runner's subcommands, ``docs``.

Every parser reports bad usage as one line and exit 2 (argparse's own convention), takes no
abbreviated flag, and every ``--help`` ends with the exit codes and two examples.
"""
from __future__ import annotations

import argparse
from typing import Any, NoReturn

from ..errors import EXIT_USAGE
from ..tables import TABLES

EXIT_CODES = "exit codes: 0 success / healthy, 1 a failed sync or an unhealthy check, 2 bad usage or configuration"


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and the exit codes under ``--help``; a flag is taken only
    as spelled in full (``--mod full`` is an error, not ``--mode full``: an abbreviation would
    silently pick a flag, ``--all`` the mass deactivation)."""

    def __init__(self, *, examples: tuple[str, ...] = (), **kwargs: Any):  # by keyword, as add_subparsers does
        epilog = "\n".join([EXIT_CODES, *(["examples:", *(f"  {e}" for e in examples)] if examples else [])])
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        kwargs.setdefault("allow_abbrev", False)  # the subcommands' parsers too (add_parser builds a Parser)
        super().__init__(epilog=epilog, **kwargs)

    def error(self, message: str) -> NoReturn:  # one line, exit 2
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="configuration file (default: trafico_config.json if present, else built-in defaults)")
    p.add_argument("--verbose", "-v", action="store_true", help="debug logging and tracebacks")
    p.add_argument("--json", action="store_true", help="machine-readable output")


def build_parser(prog: str = "update_traficov2.py") -> Parser:
    """``python update_traficov2.py`` / ``trafico``: the old script's flags, plus the new ones."""
    p = Parser(prog=prog, description="Keep the TráficoV2 tables in step with the operational tables.",
               examples=(f"{prog} --mode incremental", f"{prog} --dry-run --table arribos"))
    p.add_argument("--mode", choices=["incremental", "full"], default=None,
                   help="incremental (default): changed rows only; full: everything, and deactivate rows gone from the source")
    p.add_argument("--table", help=f"one table only ({', '.join(TABLES)})")
    _common(p)
    p.add_argument("--dry-run", action="store_true", help="compute and show the plan (each table's first changes); write nothing to the database "
                        "or the audit archive (the notebooks go to runs-dry/)")
    p.add_argument("--allow-mass-deactivation", action="store_true",
                   help="let a full run deactivate more than a table's max_deactivation_share (rows really gone)")
    p.add_argument("--health-check", action="store_true", help="print the system health block; exit 1 if unhealthy")
    p.add_argument("--back-propagate", action="store_true", help="copy the traffic desk's Chofer back to the source tables")
    p.add_argument("--prune", action="store_true",
                   help="delete sync log, changes, rejects and archived notebooks older than audit_archive.days_to_keep")
    p.add_argument("--init-db", action="store_true", help="create or upgrade the schema (idempotent)")
    p.add_argument("--print-sql", action="store_true", help="print the schema as plain SQL (for the Supabase SQL editor)")
    p.add_argument("--load-samples", action="store_true", help="(demo) create the source tables and load data/*.csv into them")
    p.add_argument("--no-notebook", action="store_true", help="run the library directly instead of the notebooks")
    p.add_argument("--run-id", help=argparse.SUPPRESS)
    return p


def watch_options(p: argparse.ArgumentParser) -> None:
    """``trafico watch``'s flags (also ``python -m trafico_lib.runner watch``)."""
    p.add_argument("--config", help="configuration file (default: trafico_config.json if present, else built-in defaults)")
    p.add_argument("--verbose", "-v", action="store_true", help="debug logging and tracebacks")
    p.add_argument("--table", help=f"watch one table only ({', '.join(TABLES)}); default: every enabled table")
    p.add_argument("--no-notebook", action="store_true", help="run the library directly instead of the notebooks")
    p.add_argument("--remove-triggers", action="store_true",
                   help="drop the NOTIFY triggers watch.notify created on the source tables, then exit")


def build_watch_parser(prog: str = "trafico watch") -> Parser:
    """``trafico watch``: keep the TráficoV2 tables seconds behind their sources until stopped."""
    p = Parser(prog=prog, description="Keep the TráficoV2 tables seconds behind their sources: wake on a change "
                                      "(NOTIFY or a change probe) and sync the changed table, until SIGTERM.",
               examples=(prog, f"{prog} --no-notebook --table arribos"))
    watch_options(p)
    return p


def build_runner_parser(prog: str = "python -m trafico_lib.runner") -> Parser:
    """The Makefile's command line: ``sync``, ``back-propagate``, ``health`` through the notebooks."""
    p = Parser(prog=prog, description="Run the trafico notebooks with papermill and archive them.",
               examples=(f"{prog} sync --params params/incremental.yaml",
                         f"{prog} back-propagate --dry-run --table arribos"))
    sub = p.add_subparsers(dest="command", required=True)
    for name, helptext in (("sync", "run the sync notebook of every table (or --table)"),
                           ("back-propagate", "run the back-propagation notebook"),
                           ("health", "run the health-check notebook")):
        s = sub.add_parser(name, help=helptext)
        _common(s)
        s.add_argument("--params", action="append", default=[], metavar="FILE",
                       help="YAML parameter file (params/); repeat to layer, later files win")
        s.add_argument("--run-id", help="run id (default: a new one)")
        if name != "health":
            s.add_argument("--table", help="one table only")
            s.add_argument("--dry-run", action="store_true", default=None, help="plan only: nothing written to the database or runs/ (notebooks to runs-dry/)")
        if name == "sync":
            s.add_argument("--mode", choices=["incremental", "full"])
            s.add_argument("--allow-mass-deactivation", action="store_true", default=None,
                           help="let a full run deactivate more than a table's max_deactivation_share")
    watch_options(sub.add_parser("watch", help="keep the tables seconds behind their sources (trafico watch)"))
    return p


def build_docs_parser(prog: str = "python -m trafico_lib.docs") -> Parser:
    """``make docs``: build the Data Docs site."""
    p = Parser(prog=prog, description="Build the Data Docs site under <reports_dir>/data_docs.",
               examples=(prog, f"{prog} --no-health --config prod.json"))
    _common(p)
    p.add_argument("--no-health", action="store_true", help="do not connect to the database for the health block")
    return p
