"""A ``trafico watch`` subprocess for the tests: its stamped lines read as they come."""
from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TRAFICO = Path(sys.executable).parent / "trafico"  # the console script (pyproject.toml)


class WatchProcess:
    """``trafico watch <args>`` (or ``python -m trafico_lib.runner watch``, ``runner=True``) in
    ``cwd``; stdout and stderr lines collected as they come (``lines``)."""

    def __init__(self, args, *, cwd: Path, env: dict | None = None, runner: bool = False):
        cmd = ([sys.executable, "-m", "trafico_lib.runner", "watch"] if runner else [str(TRAFICO), "watch"])
        env = {**os.environ, **(env or {})}
        env["PYTHONPATH"] = str(ROOT)
        self.proc = subprocess.Popen([*cmd, *map(str, args)], cwd=cwd, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: list[str] = []
        self._q: queue.Queue[str] = queue.Queue()
        for stream, tag in ((self.proc.stdout, ""), (self.proc.stderr, "stderr: ")):
            threading.Thread(target=self._read, args=(stream, tag), daemon=True).start()

    def _read(self, stream, tag: str) -> None:
        for line in stream:
            self._q.put(tag + line.rstrip("\n"))

    def _drain(self, timeout: float) -> None:
        try:
            self.lines.append(self._q.get(timeout=timeout))
        except queue.Empty:
            pass

    def wait_for(self, pattern: str, timeout: float = 60.0, *, after: int = 0) -> str:
        """The first line (from index ``after``) matching ``pattern``; fails with every line seen."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines[after:]:
                if re.search(pattern, line):
                    return line
            if time.monotonic() > deadline or (self.proc.poll() is not None and self._q.empty()):
                raise AssertionError(f"no line matching {pattern!r} in {timeout} s; the watch said:\n"
                                     + "\n".join(self.lines))
            self._drain(0.1)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        time.sleep(0.2)
        while not self._q.empty():
            self._drain(0)
        return code


def wait_until(check, timeout: float, what: str) -> float:
    """Seconds until ``check()`` is true (polled every 0.05 s); fails after ``timeout``."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.05)
    return time.monotonic() - started
