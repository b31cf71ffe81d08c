"""The one place an error becomes what people see: one line on stderr and an exit code."""
from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable

from ..config import Config, load_config
from ..errors import exit_code, one_line, scrub, stop_on_signals
from .log import SCRUB, stamped


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def print_notices(cfg: Config, *, json: bool = False) -> None:
    """The configuration's notices (keys accepted but ignored, or read under a new name), once
    per command: ``note: …`` lines on stdout with the run's other lines (stamped when it is not a
    terminal), so a cron job that keeps only stderr mails nothing for them; with ``--json`` (and
    ``--print-sql``) on stderr, so stdout stays one JSON document (or the schema, as pasted)."""
    stream = sys.stderr if json else sys.stdout
    for notice in cfg.notices:
        line = f"note: {notice}"
        print(line if json or stream.isatty() else stamped(line, None), file=stream, flush=True)


def run_with_config(config_path: str | None, command: Callable[[Config], int], *, verbose: bool,
                    json: bool = False) -> int:
    """Load the configuration, print its notices once and run ``command(cfg)``; any error, a
    bad configuration included, is one line scrubbed of the configuration's secrets (plus the
    traceback with ``--verbose``) and its exit code."""
    cfg: Config | None = None
    stop_on_signals()
    try:
        cfg = load_config(config_path)
        SCRUB.remember(cfg.secrets)  # third-party log lines under --verbose too
        print_notices(cfg, json=json)
        return command(cfg)
    except KeyboardInterrupt as exc:
        name = getattr(exc, "name", "SIGINT")
        # the notebook's kernel was stopped with the run: the executor's pending task fails with
        # DeadKernelError, and asyncio would print it as a traceback when it is collected at exit
        logging.getLogger("asyncio").setLevel(logging.CRITICAL)
        fail(f"stopped by {name}: a write under way was rolled back (tables finished before it stay; "
             f"an ERROR row records the stop where the database could still be reached); run again")
        return exit_code(exc)
    except Exception as exc:
        secrets = cfg.secrets if cfg is not None else ()
        if verbose:
            sys.stderr.write(scrub(traceback.format_exc(), secrets))
        fail(one_line(exc, secrets))
        return exit_code(exc)
