from __future__ import annotations

from typing import Any

from django import forms

from clinic.models import Clinic
from integrations import scopes


class IntegrationClientForm(forms.Form):
    """A new client: its clinic (one the admin administers), a name, the scopes it is granted."""

    clinic = forms.ModelChoiceField(queryset=Clinic.objects.none(), empty_label=None)
    name = forms.CharField(max_length=100, strip=True)
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in scopes.supported()],
        widget=forms.CheckboxSelectMultiple,
        help_text="SMART v2 system scopes: r read, s search, c create; * every resource type.",
    )

    def __init__(self, *args: Any, clinics: list[Clinic], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["clinic"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = Clinic.objects.filter(pk__in=[clinic.pk for clinic in clinics])
        if len(clinics) == 1:
            field.initial = clinics[0].pk
