"""Visits of a patient: list (newest first) and create."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from lesions.models import LesionImage, Patient, Visit
from tests.factories import VisitFactory


def test_it_lists_a_patients_visits_newest_first(api: APIClient, patient: Patient, lesion_image: LesionImage) -> None:
    VisitFactory(patient=patient, date=dt.date(2024, 1, 1))

    body = api.get(reverse("api-patient-visits", args=[patient.uuid])).json()

    assert body["count"] == 2
    assert {"next", "previous"} <= body.keys()
    dates = [visit["date"] for visit in body["results"]]
    assert dates == sorted(dates, reverse=True)
    assert body["results"][0]["images"] == [str(lesion_image.uuid)]


def test_it_records_a_visit_for_today_by_the_caller(api: APIClient, clinician: Any, patient: Patient) -> None:
    response = api.post(
        reverse("api-patient-visits", args=[patient.uuid]), {"notes": "Full skin check."}, format="json"
    )

    assert response.status_code == 201, response.content
    visit = Visit.objects.get(uuid=response.json()["id"])
    assert visit.clinician == clinician
    assert visit.date == timezone.localdate()
    assert response.json()["clinician"] == clinician.get_full_name()


def test_it_records_a_visit_on_a_given_date(api: APIClient, patient: Patient) -> None:
    response = api.post(reverse("api-patient-visits", args=[patient.uuid]), {"date": "2025-03-04"}, format="json")

    assert response.status_code == 201
    assert Visit.objects.get().date == dt.date(2025, 3, 4)


def test_it_refuses_a_malformed_date(api: APIClient, patient: Patient) -> None:
    response = api.post(reverse("api-patient-visits", args=[patient.uuid]), {"date": "yesterday"}, format="json")

    assert response.status_code == 400
    assert "date" in response.json()
    assert not Visit.objects.exists()


def test_it_reads_one_visit(api: APIClient, visit: Visit) -> None:
    body = api.get(reverse("api-visit-detail", args=[visit.uuid])).json()

    assert body["id"] == str(visit.uuid)
    assert body["patient"] == str(visit.patient.uuid)
