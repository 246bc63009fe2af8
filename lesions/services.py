"""Every write of patients, lesions, visits and photos: the pages and the API both call these.

The rules are the models' (``full_clean``), so a form, a serializer and a service never
disagree; a refused write raises Django's ``ValidationError`` with field messages. Photos are
stored with their files (``atomic_with_files``) and announced with ``lesion_image_stored``,
on which the analysis app queues its work.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from clinic.files import atomic_with_files, delete_files, track_file
from clinic.models import Clinic
from lesions.imaging import SanitizedPhoto, sanitize_photo, thumbnail_of_stored
from lesions.models import CaptureProfile, Lesion, LesionImage, Patient, Visit
from lesions.signals import lesion_changed, lesion_image_stored

# --- patients ------------------------------------------------------------------------------


def _patient_save(patient: Patient) -> Patient:
    patient.full_clean()
    try:
        with transaction.atomic():
            patient.save()
    except IntegrityError as exc:  # a concurrent write took the record number after full_clean
        raise ValidationError({"medical_record_number": [Patient.MRN_TAKEN]}) from exc
    return patient


def patient_create(*, clinic: Clinic, **fields: Any) -> Patient:
    return _patient_save(Patient(clinic=clinic, **fields))


def patient_update(*, patient: Patient, **fields: Any) -> Patient:
    for name, value in fields.items():
        setattr(patient, name, value)
    return _patient_save(patient)


# --- lesions -------------------------------------------------------------------------------


def _diagnosis_fields(lesion: Lesion, fields: dict[str, Any]) -> dict[str, Any]:
    """Keep the result (``histopathology``) and its model class (``diagnosis``) one decision.

    A result given wins and sets the class (Lesion.clean); a result cleared clears the class; a
    class given alone (clients of the 7-class field) keeps the current result if it has that
    class, else Lesion.clean gives the term that keeps the class's meaning.
    """
    if "histopathology" in fields:
        if not fields["histopathology"]:
            fields.setdefault("diagnosis", "")
        else:
            fields.pop("diagnosis", None)
    elif "diagnosis" in fields:
        current = lesion.histopathology_term
        if current is None or current.diagnosis != fields["diagnosis"]:
            fields["histopathology"] = ""
    return fields


def lesion_create(*, patient: Patient, **fields: Any) -> Lesion:
    """A new lesion: label and body site, and optionally status, a confirmed result and a follow-up interval."""
    lesion = Lesion(patient=patient)
    fields = _diagnosis_fields(lesion, dict(fields))
    for name, value in fields.items():
        setattr(lesion, name, value)
    lesion.full_clean()
    lesion.save()
    return lesion


def lesion_update(*, lesion: Lesion, **fields: Any) -> Lesion:
    """Change a lesion's record (label, site, status, confirmed diagnosis); apps above hear of it once it commits.

    When the point on the body map moves, the site and side are taken from the new point unless
    they are changed too.
    """
    fields = _diagnosis_fields(lesion, dict(fields))
    placed = fields.get("map_x", lesion.map_x) is not None  # a new point, not one cleared to the region's centre
    moved = placed and any(
        name in fields and fields[name] != getattr(lesion, name) for name in ("view", "map_x", "map_y")
    )
    if moved:
        for name in ("body_site", "laterality"):
            if fields.get(name, getattr(lesion, name)) == getattr(lesion, name):
                fields[name] = ""  # Lesion.locate derives it from the new point
    for name, value in fields.items():
        setattr(lesion, name, value)
    lesion.full_clean()
    lesion.save()
    transaction.on_commit(lambda: lesion_changed.send(sender=Lesion, lesion=lesion))
    return lesion


# --- photos --------------------------------------------------------------------------------


def photo_sanitize(photo: SanitizedPhoto | IO[bytes], *, allow_heif: bool = False) -> SanitizedPhoto:
    """Validate an uploaded file with the configured limits (raises ImageRejected)."""
    if isinstance(photo, SanitizedPhoto):
        return photo
    return sanitize_photo(
        photo,
        max_bytes=settings.UPLOAD_MAX_BYTES,
        max_pixels=settings.UPLOAD_MAX_PIXELS,
        allow_heif=allow_heif,
    )


def lesion_image_create(
    *,
    lesion: Lesion,
    visit: Visit,
    photo: SanitizedPhoto | IO[bytes],
    image_type: str = LesionImage.ImageType.DERMOSCOPIC,
    uploaded_by: Any = None,
    allow_heif: bool = False,
    mm_per_pixel: float | None = None,
    capture_profile: CaptureProfile | None = None,
) -> LesionImage:
    """Store a validated photo of a lesion at a visit; its analysis is queued by ``lesion_image_stored``.

    ``mm_per_pixel`` is the photo's pixel size when the capture app or a ruler knows it; a
    ``capture_profile`` (the clinic's device, with its field of view) gives it otherwise.
    """
    if lesion.patient_id != visit.patient_id:
        raise ValidationError("The lesion and the visit belong to different patients.")
    if image_type not in LesionImage.ImageType.values:
        raise ValidationError(f"Unknown image type {image_type!r}.")
    sanitized = photo_sanitize(photo, allow_heif=allow_heif)
    with atomic_with_files():
        image = LesionImage(
            lesion=lesion,
            visit=visit,
            image_type=image_type,
            content_type=sanitized.content_type,
            width=sanitized.width,
            height=sanitized.height,
            file_size=len(sanitized.content),
            sha256=sanitized.sha256,
            mm_per_pixel=mm_per_pixel,
            capture_profile=capture_profile,
            uploaded_by=uploaded_by if getattr(uploaded_by, "is_authenticated", False) else None,
        )
        # The model's rules for what the caller chose (the rest was measured from the file).
        image.full_clean(
            exclude=[f.name for f in LesionImage._meta.fields if f.name not in ("mm_per_pixel", "capture_profile")],
            validate_unique=False,
            validate_constraints=False,
        )
        image.image.save(f"photo.{sanitized.extension}", ContentFile(sanitized.content), save=False)
        track_file(image.image.name)
        image.thumbnail.save("thumbnail.jpg", ContentFile(sanitized.thumbnail), save=False)
        track_file(image.thumbnail.name)
        image.save()
        lesion_image_stored.send(sender=LesionImage, image=image)
    return image


def lesion_image_upload(
    *,
    lesion: Lesion,
    photo: SanitizedPhoto,
    image_type: str,
    uploaded_by: Any,
    visit: Visit | None = None,
    mm_per_pixel: float | None = None,
    capture_profile: CaptureProfile | None = None,
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
            mm_per_pixel=mm_per_pixel,
            capture_profile=capture_profile,
        )


def lesion_image_thumbnail_make(*, image: LesionImage) -> LesionImage:
    """Store the thumbnail of a photo stored without one (before thumbnails existed); nothing if it has one.

    Decodes the stored photo once. Two makers at once store one thumbnail: the row takes the first, the
    other's file is removed. Raises OSError or ValueError when the photo file cannot be read.
    """
    if image.thumbnail:
        return image
    with image.image.open("rb") as handle:
        content = thumbnail_of_stored(handle)
    with atomic_with_files():
        image.thumbnail.save("thumbnail.jpg", ContentFile(content), save=False)
        name = image.thumbnail.name
        track_file(name)
        # Not save(): the photo's record did not change (no audit entry), and a concurrent maker may have won.
        taken = LesionImage.objects.filter(pk=image.pk, thumbnail="").update(thumbnail=name)
    if not taken:
        delete_files([name])
        image.refresh_from_db(fields=["thumbnail"])
    return image


# --- visits --------------------------------------------------------------------------------


@dataclass
class PhotoUpload:
    """One photo of a new visit: for an existing lesion, or one created on the spot."""

    photo: SanitizedPhoto | IO[bytes]
    image_type: str = LesionImage.ImageType.DERMOSCOPIC
    lesion: Lesion | None = None
    new_lesion_label: str = ""
    new_lesion_body_site: str = ""
    new_lesion_body_site_detail: str = ""
    mm_per_pixel: float | None = None
    capture_profile: CaptureProfile | None = None


def visit_create(
    *,
    patient: Patient,
    clinician: Any,
    date: dt.date | None = None,
    notes: str = "",
    photos: Sequence[PhotoUpload] = (),
) -> Visit:
    """Create a visit with its photos in one transaction: all are stored, or none."""
    sanitized = [photo_sanitize(p.photo) for p in photos]  # reject bad files before any write
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
        for upload, photo in zip(photos, sanitized, strict=True):
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
                mm_per_pixel=upload.mm_per_pixel,
                capture_profile=upload.capture_profile,
            )
    return visit


def visit_for_today(*, patient: Patient, clinician: Any) -> Visit:
    """Today's visit of the patient by this clinician, created if there is none yet."""
    with transaction.atomic():
        # Two photos sent at once must land in one visit: lock the patient while choosing.
        Patient.objects.select_for_update().only("pk").get(pk=patient.pk)
        visit = (
            Visit.objects.filter(patient=patient, clinician=clinician, date=timezone.localdate())
            # A signed visit (the assessment app's sign-off) is read-only: a later photo starts a new visit.
            .exclude(assessment__signed_at__isnull=False)
            .order_by("created_at")
            .first()
        )
        return visit or visit_create(patient=patient, clinician=clinician)
