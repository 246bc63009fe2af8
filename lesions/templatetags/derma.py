from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(value: float | None, digits: int = 0) -> str:
    """0.734 -> '73%'."""
    if value is None:
        return ""
    return f"{100 * float(value):.{int(digits)}f}%"
