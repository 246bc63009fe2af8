"""Who may open which page: every URL that shows patient data, for the four callers.

Members of the clinic (clinician or clinic admin) get the page, a clinician of another clinic
gets 404 (the record's existence is not revealed), anonymous callers are sent to log in.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from lesions.models import Lesion, LesionImage, Patient, Visit
from tests.factories import make_jpeg

# url name -> the fixture whose uuid goes in the URL
PAGES = [
    ("patient-detail", "patient"),
    ("patient-edit", "patient"),
    ("lesion-create", "patient"),
    ("visit-create", "patient"),
    ("lesion-detail", "lesion"),
    ("lesion-edit", "lesion"),
    ("visit-detail", "visit"),
    ("lesion-image-file", "lesion_image"),
    ("lesion-image-analysis", "lesion_image"),
    ("prediction-heatmap", "prediction"),
    ("prediction-cam", "prediction"),
]

CALLERS = [
    # caller, status of a GET
    ("clinician", 200),
    ("clinic_admin", 200),
    ("outsider", 404),
    ("anonymous", 302),
]


def _client(request: pytest.FixtureRequest, caller: str) -> Client:
    login = request.getfixturevalue("login")
    return login(None if caller == "anonymous" else request.getfixturevalue(caller))


@pytest.mark.parametrize(("caller", "expected"), CALLERS)
@pytest.mark.parametrize(("url_name", "record"), PAGES)
def test_it_shows_patient_data_only_to_members_of_the_clinic(
    request: pytest.FixtureRequest, url_name: str, record: str, caller: str, expected: int
) -> None:
    request.getfixturevalue("prediction")  # a photo with a finished analysis: every page has content
    url = reverse(url_name, args=[request.getfixturevalue(record).uuid])

    response = _client(request, caller).get(url)

    assert response.status_code == expected
    if caller == "anonymous":
        assert response.url == f"{reverse('login')}?next={url}"


@pytest.mark.parametrize(("caller", "expected"), [("clinician", 200), ("clinic_admin", 200), ("anonymous", 302)])
@pytest.mark.parametrize("url_name", ["patient-list", "patient-create"])
def test_it_shows_the_clinic_pages_to_members(
    request: pytest.FixtureRequest, url_name: str, caller: str, expected: int
) -> None:
    response = _client(request, caller).get(reverse(url_name))

    assert response.status_code == expected
    if caller == "anonymous":
        assert response.url.startswith(reverse("login"))


def test_it_hides_other_clinics_patients_from_the_list(login: Any, outsider: Any, patient: Patient) -> None:
    response = login(outsider).get(reverse("patient-list"))

    assert response.status_code == 200
    assert patient not in response.context["page"].object_list
    assert "Hale" not in response.content.decode()


def test_it_lists_the_clinics_patients_for_the_clinic_admin(login: Any, clinic_admin: Any, patient: Patient) -> None:
    response = login(clinic_admin).get(reverse("patient-list"))

    assert list(response.context["page"].object_list) == [patient]


def test_it_refuses_the_new_patient_page_to_users_without_a_clinic(login: Any, db: None) -> None:
    from tests.factories import UserFactory

    response = login(UserFactory()).get(reverse("patient-create"))

    assert response.status_code == 404


def test_it_answers_404_for_an_unknown_uuid(clinician_client: Client) -> None:
    response = clinician_client.get(reverse("patient-detail", args=["00000000-0000-0000-0000-000000000000"]))

    assert response.status_code == 404


# --- writes by callers who may not write -----------------------------------------------------


# url name, the record in the URL, what is posted, a field of the record and its value, kept
OUTSIDER_CHANGES = [
    (
        "patient-edit",
        "patient",
        {"medical_record_number": "X-1", "first_name": "Changed", "last_name": "Changed", "sex": "unknown"},
        ("last_name", "Hale"),
    ),
    (
        "lesion-edit",
        "lesion",
        {"label": "Changed", "body_site": "head/neck", "status": "monitoring"},
        ("label", "Left shoulder mole"),
    ),
    (
        "lesion-histopathology",
        "lesion",
        {"diagnosis": "mel", "diagnosis_confirmation": "histo", "diagnosis_date": "2024-05-02", "status": "excised"},
        ("diagnosis", ""),
    ),
]


@pytest.mark.parametrize(("url_name", "record_name", "data", "kept"), OUTSIDER_CHANGES)
def test_it_does_not_let_an_outsider_change_a_record(
    request: pytest.FixtureRequest,
    login: Any,
    outsider: Any,
    url_name: str,
    record_name: str,
    data: dict[str, str],
    kept: tuple[str, str],
) -> None:
    record = request.getfixturevalue(record_name)

    response = login(outsider).post(reverse(url_name, args=[record.uuid]), data)

    assert response.status_code == 404
    record.refresh_from_db()
    field, value = kept
    assert getattr(record, field) == value


def test_it_does_not_let_an_outsider_add_a_lesion(login: Any, outsider: Any, patient: Patient) -> None:
    response = login(outsider).post(
        reverse("lesion-create", args=[patient.uuid]), {"label": "Injected", "body_site": "head/neck"}
    )

    assert response.status_code == 404
    assert not Lesion.objects.filter(label="Injected").exists()


@pytest.mark.parametrize("caller", ["outsider", "anonymous"])
def test_it_does_not_store_photos_uploaded_by_non_members(
    request: pytest.FixtureRequest, caller: str, lesion: Lesion, media_files: Any
) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = _client(request, caller).post(
        reverse("visit-create", args=[lesion.patient.uuid]),
        {
            "date": "2024-05-01",
            "photos-TOTAL_FORMS": "1",
            "photos-INITIAL_FORMS": "0",
            "photos-0-lesion": str(lesion.uuid),
            "photos-0-image_type": "dermoscopic",
            "photos-0-photo": SimpleUploadedFile("a.jpg", make_jpeg(), content_type="image/jpeg"),
        },
    )

    assert response.status_code == (404 if caller == "outsider" else 302)
    assert not Visit.objects.exists()
    assert not LesionImage.objects.exists()
    assert media_files() == []
