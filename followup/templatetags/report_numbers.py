from __future__ import annotations

from django import template

from followup import numerals

register = template.Library()


@register.filter
def signed(value: float | None, digits: int = 1) -> str:
    """+1.5 / -0.3 / 0.0: never a signed zero."""
    return numerals.signed(value, int(digits))


@register.filter
def fitzpatrick(skin_type: int | None) -> str:
    return numerals.fitzpatrick(skin_type)
