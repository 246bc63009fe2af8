"""Writes of checklists, assessments, signatures and addenda: the one path for the pages and the API.

Each write locks the visit's assessment row (when there is one) and refuses a signed visit, so a
signature and a change arriving together cannot both win.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from assessment import scores
from assessment.models import DermoscopyChecklist, VisitAddendum, VisitAssessment, VisitSigned, checklist_of
from lesions.models import LesionImage, Visit
from ml.models import outline_of

CHECKLIST_FIELDS = (
    [name for name, *_ in scores.SEVEN_POINT_ITEMS]
    + [name for name, *_ in scores.ABCD_ITEMS]
    + [name for name, _ in scores.THREE_POINT_ITEMS]
)
ASSESSMENT_FIELDS = ("impression", "differential", "plan", "notes")


def checklist_suggestions(image: LesionImage) -> dict[str, scores.Suggestion]:
    """What the photo's outline suggests for A, B and C (empty unless it was outlined and measured)."""
    outline = outline_of(image)
    measured = outline.measured if outline is not None else None
    if measured is None:
        return {}
    return scores.outline_suggestions(
        asymmetry_major_axis=measured.asymmetry_major_axis,
        asymmetry_minor_axis=measured.asymmetry_minor_axis,
        compactness=measured.compactness,
        colours=len(measured.colours),
    )


def checklist_for_form(image: LesionImage) -> DermoscopyChecklist:
    """The photo's stored checklists, else new ones (unsaved) with the outline's suggestions filled in."""
    existing = checklist_of(image)
    if existing is not None and existing.pk is not None:
        return existing
    checklist = DermoscopyChecklist(image=image)
    suggestions = checklist_suggestions(image)
    for name, suggestion in suggestions.items():
        setattr(checklist, name, suggestion.value)
    checklist.prefilled = sorted(suggestions)
    return checklist


def _locked_assessment(visit: Visit) -> VisitAssessment | None:
    return VisitAssessment.objects.select_for_update().filter(visit=visit).first()


def _refuse_signed(visit: Visit) -> VisitAssessment | None:
    assessment = _locked_assessment(visit)
    if assessment is not None and assessment.is_signed:
        raise VisitSigned(visit)
    return assessment


def checklist_save(
    *, image: LesionImage, user: Any, values: Mapping[str, Any], confirmed: Collection[str] = ()
) -> DermoscopyChecklist:
    """Store the photo's checklists; ``values`` holds the items to set (others keep what they had).

    An ABCD item stays marked pre-filled only while it still holds the outline's suggestion and
    the clinician has not confirmed it (``confirmed`` names the items confirmed).
    """
    unknown = set(values) - set(CHECKLIST_FIELDS)
    if unknown:
        raise ValidationError({name: "Not an item of the checklists." for name in sorted(unknown)})
    with transaction.atomic():
        _refuse_signed(image.visit)
        # From the database: a form's unsaved checklists may sit in the photo's relation cache.
        checklist = DermoscopyChecklist.objects.select_for_update().filter(image=image).first()
        if checklist is None:
            checklist = checklist_for_form(image)
        suggestions = checklist_suggestions(image)
        for name, value in values.items():
            setattr(checklist, name, value)
        still_prefilled = []
        for name in checklist.prefilled:
            suggestion = suggestions.get(name)
            if name in confirmed or suggestion is None or getattr(checklist, name) != suggestion.value:
                continue
            still_prefilled.append(name)
        checklist.prefilled = still_prefilled
        checklist.completed_by = user if getattr(user, "is_authenticated", False) else None
        checklist.full_clean()
        checklist.save()
    return checklist


def assessment_save(*, visit: Visit, user: Any, **fields: Any) -> VisitAssessment:
    """Set the visit's impression, differential, plan and notes (only those given)."""
    unknown = set(fields) - set(ASSESSMENT_FIELDS)
    if unknown:
        raise ValidationError({name: "Not a field of the assessment." for name in sorted(unknown)})
    with transaction.atomic():
        assessment = _refuse_signed(visit) or VisitAssessment(visit=visit)
        for name, value in fields.items():
            setattr(assessment, name, value)
        assessment.full_clean()
        assessment.save()
    return assessment


def visit_sign(*, visit: Visit, user: Any) -> VisitAssessment:
    """Sign the visit: who and when; from then on it is read-only. Needs an impression and a plan."""
    with transaction.atomic():
        assessment = _refuse_signed(visit)
        missing = [
            label
            for label, value in (
                ("impression", assessment and assessment.impression),
                ("plan", assessment and assessment.plan),
            )
            if not value
        ]
        if assessment is None or missing:
            raise ValidationError(f"Give the {' and the '.join(missing or ['impression'])} before signing the visit.")
        assessment.signed_by = user
        assessment.signed_at = timezone.now()
        assessment.save()
    return assessment


def visit_addendum_add(*, visit: Visit, user: Any, text: str) -> VisitAddendum:
    """Add a note to a signed visit (an unsigned one is still edited directly)."""
    with transaction.atomic():
        assessment = _locked_assessment(visit)
        if assessment is None or not assessment.is_signed:
            raise ValidationError("Only a signed visit takes addenda: change the assessment itself until it is signed.")
        addendum = VisitAddendum(visit=visit, author=user, text=text.strip())
        if not addendum.text:
            raise ValidationError({"text": "Write the addendum's text."})
        addendum.full_clean()
        addendum.save()
    return addendum
