"""Follow-up end to end through the services (eager worker): aligned photos, change in one frame, flags and reviews.

Photos are textured skin with a dark lesion (the test segmenter outlines dark regions), so the
skin around the lesion can be registered; a follow-up is the same skin rotated and zoomed
(nothing grew), the lesion enlarged (it grew), or a featureless photo (it cannot be aligned).
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from django.test import Client
from PIL import Image

from followup.flags_sync import lesion_flags_sync
from followup.models import LesionFlag, PhotoAlignment
from lesions import services
from lesions.models import Lesion, LesionImage, Visit
from tests.factories import VisitFactory

SIZE = (400, 300)  # width, height
CENTRE = (200, 150)


def skin_photo(*, radius: tuple[int, int] = (40, 30), angle: float = 0.0, zoom: float = 1.0, seed: int = 7) -> bytes:
    """JPEG of textured skin with a dark elliptical lesion, the whole scene rotated and zoomed about the centre."""
    rng = np.random.default_rng(seed)
    width, height = SIZE
    big = (width * 2, height * 2)
    base = np.full((big[1], big[0], 3), (205, 165, 150), dtype=np.float32)
    for sigma, amplitude in ((1.5, 7), (5.0, 7), (14.0, 5)):
        noise = cv2.GaussianBlur(rng.normal(0, 1, (big[1], big[0])).astype(np.float32), (0, 0), sigma)
        base += (amplitude * noise / (noise.std() + 1e-6))[..., None]
    mask = np.zeros((big[1], big[0]), np.uint8)
    cv2.ellipse(mask, (big[0] // 2, big[1] // 2), radius, 15, 0, 360, 1, -1)
    base[mask.astype(bool)] = (60, 38, 30)
    scene = np.clip(base, 0, 255).astype(np.uint8)
    forward = cv2.getRotationMatrix2D((big[0] / 2, big[1] / 2), angle, zoom)
    forward[:, 2] -= (big[0] - width) / 2, (big[1] - height) / 2  # the central crop of the turned scene
    photo = cv2.warpAffine(scene, forward, SIZE, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def flat_photo(radius: tuple[int, int] = (60, 45)) -> bytes:
    photo = np.full((SIZE[1], SIZE[0], 3), (205, 165, 150), dtype=np.uint8)
    cv2.ellipse(photo, CENTRE, radius, 15, 0, 360, (60, 38, 30), -1)
    buffer = io.BytesIO()
    Image.fromarray(photo).save(buffer, "JPEG", quality=92)
    return buffer.getvalue()


def upload(lesion: Lesion, data: bytes, days_ago: int, clinician: Any, image_type: str = "dermoscopic") -> LesionImage:
    visit = Visit.objects.filter(patient=lesion.patient, date=dt.date.today() - dt.timedelta(days=days_ago)).first()
    if visit is None:
        visit = VisitFactory(
            patient=lesion.patient, clinician=clinician, date=dt.date.today() - dt.timedelta(days=days_ago)
        )
    photo = services.photo_sanitize(io.BytesIO(data))
    return services.lesion_image_upload(
        lesion=lesion, photo=photo, image_type=image_type, uploaded_by=clinician, visit=visit
    )


@pytest.fixture
def followed(segmenter: Path, lesion: Lesion, clinician: Any, django_capture_on_commit_callbacks: Any) -> Any:
    """``followed(data, days_ago)`` stores a photo of the lesion and runs its jobs (outline, alignment) eagerly."""

    def add(data: bytes, days_ago: int, image_type: str = "dermoscopic") -> LesionImage:
        with django_capture_on_commit_callbacks(execute=True):
            image = upload(lesion, data, days_ago, clinician, image_type)
        return image

    return add


def api_followup(client: Client, lesion: Lesion) -> dict[str, Any]:
    response = client.get(f"/api/v1/lesions/{lesion.uuid}/followup/")
    assert response.status_code == 200
    return response.json()


def test_a_rephotographed_lesion_is_aligned_compared_in_one_frame_and_not_flagged(
    followed: Any, lesion: Lesion, clinician_client: Client
) -> None:
    baseline = followed(skin_photo(), 120)
    latest = followed(skin_photo(angle=30.0, zoom=1.3), 10)  # turned and closer: the lesion covers 69% more pixels

    alignment = PhotoAlignment.objects.get(photo=latest, reference=baseline)
    assert alignment.status == PhotoAlignment.Status.ALIGNED, alignment.failure_reason
    assert alignment.scale == pytest.approx(1 / 1.3, rel=0.03)
    assert abs(abs(alignment.rotation_deg) - 30.0) < 2.0
    assert PhotoAlignment.objects.get(photo=baseline, reference=baseline).status == PhotoAlignment.Status.NOT_NEEDED

    data = api_followup(clinician_client, lesion)
    assert data["baseline"] == str(baseline.uuid) and data["latest"] == str(latest.uuid)
    assert data["alignment"]["status"] == "aligned" and data["alignment"]["quality"] > 0
    change = data["change_from_baseline"]
    assert change["comparable"] is True and change["basis"] == "aligned" and change["reason"] is None
    assert change["area_ratio"] == pytest.approx(1.0, abs=0.1)
    assert data["change_from_previous"]["reference"] == str(baseline.uuid)
    assert not LesionFlag.objects.filter(lesion=lesion, code=LesionFlag.Code.GROWTH).exists()


def test_growth_against_the_baseline_raises_a_flag_that_a_clinician_reviews(
    followed: Any, lesion: Lesion, clinician_client: Client, clinician: Any
) -> None:
    baseline = followed(skin_photo(radius=(40, 30)), 200)
    followed(skin_photo(radius=(44, 33), angle=10.0), 100)  # +21% area: under the threshold from here...
    latest = followed(skin_photo(radius=(50, 37), angle=-20.0, zoom=0.9), 5)  # ...+54% against the baseline

    data = api_followup(clinician_client, lesion)
    assert data["change_from_baseline"]["area_ratio"] == pytest.approx(50 * 37 / (40 * 30), rel=0.12)
    assert data["change_from_baseline"]["reference"] == str(baseline.uuid)
    (flag,) = [f for f in data["flags"] if f["code"] == "growth"]
    assert flag["status"] == "open" and flag["photo"] == str(latest.uuid)
    assert "baseline photo" in flag["detail"]

    listed = clinician_client.get("/api/v1/flags/").json()
    assert flag["id"] in [f["id"] for f in listed["results"]]
    missing = clinician_client.post(
        f"/api/v1/flags/{flag['id']}/review/", {"reason": ""}, content_type="application/json"
    )
    assert missing.status_code == 400 and "reason" in missing.json()
    reviewed = clinician_client.post(
        f"/api/v1/flags/{flag['id']}/review/", {"reason": "benign on dermoscopy"}, content_type="application/json"
    )
    assert reviewed.status_code == 200
    body = reviewed.json()
    assert body["status"] == "reviewed" and body["reviewed_by"] == clinician.username
    assert body["reason"] == "benign on dermoscopy" and body["reviewed_at"]
    again = clinician_client.post(
        f"/api/v1/flags/{flag['id']}/review/", {"reason": "x"}, content_type="application/json"
    )
    assert again.status_code == 400
    lesion_flags_sync(lesion=lesion)  # the same photo does not raise it again
    assert LesionFlag.objects.get(uuid=flag["id"]).status == LesionFlag.Status.REVIEWED
    assert not LesionFlag.objects.filter(lesion=lesion, code="growth", status="open").exists()


def test_an_excised_lesion_retires_its_open_flags_and_raises_no_new_one(
    followed: Any, lesion: Lesion, clinician: Any, django_capture_on_commit_callbacks: Any
) -> None:
    followed(skin_photo(radius=(40, 30)), 200)
    followed(skin_photo(radius=(55, 42)), 20)
    growth = LesionFlag.objects.get(lesion=lesion, code=LesionFlag.Code.GROWTH)
    assert growth.status == LesionFlag.Status.OPEN

    with django_capture_on_commit_callbacks(execute=True):
        services.lesion_update(lesion=lesion, status=Lesion.Status.EXCISED)

    growth.refresh_from_db()
    assert growth.status == LesionFlag.Status.RETIRED and growth.retired_reason == "the lesion was excised"
    followed(skin_photo(radius=(70, 52)), 2)
    assert not LesionFlag.objects.filter(lesion=lesion, status=LesionFlag.Status.OPEN).exists()


def test_photos_that_cannot_be_aligned_are_said_not_to_compare_and_never_flagged(
    followed: Any, lesion: Lesion, clinician_client: Client
) -> None:
    followed(flat_photo((60, 45)), 100)
    followed(flat_photo((80, 60)), 10)  # no skin texture: nothing to register on, only the (grown) lesion

    data = api_followup(clinician_client, lesion)
    assert data["alignment"]["status"] == "failed" and data["alignment"]["reason"]
    change = data["change_from_baseline"]
    assert change["comparable"] is False and change["area_ratio"] is None
    assert "could not align" in change["reason"]
    assert not LesionFlag.objects.filter(lesion=lesion, code=LesionFlag.Code.GROWTH).exists()


def test_a_clinical_close_up_is_not_compared_with_a_dermoscopic_photo(
    followed: Any, lesion: Lesion, clinician_client: Client
) -> None:
    followed(skin_photo(), 100)
    close_up = followed(skin_photo(radius=(70, 50)), 10, image_type=LesionImage.ImageType.CLINICAL_CLOSE_UP)

    data = api_followup(clinician_client, lesion)
    assert data["latest"] == str(close_up.uuid)
    assert data["baseline"] == str(close_up.uuid)  # the first photo of its kind is its own baseline
    assert data["alignment"]["status"] == "not_needed"
    assert data["change_from_baseline"] is None
    assert not PhotoAlignment.objects.filter(photo=close_up).exclude(reference=close_up).exists()


def test_another_clinic_gets_404_for_the_followup_and_the_flags(
    followed: Any, lesion: Lesion, login: Any, outsider: Any
) -> None:
    followed(skin_photo(radius=(40, 30)), 200)
    followed(skin_photo(radius=(55, 42)), 20)
    flag = LesionFlag.objects.get(lesion=lesion)
    client = login(outsider)
    assert client.get(f"/api/v1/lesions/{lesion.uuid}/followup/").status_code == 404
    assert client.get(f"/api/v1/flags/{flag.uuid}/").status_code == 404
    review = client.post(f"/api/v1/flags/{flag.uuid}/review/", {"reason": "mine"}, content_type="application/json")
    assert review.status_code == 404
    assert client.get("/api/v1/flags/").json()["count"] == 0
    flag.refresh_from_db()
    assert flag.status == LesionFlag.Status.OPEN
