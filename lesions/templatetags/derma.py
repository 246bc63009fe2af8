from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(value: float | None, digits: int = 0) -> str:
    """0.734 -> '73%'."""
    if value is None:
        return ""
    return f"{100 * float(value):.{int(digits)}f}%"


@register.simple_tag(takes_context=True)
def form_key_field(context: template.Context) -> str:
    """The hidden ``form_key`` of a form that creates a record (kept when the form comes back with its errors).

    A second send of the same rendered form is answered with the first's result
    (``lesions.idempotency.form_submit_once``): a double click adds one record, not two.
    """
    from django.utils.html import format_html

    from lesions.idempotency import FORM_KEY_FIELD, form_key_new, form_key_of

    request = context.get("request")
    key = form_key_of(request) if request is not None else form_key_new()
    return str(format_html('<input type="hidden" name="{}" value="{}">', FORM_KEY_FIELD, key))
