"""Patients: paginated list with search, create in one of the caller's clinics, read, update."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from clinic.models import Clinic, Membership
from lesions.models import Patient
from tests.factories import ClinicFactory, MembershipFactory, PatientFactory

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_it_lists_patients_in_pages(api: APIClient, clinic: Clinic) -> None:
    PatientFactory.create_batch(30, clinic=clinic)

    first = api.get(reverse("api-patient-list")).json()
    second = api.get(first["next"]).json()

    assert first["count"] == 30
    assert len(first["results"]) == 25
    assert first["previous"] is None
    assert len(second["results"]) == 5
    assert second["next"] is None
    names = [p["last_name"] for p in first["results"] + second["results"]]
    assert names == sorted(names)


def test_it_shows_public_ids_only(api: APIClient, patient: Patient) -> None:
    body = api.get(reverse("api-patient-detail", args=[patient.uuid])).json()

    assert body["id"] == str(patient.uuid)
    assert UUID.match(body["clinic"])
    assert body["url"].endswith(f"/api/v1/patients/{patient.uuid}/")
    assert body["lesions_url"].endswith(f"/api/v1/patients/{patient.uuid}/lesions/")
    assert body["visits_url"].endswith(f"/api/v1/patients/{patient.uuid}/visits/")
    assert str(patient.pk) not in {str(v) for v in body.values()}
    assert "pk" not in body


@pytest.mark.parametrize(
    ("search", "found"), [("hale", True), ("RD-10", True), ("Margaret Hale", True), ("zzz", False)]
)
def test_it_searches_by_name_and_record_number(api: APIClient, patient: Patient, search: str, found: bool) -> None:
    PatientFactory(clinic=patient.clinic, first_name="Other", last_name="Person", medical_record_number="X-1")

    body = api.get(reverse("api-patient-list"), {"search": search}).json()

    assert [p["id"] for p in body["results"]] == ([str(patient.uuid)] if found else [])


def test_search_never_finds_other_clinics_patients(api: APIClient, outsider: Any, other_clinic: Clinic) -> None:
    PatientFactory(clinic=other_clinic, last_name="Hale", medical_record_number="HV-1")

    assert api.get(reverse("api-patient-list"), {"search": "Hale"}).json()["count"] == 0


def test_it_creates_a_patient_in_the_callers_only_clinic(api: APIClient, clinic: Clinic) -> None:
    body = {
        "medical_record_number": "RD-2001",
        "first_name": "Nora",
        "last_name": "Quist",
        "date_of_birth": "1980-02-29",
        "sex": "female",
        "fitzpatrick_skin_type": 2,
    }

    response = api.post(reverse("api-patient-list"), body, format="json")

    assert response.status_code == 201, response.content
    patient = Patient.objects.get(uuid=response.json()["id"])
    assert patient.clinic == clinic
    assert response.json()["clinic"] == str(clinic.uuid)
    assert str(patient.date_of_birth) == "1980-02-29"


def test_a_member_of_two_clinics_must_choose_one(api: APIClient, clinician: Any, clinic: Clinic) -> None:
    second = ClinicFactory(name="Second clinic")
    MembershipFactory(user=clinician, clinic=second, role=Membership.Role.CLINICIAN)
    body = {"medical_record_number": "RD-2002", "first_name": "Ola", "last_name": "Berg"}

    without = api.post(reverse("api-patient-list"), body, format="json")
    with_clinic = api.post(reverse("api-patient-list"), {**body, "clinic": str(second.uuid)}, format="json")

    assert without.status_code == 400
    assert without.json() == {"clinic": ["Choose one of your clinics."]}
    assert with_clinic.status_code == 201
    assert Patient.objects.get().clinic == second


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"first_name": "No", "last_name": "Number"}, "medical_record_number"),
        ({"medical_record_number": "RD-1", "last_name": "Name"}, "first_name"),
        ({"medical_record_number": "RD-1", "first_name": "A", "last_name": "B", "sex": "robot"}, "sex"),
        ({"medical_record_number": "RD-1", "first_name": "A", "last_name": "B", "fitzpatrick_skin_type": 9}, None),
        ({"medical_record_number": "RD-1", "first_name": "A", "last_name": "B", "date_of_birth": "31/12/1970"}, None),
        ({"medical_record_number": "RD-1", "first_name": "A", "last_name": "B", "clinic": "not-a-uuid"}, "clinic"),
    ],
)
def test_it_refuses_malformed_patients_with_field_messages(
    api: APIClient, clinic: Clinic, body: dict[str, Any], field: str | None
) -> None:
    response = api.post(reverse("api-patient-list"), body, format="json")

    assert response.status_code == 400
    expected_field = field or next(k for k in body if k not in {"medical_record_number", "first_name", "last_name"})
    assert expected_field in response.json()
    assert not Patient.objects.exists()


def test_a_record_number_is_unique_per_clinic(api: APIClient, patient: Patient) -> None:
    body = {"medical_record_number": patient.medical_record_number, "first_name": "Dup", "last_name": "Licate"}

    response = api.post(reverse("api-patient-list"), body, format="json")

    assert response.status_code == 400
    assert response.json() == {"medical_record_number": ["Another patient of this clinic has this record number."]}


def test_it_updates_a_patient(api: APIClient, patient: Patient) -> None:
    response = api.patch(reverse("api-patient-detail", args=[patient.uuid]), {"notes": "SPF 50."}, format="json")

    assert response.status_code == 200
    patient.refresh_from_db()
    assert patient.notes == "SPF 50."
    assert response.json()["notes"] == "SPF 50."


def test_a_patient_does_not_move_to_another_clinic(api: APIClient, clinician: Any, patient: Patient) -> None:
    second = ClinicFactory()
    MembershipFactory(user=clinician, clinic=second)

    response = api.patch(
        reverse("api-patient-detail", args=[patient.uuid]), {"clinic": str(second.uuid)}, format="json"
    )

    assert response.status_code == 400
    patient.refresh_from_db()
    assert patient.clinic != second


def test_updating_to_a_taken_record_number_is_refused(api: APIClient, patient: Patient) -> None:
    other = PatientFactory(clinic=patient.clinic)

    response = api.patch(
        reverse("api-patient-detail", args=[other.uuid]),
        {"medical_record_number": patient.medical_record_number},
        format="json",
    )

    assert response.status_code == 400
    assert "medical_record_number" in response.json()


@pytest.mark.parametrize("bad_id", ["not-a-uuid", "12", "00000000-0000-0000-0000-000000000000"])
def test_unknown_or_malformed_ids_answer_404(api: APIClient, patient: Patient, bad_id: str) -> None:
    assert api.get(reverse("api-patient-detail", args=[bad_id])).status_code == 404
    assert api.get(reverse("api-patient-lesions", args=[bad_id])).status_code == 404
    assert api.get(reverse("api-patient-visits", args=[bad_id])).status_code == 404


def test_patients_cannot_be_deleted_through_the_api(api: APIClient, patient: Patient) -> None:
    response = api.delete(reverse("api-patient-detail", args=[patient.uuid]))

    assert response.status_code == 405
    assert Patient.objects.filter(pk=patient.pk).exists()


@pytest.mark.parametrize(
    ("search", "message"),
    [
        (" ".join(["a"] * 100), "The search has 100 words; the limit is 8."),
        ("a" * 201, "The search is 201 characters long; the limit is 200."),
    ],
)
def test_a_search_too_long_to_run_is_a_400_naming_the_limit(
    api: APIClient, patient: Patient, search: str, message: str
) -> None:
    response = api.get(reverse("api-patient-list"), {"search": search})

    assert response.status_code == 400
    assert response.json() == {"search": [message]}


def test_a_thousand_word_search_is_a_400_not_a_server_error(api: APIClient, patient: Patient) -> None:
    response = api.get(reverse("api-patient-list"), {"search": " ".join(["a"] * 1000)})

    assert response.status_code == 400
