"""How long a failing table waits before its next try: doubling from the poll interval, capped
(``watch.max_backoff_seconds``); the other tables keep their pace. Pure: times are the caller's
monotonic clock."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    base: float          # the first wait (the watch's poll interval)
    cap: float           # the longest wait
    failures: int = 0    # in a row
    next_at: float = 0.0

    def ready(self, now: float) -> bool:
        return now >= self.next_at

    def fail(self, now: float) -> float:
        """One more failure in a row: the wait before the next try (also set as :attr:`next_at`)."""
        self.failures += 1
        wait = min(self.cap, self.base * 2 ** min(self.failures - 1, 60))
        self.next_at = now + wait
        return wait

    def later(self, now: float, wait: float) -> None:
        """Try again after ``wait`` without counting a failure (the table was busy)."""
        self.next_at = now + wait

    def reset(self) -> None:
        self.failures, self.next_at = 0, 0.0
