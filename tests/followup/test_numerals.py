"""The report's numbers: one sign convention, no signed zero, Fitzpatrick as the patient page writes it."""

from __future__ import annotations

import pytest

from followup.numerals import fitzpatrick, signed


@pytest.mark.parametrize(
    ("value", "digits", "suffix", "expected"),
    [
        (-0.001, 2, "", "0.00"),
        (0.004, 2, "", "0.00"),
        (0.0, 1, "", "0.0"),
        (84.3, 1, "%", "+84.3%"),
        (-12.46, 1, "%", "-12.5%"),
        (58.0, 1, "", "+58.0"),
        (None, 1, "", "–"),
    ],
)
def test_signed(value: float | None, digits: int, suffix: str, expected: str) -> None:
    assert signed(value, digits, suffix) == expected


def test_fitzpatrick_in_roman_numerals() -> None:
    assert [fitzpatrick(n) for n in range(1, 7)] == ["I", "II", "III", "IV", "V", "VI"]
    assert fitzpatrick(None) == ""
