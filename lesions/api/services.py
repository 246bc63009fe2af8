"""Writes behind the REST API that the web pages do not need (yet).

Each is a thin, typed wrapper over the model's own validation so that the API, like the
pages, never saves a row that ``full_clean`` would refuse. Uploads reuse
``lesions.services.lesion_image_create``; what is added here is the visit chosen on the spot.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.files import atomic_with_files
from clinic.models import Clinic
from lesions.imaging import PreparedImage
from lesions.models import Lesion, LesionImage, Patient, Visit
from lesions.services import lesion_create, lesion_image_create, visit_create

MRN_TAKEN = "Another patient of this clinic has this record number."


def _patient_save(patient: Patient) -> None:
    patient.full_clean()
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError as exc:  # a concurrent write took the record number after full_clean
        raise ValidationError({"medical_record_number": [MRN_TAKEN]}) from exc


def patient_create(*, clinic: Clinic, **fields: Any) -> Patient:
    patient = Patient(clinic=clinic, **fields)
    _patient_save(patient)
    return patient


def patient_update(*, patient: Patient, **fields: Any) -> Patient:
    for name, value in fields.items():
        setattr(patient, name, value)
    _patient_save(patient)
    return patient


def lesion_create_with_details(*, patient: Patient, **fields: Any) -> Lesion:
    """A new lesion; a confirmed diagnosis may be recorded at once."""
    base = {name: fields.pop(name) for name in ("label", "body_site", "body_site_detail", "status") if name in fields}
    with transaction.atomic():
        lesion = lesion_create(patient=patient, **base)
        if fields:
            lesion_update(lesion=lesion, **fields)
    return lesion


def lesion_update(*, lesion: Lesion, **fields: Any) -> Lesion:
    for name, value in fields.items():
        setattr(lesion, name, value)
    lesion.full_clean()
    lesion.save()
    return lesion


def visit_for_today(*, patient: Patient, clinician: Any) -> Visit:
    """Today's visit of the patient by this clinician, created if there is none yet."""
    with transaction.atomic():
        # Two photos sent at once must land in one visit: lock the patient while choosing.
        Patient.objects.select_for_update().only("pk").get(pk=patient.pk)
        visit = (
            Visit.objects.filter(patient=patient, clinician=clinician, date=timezone.localdate())
            .order_by("created_at")
            .first()
        )
        return visit or visit_create(patient=patient, clinician=clinician)


def lesion_image_upload(
    *,
    lesion: Lesion,
    photo: PreparedImage,
    image_type: str,
    uploaded_by: Any,
    visit: Visit | None = None,
) -> LesionImage:
    """Store a photo of a lesion, at the given visit or at today's visit of the uploader."""
    with atomic_with_files():
        if visit is None:
            visit = visit_for_today(patient=lesion.patient, clinician=uploaded_by)
        return lesion_image_create(
            lesion=lesion,
            visit=visit,
            photo=photo,
            image_type=image_type,
            uploaded_by=uploaded_by,
            allow_heif=True,
        )
