from __future__ import annotations

from django.test import Client
from django.urls import reverse

from clinic.models import Clinic
from lesions.models import Patient
from tests.factories import PatientFactory, patient_form_data


def test_it_saves_changes(clinician_client: Client, patient: Patient) -> None:
    changes = patient_form_data(patient, last_name="Hale-Jones", notes="Prefers morning appointments.")
    response = clinician_client.post(reverse("patient-edit", args=[patient.uuid]), changes)

    assert response.status_code == 302
    assert response.url == patient.get_absolute_url()
    patient.refresh_from_db()
    assert patient.last_name == "Hale-Jones"
    assert patient.notes == "Prefers morning appointments."


def test_it_shows_the_current_values(clinician_client: Client, patient: Patient) -> None:
    response = clinician_client.get(reverse("patient-edit", args=[patient.uuid]))

    assert response.context["form"].initial["last_name"] == "Hale"
    assert "clinic" not in response.context["form"].fields


def test_it_does_not_move_a_patient_to_another_clinic(
    clinician_client: Client, patient: Patient, clinic: Clinic, other_clinic: Clinic
) -> None:
    clinician_client.post(
        reverse("patient-edit", args=[patient.uuid]), patient_form_data(patient, clinic=other_clinic.pk)
    )

    patient.refresh_from_db()
    assert patient.clinic == clinic


def test_it_refuses_the_record_number_of_another_patient(
    clinician_client: Client, patient: Patient, clinic: Clinic
) -> None:
    PatientFactory(clinic=clinic, medical_record_number="RD-9999")

    response = clinician_client.post(
        reverse("patient-edit", args=[patient.uuid]), patient_form_data(patient, medical_record_number="RD-9999")
    )

    assert response.status_code == 200
    assert "medical_record_number" in response.context["form"].errors
    patient.refresh_from_db()
    assert patient.medical_record_number == "RD-1001"


def test_it_keeps_the_patients_own_record_number(clinician_client: Client, patient: Patient) -> None:
    response = clinician_client.post(reverse("patient-edit", args=[patient.uuid]), patient_form_data(patient))

    assert response.status_code == 302
