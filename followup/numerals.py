"""Numbers as the reports print them: one sign convention, no negative zero, Fitzpatrick in Roman numerals."""

from __future__ import annotations

ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI"}


def signed(value: float | None, digits: int = 1, suffix: str = "") -> str:
    """+1.5, -0.3, and 0.0 (never -0.0 or +0.0) for what rounds to zero; the suffix follows without a space."""
    if value is None:
        return "–"
    rounded = round(float(value), digits)
    if rounded == 0:
        return f"{0:.{digits}f}{suffix}"
    return f"{rounded:+.{digits}f}{suffix}"


def fitzpatrick(skin_type: int | None) -> str:
    """The skin type as the patient page writes it: I to VI ('' when not recorded)."""
    return ROMAN.get(skin_type or 0, "")
