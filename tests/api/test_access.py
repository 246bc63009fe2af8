"""Every API endpoint for the four callers: members of the clinic (clinician and clinic admin)
are served, a clinician of another clinic gets 404, anonymous callers get 401."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from lesions.models import Lesion, LesionImage, Patient, Visit
from ml.models import Prediction
from tests.factories import make_jpeg
from tests.helpers import CALLERS, photo_upload


def _patient_body() -> dict[str, Any]:
    return {"medical_record_number": "NEW-1", "first_name": "Nora", "last_name": "Quist"}


def _lesion_body() -> dict[str, Any]:
    return {"label": "Right calf mole", "body_site": "lower extremity"}


def _upload_body() -> dict[str, Any]:
    return {"photo": photo_upload(make_jpeg(), "phone.jpg"), "image_type": "clinical_close_up"}


# url name, fixture whose uuid goes in the URL, method, body factory, format, status for members
ENDPOINTS: list[tuple[str, str, str, Callable[[], dict[str, Any]] | None, str, int]] = [
    ("api-patient-detail", "patient", "get", None, "json", 200),
    ("api-patient-detail", "patient", "patch", lambda: {"notes": "Sun protection advised."}, "json", 200),
    ("api-patient-detail", "patient", "put", _patient_body, "json", 200),
    ("api-patient-lesions", "patient", "get", None, "json", 200),
    ("api-patient-lesions", "patient", "post", _lesion_body, "json", 201),
    ("api-patient-visits", "patient", "get", None, "json", 200),
    ("api-patient-visits", "patient", "post", lambda: {"notes": "Review."}, "json", 201),
    ("api-lesion-detail", "lesion", "get", None, "json", 200),
    ("api-lesion-detail", "lesion", "patch", lambda: {"status": "biopsied"}, "json", 200),
    ("api-lesion-detail", "lesion", "put", _lesion_body, "json", 200),
    ("api-lesion-timeline", "lesion", "get", None, "json", 200),
    ("api-lesion-images", "lesion", "post", _upload_body, "multipart", 201),
    ("api-visit-detail", "visit", "get", None, "json", 200),
    ("api-image-detail", "lesion_image", "get", None, "json", 200),
    ("api-image-file", "lesion_image", "get", None, "json", 200),
    ("api-prediction-detail", "prediction", "get", None, "json", 200),
    ("api-prediction-heatmap", "prediction", "get", None, "json", 200),
    ("api-prediction-cam", "prediction", "get", None, "json", 200),
]

EXPECTED_FOR_OUTSIDERS = {"outsider": 404, "anonymous": 401}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("url_name", "record", "method", "body", "fmt", "success"), ENDPOINTS)
def test_it_serves_patient_data_only_to_members_of_the_clinic(
    request: pytest.FixtureRequest,
    api_as: Callable[[str], APIClient],
    caller: str,
    url_name: str,
    record: str,
    method: str,
    body: Callable[[], dict[str, Any]] | None,
    fmt: str,
    success: int,
) -> None:
    request.getfixturevalue("prediction")  # a photo with a finished analysis and its files
    url = reverse(url_name, args=[request.getfixturevalue(record).uuid])
    counts_before = _counts()

    response = getattr(api_as(caller), method)(url, body() if body else None, format=fmt)

    assert response.status_code == EXPECTED_FOR_OUTSIDERS.get(caller, success), response.content
    if caller == "anonymous":
        # the photo and the PDF are open to integrations' Bearer tokens too (FHIR links to them)
        bearer_too = url_name in {"api-image-file", "api-visit-report"}
        assert response["WWW-Authenticate"] == ('Token, Bearer realm="DermaTrack FHIR"' if bearer_too else "Token")
    if caller in EXPECTED_FOR_OUTSIDERS:
        assert _counts() == counts_before  # nothing written for them
        assert response.json().keys() == {"detail"}  # and nothing about the record revealed


def _counts() -> tuple[int, ...]:
    return tuple(model.objects.count() for model in (Patient, Lesion, Visit, LesionImage, Prediction))


@pytest.mark.parametrize(
    ("caller", "expected"), [("clinician", 1), ("clinic_admin", 1), ("outsider", 0), ("anonymous", None)]
)
def test_it_lists_only_the_callers_patients(
    api_as: Callable[[str], APIClient], patient: Patient, caller: str, expected: int | None
) -> None:
    response = api_as(caller).get(reverse("api-patient-list"))

    if expected is None:
        assert response.status_code == 401
    else:
        assert response.status_code == 200
        assert response.json()["count"] == expected


@pytest.mark.parametrize(("caller", "expected"), [("clinician", 201), ("clinic_admin", 201), ("outsider", 400)])
def test_it_creates_patients_only_in_the_callers_clinics(
    api_as: Callable[[str], APIClient], clinic: Any, caller: str, expected: int
) -> None:
    body = {**_patient_body(), "clinic": str(clinic.uuid)}

    response = api_as(caller).post(reverse("api-patient-list"), body, format="json")

    assert response.status_code == expected
    if caller == "outsider":
        assert "clinic" in response.json()
        assert not Patient.objects.filter(medical_record_number="NEW-1").exists()


def test_anonymous_callers_cannot_create_patients(api_as: Callable[[str], APIClient], clinic: Any) -> None:
    response = api_as("anonymous").post(reverse("api-patient-list"), _patient_body(), format="json")

    assert response.status_code == 401
    assert not Patient.objects.exists()
