from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry
from django import forms


class AuditDateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%d")


class AuditFilterForm(forms.Form):
    """The audit trail's filters: patient (record number or id), username, action, and a date range."""

    patient = forms.CharField(
        max_length=64,  # a record number's longest; a UUID is shorter
        required=False,
        strip=True,
        label="Patient",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Record number"}),
    )
    actor = forms.CharField(
        max_length=150,  # a username's longest
        required=False,
        strip=True,
        label="User",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Username", "list": "audit-users"}),
    )
    action = forms.TypedChoiceField(
        choices=[("", "All actions"), *((value, label.capitalize()) for value, label in LogEntry.Action.choices)],
        coerce=int,
        empty_value=None,
        required=False,
        label="Action",
    )
    date_from = forms.DateField(required=False, label="From", widget=AuditDateInput())
    date_to = forms.DateField(required=False, label="To", widget=AuditDateInput())

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        assert cleaned is not None  # Form.clean returns cleaned_data
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", f"The end date {end:%Y-%m-%d} is before the start date {start:%Y-%m-%d}.")
        return cleaned
