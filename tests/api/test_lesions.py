"""Lesions of a patient: list, create, read, update with the diagnosis rules of the pages."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from lesions.models import Lesion, Patient
from tests.factories import LesionFactory, PatientFactory


def test_it_lists_a_patients_lesions_in_pages(api: APIClient, patient: Patient) -> None:
    LesionFactory.create_batch(3, patient=patient)
    LesionFactory(patient=PatientFactory(clinic=patient.clinic))  # another patient's

    body = api.get(reverse("api-patient-lesions", args=[patient.uuid])).json()

    assert body["count"] == 3
    assert {"next", "previous", "results"} <= body.keys()
    assert {lesion["patient"] for lesion in body["results"]} == {str(patient.uuid)}


def test_it_creates_a_lesion(api: APIClient, patient: Patient) -> None:
    response = api.post(
        reverse("api-patient-lesions", args=[patient.uuid]),
        {"label": "Back mole", "body_site": "posterior torso", "body_site_detail": "left scapula"},
        format="json",
    )

    assert response.status_code == 201, response.content
    lesion = Lesion.objects.get(uuid=response.json()["id"])
    assert lesion.patient == patient
    assert lesion.status == Lesion.Status.MONITORING
    assert response.json()["timeline_url"].endswith(f"/api/v1/lesions/{lesion.uuid}/timeline/")
    assert response.json()["images_url"].endswith(f"/api/v1/lesions/{lesion.uuid}/images/")


def test_it_creates_a_lesion_with_a_confirmed_diagnosis(api: APIClient, patient: Patient) -> None:
    response = api.post(
        reverse("api-patient-lesions", args=[patient.uuid]),
        {
            "label": "Excised",
            "body_site": "head/neck",
            "status": "excised",
            "diagnosis": "bcc",
            "diagnosis_confirmation": "histo",
            "diagnosis_date": "2026-01-10",
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    lesion = Lesion.objects.get()
    assert (lesion.diagnosis, lesion.diagnosis_confirmation) == ("bcc", "histo")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"body_site": "head/neck"}, "label"),
        ({"label": "x"}, "body_site"),
        ({"label": "x", "body_site": "elbow"}, "body_site"),
        ({"label": "x", "body_site": "head/neck", "diagnosis": "mel"}, "diagnosis_confirmation"),
        ({"label": "x", "body_site": "head/neck", "diagnosis_confirmation": "histo"}, "diagnosis"),
        ({"label": "x" * 101, "body_site": "head/neck"}, "label"),
    ],
)
def test_it_refuses_malformed_lesions(api: APIClient, patient: Patient, body: dict[str, str], field: str) -> None:
    response = api.post(reverse("api-patient-lesions", args=[patient.uuid]), body, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not Lesion.objects.exists()


def test_it_updates_a_lesion(api: APIClient, lesion: Lesion) -> None:
    response = api.patch(
        reverse("api-lesion-detail", args=[lesion.uuid]),
        {"status": "excised", "diagnosis": "mel", "diagnosis_confirmation": "histo"},
        format="json",
    )

    assert response.status_code == 200, response.content
    lesion.refresh_from_db()
    assert (lesion.status, lesion.diagnosis) == ("excised", "mel")


def test_a_partial_update_is_checked_against_the_stored_lesion(api: APIClient, lesion: Lesion) -> None:
    response = api.patch(reverse("api-lesion-detail", args=[lesion.uuid]), {"diagnosis": "mel"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"diagnosis_confirmation": ["Say how the diagnosis was confirmed."]}


def test_the_patient_of_a_lesion_cannot_be_changed(api: APIClient, lesion: Lesion) -> None:
    other = PatientFactory(clinic=lesion.patient.clinic)

    api.patch(reverse("api-lesion-detail", args=[lesion.uuid]), {"patient": str(other.uuid)}, format="json")

    lesion.refresh_from_db()
    assert lesion.patient != other


def test_it_reads_one_lesion(api: APIClient, lesion: Lesion) -> None:
    body = api.get(reverse("api-lesion-detail", args=[lesion.uuid])).json()

    assert body["id"] == str(lesion.uuid)
    assert body["label"] == "Left shoulder mole"
    assert body["patient"] == str(lesion.patient.uuid)


def test_it_refuses_a_diagnosis_date_in_the_future_with_the_pages_message(api: APIClient, patient: Patient) -> None:
    future = (timezone.localdate() + dt.timedelta(days=400)).isoformat()

    response = api.post(
        reverse("api-patient-lesions", args=[patient.uuid]),
        {
            "label": "Excised",
            "body_site": "head/neck",
            "diagnosis": "mel",
            "diagnosis_confirmation": "histo",
            "diagnosis_date": future,
        },
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"diagnosis_date": ["The date of confirmation cannot be in the future."]}
    assert not Lesion.objects.exists()


def test_an_update_to_a_future_diagnosis_date_is_refused(api: APIClient, lesion: Lesion) -> None:
    tomorrow = (timezone.localdate() + dt.timedelta(days=1)).isoformat()

    response = api.patch(
        reverse("api-lesion-detail", args=[lesion.uuid]),
        {"diagnosis": "bcc", "diagnosis_confirmation": "histo", "diagnosis_date": tomorrow},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {"diagnosis_date": ["The date of confirmation cannot be in the future."]}
    lesion.refresh_from_db()
    assert lesion.diagnosis == ""
