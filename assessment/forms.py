from __future__ import annotations

from typing import Any

from django import forms

from assessment import scores
from assessment.models import DermoscopyChecklist, VisitAddendum, VisitAssessment
from assessment.services import CHECKLIST_FIELDS

THREE_POINT_CHOICES = [("", "Not assessed"), ("true", "Present"), ("false", "Absent")]


class ChecklistForm(forms.ModelForm[DermoscopyChecklist]):
    """The checklists of one photo; each ABCD item the outline suggested has a "confirm" box beside it."""

    class Meta:
        model = DermoscopyChecklist
        fields = CHECKLIST_FIELDS

    def __init__(self, *args: Any, suggestions: dict[str, scores.Suggestion] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.suggestions = suggestions or {}
        for name, label, low, high, _ in scores.ABCD_ITEMS:
            field = self.fields[name]
            field.label = label
            field.widget = forms.NumberInput(attrs={"min": low, "max": high, "step": 1, "inputmode": "numeric"})
        for name, label in scores.THREE_POINT_ITEMS:
            self.fields[name] = forms.NullBooleanField(
                label=label, required=False, widget=forms.Select(choices=THREE_POINT_CHOICES)
            )
        for name in self.instance.prefilled:
            suggestion = self.suggestions.get(name)
            self.fields[f"confirm_{name}"] = forms.BooleanField(
                label="Confirmed", required=False, help_text=suggestion.basis if suggestion else ""
            )

    def checklist_values(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name) for name in CHECKLIST_FIELDS}

    def confirmed(self) -> set[str]:
        return {name for name in self.instance.prefilled if self.cleaned_data.get(f"confirm_{name}")}

    def seven_point_fields(self) -> list[Any]:
        return [self[name] for name, *_ in scores.SEVEN_POINT_ITEMS]

    def abcd_fields(self) -> list[tuple[Any, Any, scores.Suggestion | None]]:
        rows = []
        for name, *_ in scores.ABCD_ITEMS:
            confirm = self[f"confirm_{name}"] if f"confirm_{name}" in self.fields else None
            rows.append((self[name], confirm, self.suggestions.get(name) if confirm is not None else None))
        return rows

    def three_point_fields(self) -> list[Any]:
        return [self[name] for name, _ in scores.THREE_POINT_ITEMS]


class AssessmentForm(forms.ModelForm[VisitAssessment]):
    class Meta:
        model = VisitAssessment
        fields = ["impression", "differential", "plan", "notes"]
        widgets = {"notes": forms.Textarea(attrs={"rows": 4})}
        help_texts = {"differential": "Other diagnoses considered, separated by commas."}


class AddendumForm(forms.ModelForm[VisitAddendum]):
    class Meta:
        model = VisitAddendum
        fields = ["text"]
        widgets = {"text": forms.Textarea(attrs={"rows": 3})}
        labels = {"text": "Addendum"}
