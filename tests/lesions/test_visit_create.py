from __future__ import annotations

import datetime as dt
from io import BytesIO
from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from PIL import Image

from lesions.models import Lesion, LesionImage, Patient, Visit
from tests.factories import LesionFactory, make_exif, make_jpeg, make_png, visit_form_data


def stored_path(image: LesionImage) -> Path:
    return Path(image.image.path)


def stored_paths(image: LesionImage) -> list[Path]:
    """The photo and its thumbnail."""
    return [Path(image.image.path), Path(image.thumbnail.path)]


def upload(content: bytes | None = None, name: str = "lesion.jpg", content_type: str = "image/jpeg") -> Any:
    return SimpleUploadedFile(name, make_jpeg() if content is None else content, content_type=content_type)


def test_it_stores_a_visit_with_one_photo_of_an_existing_lesion(
    clinician_client: Client, clinician: Any, lesion: Lesion, media_files: Any
) -> None:
    response = clinician_client.post(
        reverse("visit-create", args=[lesion.patient.uuid]),
        visit_form_data({"lesion": lesion.uuid, "photo": upload()}, notes="Follow-up at 3 months."),
    )

    visit = Visit.objects.get()
    image = LesionImage.objects.get()
    assert response.status_code == 302
    assert response.url == visit.get_absolute_url()
    assert (visit.date, visit.notes, visit.clinician) == (dt.date(2024, 5, 1), "Follow-up at 3 months.", clinician)
    assert (image.lesion, image.visit, image.uploaded_by) == (lesion, visit, clinician)
    assert (image.width, image.height, image.content_type) == (200, 150, "image/jpeg")
    assert media_files() == sorted(stored_paths(image))
    assert image.file_size == stored_path(image).stat().st_size


def test_it_stores_two_photos_one_creating_a_lesion(clinician_client: Client, lesion: Lesion, media_files: Any) -> None:
    response = clinician_client.post(
        reverse("visit-create", args=[lesion.patient.uuid]),
        visit_form_data(
            {"lesion": lesion.uuid, "photo": upload()},
            {
                "new_lesion_label": "New scalp lesion",
                "new_lesion_body_site": "head/neck",
                "new_lesion_body_site_detail": "vertex",
                "image_type": "clinical_close_up",
                "photo": upload(make_png(), name="scalp.png", content_type="image/png"),
            },
        ),
    )

    assert response.status_code == 302
    visit = Visit.objects.get()
    new_lesion = Lesion.objects.get(label="New scalp lesion")
    assert (new_lesion.patient, new_lesion.body_site, new_lesion.body_site_detail) == (
        lesion.patient,
        Lesion.BodySite.HEAD_NECK,
        "vertex",
    )
    images = {image.lesion: image for image in visit.images.all()}
    assert set(images) == {lesion, new_lesion}
    assert images[new_lesion].image_type == LesionImage.ImageType.CLINICAL_CLOSE_UP
    assert images[new_lesion].content_type == "image/png"
    assert sorted(media_files()) == sorted(path for image in images.values() for path in stored_paths(image))


def test_it_names_stored_files_by_uuid_not_by_the_uploaded_name(clinician_client: Client, lesion: Lesion) -> None:
    clinician_client.post(
        reverse("visit-create", args=[lesion.patient.uuid]),
        visit_form_data({"lesion": lesion.uuid, "photo": upload(name="Margaret_Hale_back_mole.JPG")}),
    )

    image = LesionImage.objects.get()
    assert image.image.name == f"lesion_images/{image.uuid}.jpg"
    assert "Hale" not in image.image.name


def test_it_strips_exif_and_gps_from_the_stored_photo(clinician_client: Client, lesion: Lesion) -> None:
    clinician_client.post(
        reverse("visit-create", args=[lesion.patient.uuid]),
        visit_form_data({"lesion": lesion.uuid, "photo": upload(make_jpeg(exif=make_exif()))}),
    )

    image = LesionImage.objects.get()
    stored = stored_path(image).read_bytes()
    with Image.open(BytesIO(stored)) as photo:
        assert dict(photo.getexif()) == {}
        assert "exif" not in photo.info
    assert b"PhoneMaker" not in stored
    assert b"Margaret Hale" not in stored


def test_it_streams_the_stored_photo(clinician_client: Client, lesion: Lesion) -> None:
    clinician_client.post(
        reverse("visit-create", args=[lesion.patient.uuid]), visit_form_data({"lesion": lesion.uuid, "photo": upload()})
    )
    image = LesionImage.objects.get()

    response = clinician_client.get(image.get_absolute_url())

    assert b"".join(response.streaming_content) == stored_path(image).read_bytes()


def test_it_preselects_the_lesion_from_the_query_string(clinician_client: Client, lesion: Lesion) -> None:
    response = clinician_client.get(reverse("visit-create", args=[lesion.patient.uuid]), {"lesion": lesion.uuid})

    assert response.context["photo_forms"].forms[0].initial == {"lesion": lesion}


def test_it_ignores_a_malformed_lesion_in_the_query_string(clinician_client: Client, patient: Patient) -> None:
    response = clinician_client.get(reverse("visit-create", args=[patient.uuid]), {"lesion": "not-a-uuid"})

    assert response.status_code == 200
    assert response.context["photo_forms"].forms[0].initial == {}


def test_it_offers_only_the_patients_own_lesions(clinician_client: Client, lesion: Lesion, clinic: Any) -> None:
    LesionFactory(patient__clinic=clinic, label="Another patient's lesion")

    response = clinician_client.get(reverse("visit-create", args=[lesion.patient.uuid]))

    assert list(response.context["photo_forms"].forms[0].fields["lesion"].queryset) == [lesion]


def test_it_refuses_a_lesion_of_another_patient(clinician_client: Client, patient: Patient, clinic: Any) -> None:
    someone_elses = LesionFactory(patient__clinic=clinic)

    response = clinician_client.post(
        reverse("visit-create", args=[patient.uuid]), visit_form_data({"lesion": someone_elses.uuid, "photo": upload()})
    )

    assert response.status_code == 200
    assert "lesion" in response.context["photo_forms"].forms[0].errors
    assert not Visit.objects.exists()


def test_it_requires_at_least_one_photo(clinician_client: Client, patient: Patient) -> None:
    response = clinician_client.post(reverse("visit-create", args=[patient.uuid]), visit_form_data({}))

    assert response.status_code == 200
    assert "Add at least one photo." in response.content.decode()
    assert not Visit.objects.exists()


def test_it_requires_a_label_and_site_for_a_new_lesion(
    clinician_client: Client, patient: Patient, media_files: Any
) -> None:
    response = clinician_client.post(reverse("visit-create", args=[patient.uuid]), visit_form_data({"photo": upload()}))

    errors = response.context["photo_forms"].forms[0].errors
    assert errors["new_lesion_label"] == ["Pick a lesion or name the new one."]
    assert errors["new_lesion_body_site"] == ["Choose the body site of the new lesion."]
    assert not Visit.objects.exists()
    assert not Lesion.objects.exists()
    assert media_files() == []
