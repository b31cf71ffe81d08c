"""One piece of a run's database work at a time on a worker thread, while the caller goes on.

The source read fetches the next chunk and the staging sends the last chunk's COPY this way:
the database works while Python normalizes and validates. The connection serializes the
statements of every thread that uses it; this keeps at most one task in flight per owner.
"""
from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class Background:
    def __init__(self, name: str):
        self.name = name
        self._pool: ThreadPoolExecutor | None = None
        self._pending: Future | None = None

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def start(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the worker (after the task in flight, whose result is dropped:
        call :meth:`result` first to get it)."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self.name)
        self._pending = self._pool.submit(fn, *args)

    def result(self) -> Any:
        """The task in flight's result once it is done (raises its error); None if there is none."""
        pending, self._pending = self._pending, None
        return pending.result() if pending is not None else None

    def close(self) -> None:
        """Wait for the task in flight (its error is dropped: the work is being abandoned) and
        stop the worker, so the connection is free to be closed."""
        try:
            self.result()
        except Exception:  # noqa: BLE001 - abandoned work: its error goes with it
            pass
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
