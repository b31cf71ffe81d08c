"""The one place an error becomes what people see: one line on stderr and an exit code."""
from __future__ import annotations

import sys
import traceback
from typing import Callable, Iterable

from ..errors import EXIT_FAILED, exit_code, one_line


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def guarded(command: Callable[[], int], *, verbose: bool, secrets: Callable[[], Iterable[str]] = tuple) -> int:
    """Run ``command``; any error is one scrubbed line (plus the traceback with ``--verbose``).

    ``secrets`` is called only when needed (the configuration may be what failed to load).
    """
    try:
        return command()
    except KeyboardInterrupt:
        fail("interrupted")
        return EXIT_FAILED
    except Exception as exc:
        if verbose:
            traceback.print_exc()
        try:
            known = list(secrets())
        except Exception:  # noqa: BLE001 - the scrubber's own patterns still apply
            known = []
        fail(one_line(exc, known))
        return exit_code(exc)
