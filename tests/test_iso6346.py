"""ISO 6346 check digits against published container numbers and typical typos."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from trafico_lib.rules.iso6346 import LETTER_VALUES, check_digit, is_valid_container, valid_container_mask

KNOWN_VALID = ["CSQU3054383", "TCNU7200794", "GYOU4047990", "MSCU1234566"]


@pytest.mark.parametrize("code, digit", [("CSQU3054383", 3), ("TCNU7200794", 4), ("GYOU4047990", 0)])
def test_check_digit_of_known_numbers(code, digit):
    assert check_digit(code) == digit
    assert check_digit(code[:10]) == digit  # the printed digit is optional
    assert is_valid_container(code)


def test_remainder_ten_gives_zero():
    # computed independently of the module: GYOU4047990's weighted sum leaves 10 modulo 11
    values = {"G": 17, "Y": 37, "O": 26, "U": 32}
    total = sum((values[c] if c.isalpha() else int(c)) * 2 ** i for i, c in enumerate("GYOU404799"))
    assert total % 11 == 10
    assert check_digit("GYOU4047990") == 0
    assert not is_valid_container("GYOU404799A")


def test_letter_values_skip_multiples_of_eleven():
    assert (LETTER_VALUES["A"], LETTER_VALUES["B"], LETTER_VALUES["K"], LETTER_VALUES["L"]) == (10, 12, 21, 23)
    assert (LETTER_VALUES["U"], LETTER_VALUES["V"], LETTER_VALUES["Z"]) == (32, 34, 38)
    assert all(v % 11 for v in LETTER_VALUES.values())


@pytest.mark.parametrize("typo", [
    "CSQU3054384",  # wrong check digit
    "CSQU3045383",  # two serial digits swapped
    "CSQU3054883",  # one serial digit mistyped
    "CQSU3054383",  # owner letters swapped
    "TCNU7200749",  # check digit swapped with the last serial digit
    "GYOU4047991",
])
def test_typos_are_caught(typo):
    assert not is_valid_container(typo)


def test_category_must_be_u_j_or_z():
    base = "CSQA305438"
    code = base + str(check_digit(base))  # arithmetic right, category wrong
    assert check_digit(code) is not None
    assert not is_valid_container(code)
    for cat in "UJZ":
        b = "CSQ" + cat + "305438"
        assert is_valid_container(b + str(check_digit(b)))


@pytest.mark.parametrize("bad", ["", "CSQ3054383", "csqu3054383", "CSQU-305438-3", "CSQU305438", "CSQU30543833",
                                 None, 12345, "CSQU 3054383"])
def test_not_valid_or_not_computable(bad):
    assert not is_valid_container(bad)
    if bad in ("CSQU305438",):
        assert check_digit(bad) == 3
    elif bad not in ("CSQU30543833",):
        assert check_digit(bad) is None


def test_vectorized_mask_agrees_with_scalar():
    rng = np.random.default_rng(3)
    values = list(KNOWN_VALID) + ["CSQU3054384", "CSQA3054383", "", None, np.nan, "ÑSQU3054383", "MSCU123456"]
    for _ in range(300):
        letters = "".join(rng.choice(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), 3)) + rng.choice(list("UJZX"))
        values.append(letters + "".join(rng.choice(list("0123456789"), 7)))
    s = pd.Series(values, dtype=object, index=[i % 7 for i in range(len(values))])  # duplicate labels
    mask = valid_container_mask(s)
    assert mask.index.equals(s.index)
    assert mask.tolist() == [is_valid_container(v) for v in values]
    assert mask.iloc[:4].all() and mask.sum() > 4
    assert valid_container_mask(s, "U").tolist() == [is_valid_container(v, "U") for v in values]
