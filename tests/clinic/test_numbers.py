"""clinic.numbers.whole_number: ASCII digits only, never an exception, huge numbers saturated."""

from __future__ import annotations

import pytest

from clinic.numbers import MAX_DIGITS, SATURATED, whole_number


@pytest.mark.parametrize(
    ("text", "number"), [("0", 0), ("7", 7), ("007", 7), ("1" * MAX_DIGITS, int("1" * MAX_DIGITS))]
)
def test_ascii_digits_are_a_number(text: str, number: int) -> None:
    assert whole_number(text) == number


@pytest.mark.parametrize(
    "text", [None, "", "\u00b2", "\u0661", "\uff15", "1\u00b2", "-1", "+1", " 1", "1.0", "1e3", "0x10"]
)
def test_anything_else_is_none(text: str | None) -> None:
    assert whole_number(text) is None


def test_thousands_of_digits_saturate_instead_of_failing() -> None:
    assert whole_number("9" * 5000) == SATURATED
    assert whole_number("0" * 5000 + "12") == 12
