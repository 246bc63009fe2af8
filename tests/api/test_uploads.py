"""Photo uploads from phones: formats, orientation, the visit chosen, and every kind of bad input."""

from __future__ import annotations

import datetime as dt
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from PIL import Image
from rest_framework.test import APIClient

from lesions.models import Lesion, LesionImage, Visit
from ml.models import ModelVersion
from tests.factories import LesionFactory, PatientFactory, VisitFactory, make_exif, make_jpeg, make_png
from tests.helpers import image_from, photo_upload, streamed, token_client, upload


def make_heic(width: int = 120, height: int = 90) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    out = BytesIO()
    Image.new("RGB", (width, height), (180, 120, 90)).save(out, format="HEIF")
    return out.getvalue()


def test_it_stores_an_uploaded_photo_with_its_pending_analyses(
    api: APIClient, lesion: Lesion, active_model: ModelVersion, sample_photo_path: Path
) -> None:
    response = upload(api, lesion, sample_photo_path.read_bytes(), image_type="dermoscopic")

    assert response.status_code == 201, response.content
    body = response.json()
    image = LesionImage.objects.get()
    assert body["id"] == str(image.uuid)
    assert body["lesion"] == str(lesion.uuid)
    assert body["visit"] == str(image.visit.uuid)
    assert (body["width"], body["height"]) == (image.width, image.height) == Image.open(sample_photo_path).size
    assert body["image_type"] == "dermoscopic"
    assert body["created"]
    assert body["url"].endswith(f"/api/v1/images/{image.uuid}/")
    assert body["file_url"].endswith(f"/api/v1/images/{image.uuid}/file/")
    [prediction] = body["predictions"]
    assert prediction["status"] == "pending"
    assert prediction["model_version"]["name"] == active_model.name
    assert prediction["probabilities"] is None and prediction["heatmap_url"] is None
    assert prediction["url"].endswith(f"/api/v1/predictions/{prediction['id']}/")


def test_the_returned_photo_url_works_with_the_token(api: APIClient, lesion: Lesion) -> None:
    body = upload(api, lesion, make_jpeg()).json()

    response = api.get(body["file_url"])

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert "no-store" in response["Cache-Control"]  # patient data: never cached (was private, max-age=3600)
    assert Image.open(BytesIO(streamed(response))).size == (200, 150)


def test_the_photo_url_answers_even_when_the_client_asks_for_an_image(api: APIClient, lesion: Lesion) -> None:
    body = upload(api, lesion, make_jpeg()).json()

    response = api.get(body["file_url"], HTTP_ACCEPT="image/jpeg")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"


def test_it_accepts_png(api: APIClient, lesion: Lesion) -> None:
    response = upload(api, lesion, photo_upload(make_png(), "scan.png", "image/png"))

    assert response.status_code == 201
    assert response.json()["content_type"] == "image/png"


def test_it_accepts_heic_from_iphones_and_stores_a_jpeg(api: APIClient, lesion: Lesion) -> None:
    response = upload(api, lesion, photo_upload(make_heic(120, 90), "IMG_0001.HEIC", "image/heic"))

    assert response.status_code == 201, response.content
    assert (response.json()["width"], response.json()["height"]) == (120, 90)
    assert response.json()["content_type"] == "image/jpeg"
    stored = image_from(api.get(response.json()["file_url"]))
    assert stored.format == "JPEG"


def test_it_applies_the_exif_orientation_and_drops_the_metadata(api: APIClient, lesion: Lesion) -> None:
    # Orientation 6: the camera was turned a quarter clockwise; the red marker of the picture's
    # top-left corner must end up top-right once the photo is upright.
    photo = make_jpeg(200, 150, exif=make_exif(orientation=6))

    response = upload(api, lesion, photo)

    assert response.status_code == 201
    assert (response.json()["width"], response.json()["height"]) == (150, 200)
    stored = image_from(api.get(response.json()["file_url"])).convert("RGB")
    red, green, blue = stored.getpixel((stored.width - 5, 5))
    assert red > 200 and green < 60 and blue < 60
    assert not stored.getexif()


def test_without_a_visit_it_creates_todays_visit_of_the_uploader(
    api: APIClient, clinician: Any, lesion: Lesion
) -> None:
    VisitFactory(patient=lesion.patient, clinician=clinician, date=timezone.localdate() - dt.timedelta(days=30))

    response = upload(api, lesion, make_jpeg())

    visit = Visit.objects.get(uuid=response.json()["visit"])
    assert visit.date == timezone.localdate()
    assert visit.clinician == clinician
    assert visit.patient == lesion.patient
    assert response.json()["visit_date"] == str(timezone.localdate())


def test_later_uploads_of_the_day_reuse_that_visit(api: APIClient, lesion: Lesion) -> None:
    other_lesion = LesionFactory(patient=lesion.patient)

    first = upload(api, lesion, make_jpeg()).json()
    second = upload(api, other_lesion, make_jpeg(160, 120)).json()

    assert first["visit"] == second["visit"]
    assert Visit.objects.count() == 1


