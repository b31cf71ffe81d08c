"""ISO 6346 container numbers: the check digit, computed the standard way.

A container number is an owner code of three letters, a category identifier (``U`` freight
container, ``J`` detachable equipment, ``Z`` trailer or chassis), a six-digit serial number
and one check digit, e.g. ``CSQU3054383``. The check digit is computed from the first ten
characters: each letter takes its ISO value (A=10, then counting up while skipping the
multiples of 11: B=12 … K=21, L=23 … U=32, V=34 … Z=38), each digit its own value; the
value at position *i* (0-based) is multiplied by 2**i; the sum modulo 11 is the check digit,
where a remainder of 10 counts as 0 (``GYOU4047990``).

Inputs are expected in the normalized form (upper case, no blanks or dashes, see
``trafico_lib.normalize``); these functions do not clean values themselves, so that the
validation rule and the normalizer never disagree about what was checked.
"""
from __future__ import annotations

import re
from itertools import repeat

import numpy as np
import pandas as pd

CATEGORIES = "UJZ"


def _letter_values() -> dict[str, int]:
    values, v = {}, 10
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if v % 11 == 0:
            v += 1
        values[letter] = v
        v += 1
    return values


LETTER_VALUES: dict[str, int] = _letter_values()
_WEIGHTS = np.array([2 ** i for i in range(10)], dtype=np.int64)
# byte -> ISO value lookup (letters and digits); anything else is -1
_LOOKUP = np.full(256, -1, dtype=np.int64)
for _ch, _val in LETTER_VALUES.items():
    _LOOKUP[ord(_ch)] = _val
for _d in range(10):
    _LOOKUP[ord("0") + _d] = _d

_COMPUTABLE = re.compile(r"[A-Z]{4}[0-9]{6}[0-9]?")


def check_digit(code: str) -> int | None:
    """The ISO 6346 check digit of a container number, or None if it can't be computed.

    ``code`` is four letters and six digits, optionally followed by the printed check digit
    (which is ignored). The category letter is not checked here (see
    :func:`is_valid_container`). Anything else (wrong length, lower case, blanks) gives None.
    """
    if not isinstance(code, str) or not _COMPUTABLE.fullmatch(code):
        return None
    total = sum(
        (LETTER_VALUES[ch] if ch.isalpha() else int(ch)) * (2 ** i) for i, ch in enumerate(code[:10])
    )
    return total % 11 % 10


def is_valid_container(code: str, categories: str = CATEGORIES) -> bool:
    """True when ``code`` is a complete, valid ISO 6346 container number.

    Owner code of three letters, a category letter in ``categories`` (U, J or Z), six serial
    digits and the correct check digit: exactly eleven characters, nothing else.
    """
    if not isinstance(code, str) or len(code) != 11 or code[3] not in categories:
        return False
    digit = check_digit(code)
    return digit is not None and code[10].isdigit() and int(code[10]) == digit


def valid_container_mask(values: pd.Series, categories: str = CATEGORIES) -> pd.Series:
    """Vectorized :func:`is_valid_container` over a Series (missing values give False).

    Same answers as the scalar function, many times faster on large frames: the strings of
    eleven characters become one array of code points, whose structure (three letters A-Z, a
    category letter, seven digits 0-9) and check digits are tested with numpy.
    """
    arr = values.to_numpy(dtype=object)
    texts = np.flatnonzero(np.fromiter(map(isinstance, arr, repeat(str)), dtype=bool, count=len(arr)))
    lengths = np.fromiter(map(len, arr[texts]), dtype=np.int64, count=len(texts))
    pos = texts[lengths == 11]
    result = np.zeros(len(arr), dtype=bool)
    if len(pos):
        codes = arr[pos].astype("<U11").view(np.uint32).reshape(-1, 11)
        cats = [ord(c) for c in set(categories or CATEGORIES)]
        ok = (_within(codes[:, :3], "A", "Z") & np.isin(codes[:, 3], cats) & _within(codes[:, 4:], "0", "9"))
        vals = _LOOKUP[np.where(ok[:, None], np.minimum(codes, 255), 0)]  # in range where not ok too
        result[pos] = ok & ((vals[:, :10] @ _WEIGHTS) % 11 % 10 == vals[:, 10])
    return pd.Series(result, index=values.index, dtype=bool)


def _within(codes: np.ndarray, low: str, high: str) -> np.ndarray:
    """Rows whose code points all lie in ``low..high``."""
    return np.asarray(((codes >= ord(low)) & (codes <= ord(high))).all(axis=1))  # (typed: array or scalar)
