"""Bad files sent through the new-visit page: the form comes back naming the problem, and
nothing at all is stored (no visit, no lesion created on the spot, no image row, no file)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from lesions.models import Lesion, LesionImage, Patient, Visit
from tests.factories import make_gif, make_jpeg, visit_form_data

JPEG = make_jpeg(200, 150)

BAD_UPLOADS = [
    # file name, content, words of the message shown
    pytest.param("notes.jpg", b"Patient notes, not a photo.\n" * 20, "not a readable image", id="text-renamed-jpg"),
    pytest.param("cut.jpg", JPEG[: len(JPEG) // 2], "damaged or incomplete", id="truncated-jpeg"),
    pytest.param("scan.gif", make_gif(), "GIF files are not accepted", id="gif"),
    pytest.param("empty.jpg", b"", "empty", id="zero-bytes"),
]


def _post_new_lesion_photo(client: Client, patient: Patient, name: str, content: bytes) -> Any:
    photo = SimpleUploadedFile(name, content, content_type="image/jpeg")
    return client.post(
        reverse("visit-create", args=[patient.uuid]),
        visit_form_data({"new_lesion_label": "Back mole", "new_lesion_body_site": "posterior torso", "photo": photo}),
    )


def _assert_nothing_stored(media_files: Any) -> None:
    assert not Visit.objects.exists()
    assert not Lesion.objects.exists()
    assert not LesionImage.objects.exists()
    assert media_files() == []


@pytest.mark.parametrize(("name", "content", "message"), BAD_UPLOADS)
def test_it_rejects_a_bad_file(
    clinician_client: Client, patient: Patient, media_files: Any, name: str, content: bytes, message: str
) -> None:
    response = _post_new_lesion_photo(clinician_client, patient, name, content)

    assert response.status_code == 200
    (error,) = response.context["photo_forms"].forms[0].errors["photo"]
    assert message in error
    assert message in response.content.decode()
    _assert_nothing_stored(media_files)


def test_it_rejects_a_file_over_the_size_limit(
    clinician_client: Client, patient: Patient, media_files: Any, settings: Any
) -> None:
    settings.UPLOAD_MAX_BYTES = len(JPEG) - 1

    response = _post_new_lesion_photo(clinician_client, patient, "big.jpg", JPEG)

    assert response.status_code == 200
    (error,) = response.context["photo_forms"].forms[0].errors["photo"]
    assert "the limit is" in error
    _assert_nothing_stored(media_files)


def test_it_stores_nothing_when_one_of_two_photos_is_bad(
    clinician_client: Client, patient: Patient, media_files: Any
) -> None:
    response = clinician_client.post(
        reverse("visit-create", args=[patient.uuid]),
        visit_form_data(
            {
                "new_lesion_label": "Good one",
                "new_lesion_body_site": "head/neck",
                "photo": SimpleUploadedFile("good.jpg", JPEG, content_type="image/jpeg"),
            },
            {
                "new_lesion_label": "Bad one",
                "new_lesion_body_site": "head/neck",
                "photo": SimpleUploadedFile("bad.jpg", b"not an image", content_type="image/jpeg"),
            },
        ),
    )

    assert response.status_code == 200
    assert response.context["photo_forms"].forms[0].errors == {}
    assert "photo" in response.context["photo_forms"].forms[1].errors
    _assert_nothing_stored(media_files)
