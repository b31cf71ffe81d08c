"""SIGTERM and SIGINT for a long-lived watch: the table in hand finishes, then the watch exits 0.

While a table runs (:meth:`Stop.holding`) the first signal is only noted: the run finishes (it
is short: the changed rows of one table), and the loop stops after it. A second signal during
the run, or one while the watch waits or probes, raises :class:`~trafico_lib.errors.Interrupted`
at once: a run under way rolls back and records its ERROR row (as ``make sync`` stopped by
SIGTERM does), a wait simply ends.
"""
from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager

from ..errors import Interrupted


class Stop:
    def __init__(self) -> None:
        self.signal: str | None = None  # the first signal's name once one came
        self._busy = False

    @property
    def requested(self) -> bool:
        return self.signal is not None

    def install(self) -> None:
        for s in (signal.SIGTERM, signal.SIGINT):
            signal.signal(s, self._handler)

    def _handler(self, signum, frame) -> None:
        first = self.signal is None
        self.signal = signal.Signals(signum).name
        if not (self._busy and first):
            raise Interrupted(signum)

    @contextmanager
    def holding(self) -> Iterator[None]:
        """A table's run: a first signal waits for its end."""
        self._busy = True
        try:
            yield
        finally:
            self._busy = False