def test_a_colleague_uploading_the_same_day_gets_their_own_visit(
    api: APIClient, clinic_admin: Any, lesion: Lesion
) -> None:
    mine = upload(api, lesion, make_jpeg()).json()
    theirs = upload(token_client(clinic_admin), lesion, make_jpeg()).json()

    assert mine["visit"] != theirs["visit"]
    assert Visit.objects.get(uuid=theirs["visit"]).clinician == clinic_admin


def test_it_stores_the_photo_at_a_given_visit(api: APIClient, lesion: Lesion) -> None:
    visit = VisitFactory(patient=lesion.patient, date=dt.date(2025, 5, 1))

    response = upload(api, lesion, make_jpeg(), visit=str(visit.uuid))

    assert response.status_code == 201
    assert response.json()["visit"] == str(visit.uuid)
    assert Visit.objects.count() == 1


# --- bad input: 400 with the field's message, nothing stored ------------------------------


def _assert_refused(response: Any, field: str, media_files: Any, message: str | None = None) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body, body
    if message is not None:
        assert any(message in m for m in body[field]), body
    assert not LesionImage.objects.exists()
    assert not Visit.objects.exists()
    assert media_files() == []


def test_it_refuses_a_missing_photo(api: APIClient, lesion: Lesion, media_files: Any) -> None:
    _assert_refused(upload(api, lesion, None), "photo", media_files, "No file was submitted.")


def test_it_refuses_a_missing_image_type(api: APIClient, lesion: Lesion, media_files: Any) -> None:
    _assert_refused(upload(api, lesion, make_jpeg(), image_type=None), "image_type", media_files)


def test_it_refuses_an_unknown_image_type(api: APIClient, lesion: Lesion, media_files: Any) -> None:
    _assert_refused(upload(api, lesion, make_jpeg(), image_type="selfie"), "image_type", media_files)


def test_it_refuses_a_text_file_as_photo(api: APIClient, lesion: Lesion, media_files: Any) -> None:
    text = photo_upload(b"these are my notes, not a photo\n" * 10, "notes.jpg", "image/jpeg")

    _assert_refused(upload(api, lesion, text), "photo", media_files, "not a readable image")


def test_it_refuses_an_empty_file(api: APIClient, lesion: Lesion, media_files: Any) -> None:
    _assert_refused(upload(api, lesion, photo_upload(b"", "empty.jpg")), "photo", media_files)


def test_it_refuses_a_truncated_jpeg(api: APIClient, lesion: Lesion, media_files: Any) -> None:
    whole = make_jpeg(400, 300)

    _assert_refused(upload(api, lesion, whole[: len(whole) // 2]), "photo", media_files, "incomplete")


def test_it_refuses_a_gif(api: APIClient, lesion: Lesion, media_files: Any) -> None:
    from tests.factories import make_gif

    _assert_refused(upload(api, lesion, photo_upload(make_gif(), "a.gif", "image/gif")), "photo", media_files, "GIF")


def test_it_refuses_a_photo_over_the_size_limit(
    api: APIClient, lesion: Lesion, media_files: Any, settings: Any
) -> None:
    settings.UPLOAD_MAX_BYTES = 2000
    photo = make_jpeg(400, 300)
    assert len(photo) > 2000

    _assert_refused(upload(api, lesion, photo), "photo", media_files, "the limit is")


def test_it_refuses_a_visit_of_another_patient(api: APIClient, lesion: Lesion, media_files: Any) -> None:
    other_visit = VisitFactory(patient=PatientFactory(clinic=lesion.patient.clinic))

    response = upload(api, lesion, make_jpeg(), visit=str(other_visit.uuid))

    assert response.status_code == 400
    assert response.json() == {"visit": ["This visit belongs to another patient than the lesion."]}
    assert not LesionImage.objects.exists()
    assert media_files() == []


@pytest.mark.parametrize("visit_id", ["00000000-0000-0000-0000-000000000000", "other-clinic"])
def test_it_refuses_an_unknown_visit_without_revealing_other_clinics(
    api: APIClient, lesion: Lesion, other_clinic: Any, visit_id: str
) -> None:
    if visit_id == "other-clinic":
        visit_id = str(VisitFactory(patient=PatientFactory(clinic=other_clinic)).uuid)

    response = upload(api, lesion, make_jpeg(), visit=visit_id)

    assert response.status_code == 400
    assert response.json() == {"visit": ["No visit with this id."]}


def test_it_refuses_a_malformed_visit_id(api: APIClient, lesion: Lesion) -> None:
    response = upload(api, lesion, make_jpeg(), visit="visit-7")

    assert response.status_code == 400
    assert response.json() == {"visit": ["Must be a valid UUID."]}


@pytest.mark.parametrize("lesion_id", ["00000000-0000-0000-0000-000000000000", "not-a-uuid"])
def test_an_unknown_lesion_answers_404(api: APIClient, lesion: Lesion, lesion_id: str) -> None:
    response = upload(api, lesion_id, make_jpeg())

    assert response.status_code == 404
    assert not LesionImage.objects.exists()


def test_a_json_body_is_refused_as_unsupported(api: APIClient, lesion: Lesion) -> None:
    response = api.post(reverse("api-lesion-images", args=[lesion.uuid]), {"image_type": "dermoscopic"}, format="json")

    assert response.status_code == 415
