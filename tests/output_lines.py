"""Reading what the command lines print: every summary and progress line is
``<ISO time to the second with offset> <run id> <text>``."""
from __future__ import annotations

import re

STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d) (\d{8}T\d{6}-[0-9a-f]{6}) (.*)$")


def stamped_lines(text: str) -> list[tuple[str, str, str]]:
    """(time, run id, text) of each stamped line of ``text``; other lines are left out."""
    return [m.groups() for m in map(STAMP.match, text.splitlines()) if m]


def unstamped(text: str) -> list[str]:
    """The lines of ``text`` without their stamp (lines without one as they are)."""
    return [(m.group(3) if m else line) for line, m in ((t, STAMP.match(t)) for t in text.splitlines())]


def summary(text: str) -> list[str]:
    """The closing summary's lines, unstamped: from its title on (progress lines before it dropped)."""
    lines = unstamped(text)
    start = next(i for i, s in enumerate(lines) if s.startswith("=== "))
    return lines[start:]
