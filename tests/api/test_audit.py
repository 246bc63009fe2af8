"""API reads and writes land on the audit trail with the token's user as the actor."""

from __future__ import annotations

from typing import Any

from auditlog.models import LogEntry
from django.urls import reverse
from rest_framework.test import APIClient

from lesions.models import Lesion, Patient
from tests.factories import PatientFactory


def _entries(instance: Any, action: int) -> list[LogEntry]:
    return list(LogEntry.objects.get_for_object(instance).filter(action=action))


def test_reading_a_patient_is_recorded_with_the_token_user(api: APIClient, clinician: Any, patient: Patient) -> None:
    api.get(reverse("api-patient-detail", args=[patient.uuid]), REMOTE_ADDR="10.9.8.7")

    (entry,) = _entries(patient, LogEntry.Action.ACCESS)
    assert entry.actor == clinician
    assert entry.remote_addr == "10.9.8.7"


def test_the_patient_list_records_one_read_per_page_naming_the_patients(
    api: APIClient, clinician: Any, clinic: Any
) -> None:
    shown = PatientFactory.create_batch(2, clinic=clinic)

    api.get(reverse("api-patient-list"))

    (entry,) = LogEntry.objects.filter(action=LogEntry.Action.ACCESS)
    assert entry.actor == clinician
    assert entry.additional_data["count"] == 2
    assert all(f",{patient.pk}," in entry.additional_data["patients"] for patient in shown)


def test_a_change_through_the_api_is_recorded_with_the_token_user(
    api: APIClient, clinician: Any, lesion: Lesion
) -> None:
    api.patch(reverse("api-lesion-detail", args=[lesion.uuid]), {"status": "biopsied"}, format="json")

    (entry,) = _entries(lesion, LogEntry.Action.UPDATE)
    assert entry.actor == clinician
    assert "status" in entry.changes_dict


def test_outsiders_leave_no_read_on_the_trail(api_as: Any, patient: Patient) -> None:
    response = api_as("outsider").get(reverse("api-patient-detail", args=[patient.uuid]))

    assert response.status_code == 404
    assert _entries(patient, LogEntry.Action.ACCESS) == []
