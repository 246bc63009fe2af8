"""A photo's dermoscopy checklists as an Observation, a visit's assessment as a ClinicalImpression.

Pure mapping like ``interop.fhir.resources``: rows in, dicts out. The checklists' Observation is
``final`` once the visit is signed (``preliminary`` before); ABCD items still pre-filled from the
outline, not confirmed by the clinician, are named in a note. R4's ClinicalImpression has no plan
element: the plan is a note beside the differential, the free text and the addenda.
"""

from __future__ import annotations

from typing import Any

from assessment import scores
from assessment.models import DermoscopyChecklist, VisitAssessment, visit_is_signed
from interop.fhir import codes
from interop.fhir.resources import body_site, compact, instant, patient_reference, reference

EXAM_CATEGORY = {"coding": [{"system": codes.OBSERVATION_CATEGORY, "code": "exam", "display": "Exam"}]}


def _score(code: str, value: float | int | None, unit: str = "{score}") -> dict[str, Any] | None:
    if value is None:
        return None
    return {
        "code": codes.DERMOSCOPY.concept(code),
        "valueQuantity": {"value": value, "unit": "score", "system": codes.UCUM, "code": unit},
    }


def checklist_observation_resource(checklist: DermoscopyChecklist) -> dict[str, Any]:
    """The 7-point score as the value; every item, the TDS and the 3-point score as components."""
    image = checklist.image
    lesion, visit = image.lesion, image.visit
    components: list[dict[str, Any] | None] = [
        _score(codes.TOTAL_DERMOSCOPY_SCORE, checklist.total_dermoscopy_score),
        _score(codes.THREE_POINT_SCORE, checklist.three_point_score),
    ]
    components += [
        {"code": codes.DERMOSCOPY.concept(name), "valueBoolean": bool(getattr(checklist, name))}
        for name, *_ in scores.SEVEN_POINT_ITEMS
    ]
    components += [
        {"code": codes.DERMOSCOPY.concept(name), "valueInteger": getattr(checklist, name)}
        for name, *_ in scores.ABCD_ITEMS
        if getattr(checklist, name) is not None
    ]
    components += [
        {"code": codes.DERMOSCOPY.concept(name), "valueBoolean": getattr(checklist, name)}
        for name, _ in scores.THREE_POINT_ITEMS
        if getattr(checklist, name) is not None
    ]
    notes = []
    if checklist.tds_band:
        notes.append(f"TDS {checklist.total_dermoscopy_score:.2f}: {checklist.tds_band}.")
    if checklist.prefilled:
        labels = [label for name, label, *_ in scores.ABCD_ITEMS if name in checklist.prefilled]
        notes.append(f"Pre-filled from the lesion outline, not confirmed by the clinician: {', '.join(labels)}.")
    user = checklist.completed_by
    return compact(
        {
            "resourceType": "Observation",
            "id": str(checklist.uuid),
            "meta": {"lastUpdated": instant(checklist.updated_at)},
            "status": "final" if visit_is_signed(visit) else "preliminary",
            "category": [EXAM_CATEGORY],
            "code": codes.DERMOSCOPY.concept(codes.DERMOSCOPY_CHECKLISTS),
            "subject": patient_reference(lesion.patient),
            "effectiveDateTime": visit.date.isoformat(),
            "issued": instant(checklist.updated_at),
            "performer": [{"display": user.get_full_name() or user.username}] if user else [],
            "valueQuantity": {
                "value": checklist.seven_point_score,
                "unit": "score",
                "system": codes.UCUM,
                "code": "{score}",
            },
            "interpretation": [
                {"text": "suggests melanoma (7-point score 3 or more)"}
                if checklist.seven_point_suggests_melanoma
                else {"text": "7-point score below 3"}
            ],
            "note": [{"text": text} for text in notes],
            "bodySite": body_site(lesion),
            "method": {"text": "Dermoscopy checklists (7-point checklist, ABCD rule, 3-point checklist)"},
            "derivedFrom": [reference("Media", image.uuid)],
            "component": [c for c in components if c is not None],
        }
    )


def clinical_impression_resource(
    assessment: VisitAssessment, checklists: list[DermoscopyChecklist], addenda: list[Any]
) -> dict[str, Any]:
    """The clinician's impression (summary and finding), differential, plan, notes and addenda; signed = completed."""
    visit = assessment.visit
    notes = []
    if assessment.differential:
        notes.append(f"Differential diagnosis: {assessment.differential}")
    if assessment.plan:
        notes.append(f"Plan: {assessment.get_plan_display()}")
    if assessment.notes:
        notes.append(assessment.notes)
    if assessment.is_signed:
        notes.append(f"Signed by {assessment.signed_by_name} at {instant(assessment.signed_at)}.")
    note_items: list[dict[str, Any]] = [{"text": text} for text in notes]
    note_items += [
        {"authorString": a.author_name, "time": instant(a.created_at), "text": f"Addendum: {a.text}"} for a in addenda
    ]
    return compact(
        {
            "resourceType": "ClinicalImpression",
            "id": str(assessment.uuid),
            "meta": {"lastUpdated": instant(max([assessment.updated_at, *(a.created_at for a in addenda)]))},
            "status": "completed" if assessment.is_signed else "in-progress",
            "code": codes.DERMOSCOPY.concept(codes.CLINICAL_IMPRESSION),
            "subject": patient_reference(visit.patient),
            "effectiveDateTime": visit.date.isoformat(),
            "date": instant(assessment.signed_at or assessment.updated_at),
            "assessor": {"display": assessment.signed_by_name} if assessment.is_signed else None,
            "summary": assessment.impression,
            "finding": [{"itemCodeableConcept": {"text": assessment.impression}}] if assessment.impression else [],
            "supportingInfo": [
                reference("DiagnosticReport", visit.uuid),
                *(
                    reference("Observation", c.uuid, f"Dermoscopy checklists: {c.image.lesion.label}")
                    for c in checklists
                ),
            ],
            "note": note_items,
        }
    )
