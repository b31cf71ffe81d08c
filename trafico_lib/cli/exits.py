"""The one place an error becomes what people see: one line on stderr and an exit code."""
from __future__ import annotations

import sys
import traceback
from typing import Callable

from ..config import Config, load_config
from ..errors import exit_code, one_line, scrub, stop_on_signals
from .log import SCRUB


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def run_with_config(config_path: str | None, command: Callable[[Config], int], *, verbose: bool) -> int:
    """Load the configuration and run ``command(cfg)``; any error, a bad configuration
    included, is one line scrubbed of the configuration's secrets (plus the traceback with
    ``--verbose``) and its exit code."""
    cfg: Config | None = None
    stop_on_signals()
    try:
        cfg = load_config(config_path)
        SCRUB.remember(cfg.secrets)  # third-party log lines under --verbose too
        return command(cfg)
    except KeyboardInterrupt as exc:
        name = getattr(exc, "name", "SIGINT")
        fail(f"stopped by {name}: a write under way was rolled back (tables finished before it stay; "
             f"an ERROR row records the stop where the database could still be reached); run again")
        return exit_code(exc)
    except Exception as exc:
        secrets = cfg.secrets if cfg is not None else ()
        if verbose:
            sys.stderr.write(scrub(traceback.format_exc(), secrets))
        fail(one_line(exc, secrets))
        return exit_code(exc)
