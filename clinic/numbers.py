"""Whole numbers read from request text (query strings, headers): ASCII digits and nothing else.

``str.isdigit()`` and ``str.isdecimal()`` accept far more than ``0-9`` ("²", "٣", "５"), and
``int()`` then either fails on them (``int("²")``: a 500) or reads a number the client did not
type in digits a person would check; a few thousand digits make ``int()`` itself refuse
(Python's digit limit). Every number from a request goes through ``whole_number``.
"""

from __future__ import annotations

MAX_DIGITS = 18
SATURATED = 10**MAX_DIGITS  # what a longer number reads as: above every limit a caller applies


def whole_number(text: str | None) -> int | None:
    """``text`` as a non-negative integer if it is ASCII digits only, else None.

    More than MAX_DIGITS significant digits read as SATURATED, so that a caller's range check
    refuses (or caps) them without ``int()`` converting thousands of digits.
    """
    if not text or not (text.isascii() and text.isdecimal()):
        return None
    significant = text.lstrip("0")
    return SATURATED if len(significant) > MAX_DIGITS else int(significant or "0")
