"""Scoped reads of the FHIR API: a patient's everything, and the rows behind single resources."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet

from assessment.models import DermoscopyChecklist, VisitAssessment
from clinic.selectors import scoped
from interop.fhir import codes
from lesions.models import Lesion, LesionImage, Patient, Visit
from ml import selectors as ml_selectors
from ml.models import ModelVersion, Prediction, default_model_first


@dataclass(frozen=True)
class Item:
    """One resource of $everything: its type and the row(s) it is made of."""

    resource_type: str
    row: Any
    images: tuple[Any, ...] = ()  # a DiagnosticReport's photos; a ClinicalImpression's checklists


def images(user: Any) -> QuerySet[LesionImage]:
    """The caller's photos with analyses, outlines, lesion, patient and clinic loaded."""
    return scoped(LesionImage, user, ml_selectors.images_with_predictions()).select_related("lesion__patient__clinic")


def predictions(user: Any) -> QuerySet[Prediction]:
    """The caller's finished analyses (pending, running and failed ones are no Observation)."""
    return (
        scoped(Prediction, user)
        .filter(status=Prediction.Status.DONE)
        .select_related("model_version", "image__lesion__patient__clinic", "image__visit", "image__outline")
    )


def visits(user: Any) -> QuerySet[Visit]:
    return scoped(Visit, user).select_related("patient__clinic", "clinician")


def lesions(user: Any) -> QuerySet[Lesion]:
    return scoped(Lesion, user).select_related("patient__clinic")


def checklists(user: Any) -> QuerySet[DermoscopyChecklist]:
    return scoped(DermoscopyChecklist, user).select_related(
        "image__lesion__patient__clinic", "image__visit", "completed_by"
    )


def assessments(user: Any) -> QuerySet[VisitAssessment]:
    return scoped(VisitAssessment, user).select_related("visit__patient__clinic", "signed_by")


def model_version_by_device_id(device_id: str) -> ModelVersion | None:
    # A handful of rows: the name-based id is computed, not stored.
    return next((v for v in ModelVersion.objects.all() if codes.device_id(v) == device_id), None)


def patient_everything(user: Any, patient: Patient) -> list[Item]:
    """Everything of one patient the FHIR API serves, in a stable order: the patient, lesions,
    the models that analysed the photos, photos, analyses, visits."""
    lesion_rows = list(lesions(user).filter(patient=patient).order_by("label", "pk"))
    photo_rows = list(images(user).filter(lesion__patient=patient).order_by("visit__date", "created_at", "pk"))
    done = [p for image in photo_rows for p in image.predictions.all() if p.status == Prediction.Status.DONE]
    models = sorted({p.model_version for p in done}, key=default_model_first)
    visit_rows = list(visits(user).filter(patient=patient).order_by("date", "created_at", "pk"))
    checklist_rows = list(checklists(user).filter(image__lesion__patient=patient).order_by("image__visit__date", "pk"))
    assessment_rows = list(assessments(user).filter(visit__patient=patient).order_by("visit__date", "pk"))
    by_visit: dict[int, list[Any]] = {}
    for image in photo_rows:
        by_visit.setdefault(image.visit_id, []).append(image)
    return [
        Item("Patient", patient),
        *(Item("BodyStructure", lesion) for lesion in lesion_rows),
        *(Item("Device", version) for version in models),
        *(Item("Media", image) for image in photo_rows),
        *(Item("Observation", prediction) for prediction in done),
        *(Item("DiagnosticReport", visit, tuple(by_visit.get(visit.pk, ()))) for visit in visit_rows),
        *(Item("Observation", checklist) for checklist in checklist_rows),
        *(
            Item("ClinicalImpression", a, tuple(c for c in checklist_rows if c.image.visit_id == a.visit_id))
            for a in assessment_rows
        ),
    ]
