"""Writes that touch several rows or files: visits with their photos, lesion images."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from clinic.files import atomic_with_files, track_file
from lesions.imaging import PreparedImage, prepare_image
from lesions.models import Lesion, LesionImage, Patient, Visit


@dataclass
class PhotoUpload:
    """One photo of a new visit: for an existing lesion, or one created on the spot."""

    photo: PreparedImage | IO[bytes]
    image_type: str = LesionImage.ImageType.DERMOSCOPIC
    lesion: Lesion | None = None
    new_lesion_label: str = ""
    new_lesion_body_site: str = ""
    new_lesion_body_site_detail: str = ""


def image_prepare(photo: PreparedImage | IO[bytes], *, allow_heif: bool = False) -> PreparedImage:
    """Validate an uploaded file with the configured limits (raises ImageRejected)."""
    if isinstance(photo, PreparedImage):
        return photo
    return prepare_image(
        photo,
        max_bytes=settings.UPLOAD_MAX_BYTES,
        max_pixels=settings.UPLOAD_MAX_PIXELS,
        allow_heif=allow_heif,
    )


def lesion_create(
    *,
    patient: Patient,
    label: str,
    body_site: str,
    body_site_detail: str = "",
    status: str = Lesion.Status.MONITORING,
) -> Lesion:
    lesion = Lesion(
        patient=patient,
        label=label,
        body_site=body_site,
        body_site_detail=body_site_detail,
        status=status,
    )
    lesion.full_clean()
    lesion.save()
    return lesion


def lesion_image_create(
    *,
    lesion: Lesion,
    visit: Visit,
    photo: PreparedImage | IO[bytes],
    image_type: str = LesionImage.ImageType.DERMOSCOPIC,
    uploaded_by: Any = None,
    allow_heif: bool = False,
) -> LesionImage:
    """Store a validated photo of a lesion at a visit and queue its analysis."""
    if lesion.patient_id != visit.patient_id:
        raise ValidationError("The lesion and the visit belong to different patients.")
    if image_type not in LesionImage.ImageType.values:
        raise ValidationError(f"Unknown image type {image_type!r}.")
    prepared = image_prepare(photo, allow_heif=allow_heif)
    with atomic_with_files():
        image = LesionImage(
            lesion=lesion,
            visit=visit,
            image_type=image_type,
            content_type=prepared.content_type,
            width=prepared.width,
            height=prepared.height,
            file_size=len(prepared.content),
            sha256=prepared.sha256,
            uploaded_by=uploaded_by if getattr(uploaded_by, "is_authenticated", False) else None,
        )
        image.image.save(f"photo.{prepared.extension}", ContentFile(prepared.content), save=False)
        track_file(image.image.name)
        image.save()
        _queue_analysis(image)
    return image


def _queue_analysis(image: LesionImage) -> None:
    from ml.services import predictions_create_for_image

    predictions_create_for_image(image=image)


def visit_create(
    *,
    patient: Patient,
    clinician: Any,
    date: dt.date | None = None,
    notes: str = "",
    photos: Sequence[PhotoUpload] = (),
) -> Visit:
    """Create a visit with its photos in one transaction: all are stored, or none."""
    prepared = [image_prepare(p.photo) for p in photos]  # reject bad files before any write
    with atomic_with_files():
        visit = Visit(
            patient=patient,
            clinician=clinician if getattr(clinician, "is_authenticated", False) else None,
            notes=notes,
        )
        if date is not None:
            visit.date = date
        visit.full_clean()
        visit.save()
        for upload, photo in zip(photos, prepared, strict=True):
            lesion = upload.lesion
            if lesion is None:
                lesion = lesion_create(
                    patient=patient,
                    label=upload.new_lesion_label,
                    body_site=upload.new_lesion_body_site,
                    body_site_detail=upload.new_lesion_body_site_detail,
                )
            lesion_image_create(
                lesion=lesion,
                visit=visit,
                photo=photo,
                image_type=upload.image_type,
                uploaded_by=clinician,
            )
    return visit
