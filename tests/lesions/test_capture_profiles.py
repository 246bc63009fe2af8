"""Capture profiles: a device's field of view gives a photo its pixel size, within its own clinic and kind."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from lesions import services
from lesions.models import CaptureProfile, Lesion, LesionImage
from tests.factories import make_jpeg


def upload(lesion: Lesion, clinician: Any, **options: Any) -> LesionImage:
    return services.lesion_image_upload(
        lesion=lesion,
        photo=services.photo_sanitize(io.BytesIO(make_jpeg(400, 300))),
        image_type=options.pop("image_type", LesionImage.ImageType.DERMOSCOPIC),
        uploaded_by=clinician,
        **options,
    )


@pytest.fixture
def dermatoscope(clinic: Any) -> CaptureProfile:
    return CaptureProfile.objects.create(clinic=clinic, name="Room 2 dermatoscope", field_of_view_mm=20.0)


def test_a_photo_taken_with_a_profile_gets_its_pixel_size_from_the_field_of_view(
    lesion: Lesion, clinician: Any, dermatoscope: CaptureProfile
) -> None:
    image = upload(lesion, clinician, capture_profile=dermatoscope)
    assert image.pixel_size_mm == pytest.approx(20.0 / 400)
    assert "Room 2 dermatoscope" in image.pixel_size_source and "20 mm field" in image.pixel_size_source
    measured_here = upload(lesion, clinician, capture_profile=dermatoscope, mm_per_pixel=0.03)
    assert measured_here.pixel_size_mm == 0.03  # the photo's own pixel size wins


def test_another_clinics_profile_or_another_kind_of_photo_is_refused(
    lesion: Lesion, clinician: Any, other_clinic: Any, dermatoscope: CaptureProfile
) -> None:
    theirs = CaptureProfile.objects.create(clinic=other_clinic, name="Theirs", field_of_view_mm=20.0)
    with pytest.raises(ValidationError, match="another clinic"):
        upload(lesion, clinician, capture_profile=theirs)
    with pytest.raises(ValidationError, match="dermoscopic photos"):
        upload(lesion, clinician, capture_profile=dermatoscope, image_type=LesionImage.ImageType.CLINICAL_CLOSE_UP)
    assert not LesionImage.objects.exists()  # nothing half-stored


def test_the_api_takes_a_profile_of_the_lesions_clinic_only(
    api_as: Any, lesion: Lesion, clinician: Any, other_clinic: Any, dermatoscope: CaptureProfile
) -> None:
    client: Any = api_as("clinician")
    theirs = CaptureProfile.objects.create(clinic=other_clinic, name="Theirs", field_of_view_mm=20.0)
    url = f"/api/v1/lesions/{lesion.uuid}/images/"

    def post(profile: CaptureProfile) -> Any:
        photo = io.BytesIO(make_jpeg(400, 300))
        photo.name = "p.jpg"
        return client.post(url, {"photo": photo, "image_type": "dermoscopic", "capture_profile": str(profile.uuid)})

    refused = post(theirs)
    assert refused.status_code == 400 and "capture_profile" in refused.json()
    stored = post(dermatoscope)
    assert stored.status_code == 201
    body = stored.json()
    assert body["capture_profile"] == str(dermatoscope.uuid) and body["pixel_size_mm"] == pytest.approx(0.05)


def test_a_field_of_view_out_of_range_is_refused(clinic: Any) -> None:
    with pytest.raises(ValidationError, match="field of view"):
        CaptureProfile(clinic=clinic, name="Broken", field_of_view_mm=0).full_clean()
