"""A JSON body nested thousands of levels deep is a 400 with a message on every API endpoint, signed in
or not, never a RecursionError (500); nothing is stored. Bodies as deep as the limit still parse. A body
over the size limit is a 413 in JSON, not Django's HTML 400."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from clinic.parsers import MAX_JSON_DEPTH, json_depth_exceeds
from lesions.models import Patient
from tests.factories import patient_form_data

Api = Callable[[str], APIClient]

DEEP_JSON = "[" * 3000 + "]" * 3000


def nested(levels: int) -> Any:
    value: Any = []
    for _ in range(levels - 1):
        value = [value]
    return value


def test_a_deep_body_to_the_token_endpoint_is_a_400_without_signing_in(db: None) -> None:
    response = APIClient(raise_request_exception=False).post(
        reverse("api-token"), DEEP_JSON, content_type="application/json"
    )

    assert response.status_code == 400
    assert f"more than {MAX_JSON_DEPTH} levels" in response.json()["detail"]


@pytest.mark.parametrize(("caller", "status"), [("anonymous", 401), ("clinician", 400)])
def test_a_deep_body_to_the_patient_list_is_refused_and_stores_nothing(
    api_as: Api, clinic: Any, caller: str, status: int
) -> None:
    api = api_as(caller)
    api.raise_request_exception = False

    response = api.post(reverse("api-patient-list"), DEEP_JSON, content_type="application/json")

    assert response.status_code == status
    if caller == "clinician":
        assert f"more than {MAX_JSON_DEPTH} levels" in response.json()["detail"]
    assert not Patient.objects.exists()


def test_a_body_as_deep_as_the_limit_is_read(api_as: Api, clinic: Any) -> None:
    body = {**patient_form_data(), "unknown": nested(MAX_JSON_DEPTH - 1)}  # the object itself is a level
    body.pop("fitzpatrick_skin_type", None)

    response = api_as("clinician").post(reverse("api-patient-list"), body, format="json")

    assert response.status_code == 201, response.content
    assert Patient.objects.count() == 1


def test_one_level_more_is_refused(api_as: Api, clinic: Any) -> None:
    body = {**patient_form_data(), "unknown": nested(MAX_JSON_DEPTH)}
    body.pop("fitzpatrick_skin_type", None)

    response = api_as("clinician").post(reverse("api-patient-list"), body, format="json")

    assert response.status_code == 400 and not Patient.objects.exists()


@pytest.mark.parametrize(
    ("value", "deeper"),
    [
        (1, False),
        ("x", False),
        ({}, False),
        (nested(3), False),
        ({"a": [{}]}, False),
        ({"a": [{"b": []}]}, True),
        (nested(4), True),
    ],
)
def test_depth_is_counted_in_arrays_and_objects(value: Any, deeper: bool) -> None:
    assert json_depth_exceeds(value, limit=3) is deeper


def test_depth_is_measured_without_recursion() -> None:
    assert json_depth_exceeds(nested(100_000)) is True


def test_a_body_over_the_upload_limit_is_a_413_in_json(api_as: Api, clinic: Any, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2000
    body = {**patient_form_data(), "notes": "x" * 3000}
    body.pop("fitzpatrick_skin_type", None)

    response = api_as("clinician").post(reverse("api-patient-list"), body, format="json")

    assert response.status_code == 413 and "2000 bytes" in response.json()["detail"]
    assert not Patient.objects.exists()
