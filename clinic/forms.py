from __future__ import annotations

from auditlog.models import LogEntry
from django import forms


class AuditFilterForm(forms.Form):
    """The audit trail's filters: one action of auditlog's, one username."""

    action = forms.TypedChoiceField(
        choices=[("", "All actions"), *((value, label.capitalize()) for value, label in LogEntry.Action.choices)],
        coerce=int,
        empty_value=None,
        required=False,
        widget=forms.Select(attrs={"aria-label": "Action"}),
    )
    actor = forms.CharField(
        max_length=150,  # a username's longest
        required=False,
        strip=True,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Username", "aria-label": "Username"}),
    )
