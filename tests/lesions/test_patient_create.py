from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from clinic.models import Clinic
from lesions.models import Patient
from tests.factories import MembershipFactory, PatientFactory, patient_form_data


def test_it_creates_a_patient_in_the_users_clinic(clinician_client: Client, clinic: Clinic) -> None:
    response = clinician_client.post(reverse("patient-create"), patient_form_data(clinic=clinic.pk))

    patient = Patient.objects.get()
    assert response.status_code == 302
    assert response.url == patient.get_absolute_url()
    assert patient.clinic == clinic
    assert patient.full_name == "Ingrid Svensson"
    assert patient.fitzpatrick_skin_type == 1


def test_it_hides_the_clinic_choice_for_a_single_clinic(clinician_client: Client, clinic: Clinic) -> None:
    response = clinician_client.get(reverse("patient-create"))

    form = response.context["form"]
    assert form.fields["clinic"].widget.is_hidden
    assert form.fields["clinic"].initial == clinic


def test_it_lets_a_member_of_two_clinics_choose(
    clinician_client: Client, clinician: Any, clinic: Clinic, other_clinic: Clinic
) -> None:
    MembershipFactory(user=clinician, clinic=other_clinic)

    response = clinician_client.post(reverse("patient-create"), patient_form_data(clinic=other_clinic.pk))

    assert response.status_code == 302
    assert Patient.objects.get().clinic == other_clinic


def test_it_refuses_a_clinic_the_user_is_not_member_of(clinician_client: Client, other_clinic: Clinic) -> None:
    response = clinician_client.post(reverse("patient-create"), patient_form_data(clinic=other_clinic.pk))

    assert response.status_code == 200
    assert "clinic" in response.context["form"].errors
    assert not Patient.objects.exists()


def test_it_refuses_a_duplicate_record_number_in_the_same_clinic(clinician_client: Client, clinic: Clinic) -> None:
    PatientFactory(clinic=clinic, medical_record_number="RD-5001")

    response = clinician_client.post(reverse("patient-create"), patient_form_data(clinic=clinic.pk))

    assert response.status_code == 200
    assert response.context["form"].errors["medical_record_number"] == [
        "Another patient of this clinic has this record number."
    ]
    assert Patient.objects.count() == 1


def test_it_allows_the_same_record_number_in_another_clinic(
    clinician_client: Client, clinic: Clinic, other_clinic: Clinic
) -> None:
    PatientFactory(clinic=other_clinic, medical_record_number="RD-5001")

    response = clinician_client.post(reverse("patient-create"), patient_form_data(clinic=clinic.pk))

    assert response.status_code == 302
    assert Patient.objects.filter(medical_record_number="RD-5001").count() == 2


def test_it_requires_a_name(clinician_client: Client, clinic: Clinic) -> None:
    response = clinician_client.post(reverse("patient-create"), patient_form_data(clinic=clinic.pk, last_name=""))

    assert response.status_code == 200
    assert "last_name" in response.context["form"].errors
    assert not Patient.objects.exists()


def test_it_refuses_an_out_of_range_skin_type(clinician_client: Client, clinic: Clinic) -> None:
    response = clinician_client.post(
        reverse("patient-create"), patient_form_data(clinic=clinic.pk, fitzpatrick_skin_type="7")
    )

    assert response.status_code == 200
    assert "fitzpatrick_skin_type" in response.context["form"].errors
