from __future__ import annotations

import datetime as dt

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from lesions.models import Lesion, Patient
from tests.factories import lesion_form_data


def test_it_adds_a_lesion_to_the_patient(clinician_client: Client, patient: Patient) -> None:
    response = clinician_client.post(reverse("lesion-create", args=[patient.uuid]), lesion_form_data())

    lesion = Lesion.objects.get()
    assert response.status_code == 302
    assert response.url == lesion.get_absolute_url()
    assert lesion.patient == patient
    assert lesion.body_site == Lesion.BodySite.LOWER_EXTREMITY


def test_it_records_a_confirmed_diagnosis(clinician_client: Client, patient: Patient) -> None:
    clinician_client.post(
        reverse("lesion-create", args=[patient.uuid]),
        lesion_form_data(
            histopathology="melanoma_in_situ",
            diagnosis_confirmation="histo",
            diagnosis_date="2024-04-02",
            status="excised",
        ),
    )

    lesion = Lesion.objects.get()
    assert (lesion.diagnosis, lesion.diagnosis_confirmation) == ("mel", "histo")


def test_it_refuses_a_diagnosis_without_confirmation(clinician_client: Client, patient: Patient) -> None:
    response = clinician_client.post(
        reverse("lesion-create", args=[patient.uuid]), lesion_form_data(histopathology="melanoma_in_situ")
    )

    assert response.status_code == 200
    assert response.context["form"].errors["diagnosis_confirmation"] == ["Say how the diagnosis was confirmed."]
    assert not Lesion.objects.exists()


def test_it_refuses_a_confirmation_without_diagnosis(clinician_client: Client, patient: Patient) -> None:
    response = clinician_client.post(
        reverse("lesion-create", args=[patient.uuid]), lesion_form_data(diagnosis_confirmation="histo")
    )

    assert response.status_code == 200
    assert "histopathology" in response.context["form"].errors
    assert not Lesion.objects.exists()


def test_it_requires_a_body_site(clinician_client: Client, patient: Patient) -> None:
    response = clinician_client.post(reverse("lesion-create", args=[patient.uuid]), lesion_form_data(body_site=""))

    assert "body_site" in response.context["form"].errors
    assert not Lesion.objects.exists()


def test_it_refuses_a_diagnosis_date_in_the_future_and_takes_today(clinician_client: Client, patient: Patient) -> None:
    today = timezone.localdate()
    confirmed = {"histopathology": "melanoma_in_situ", "diagnosis_confirmation": "histo"}

    refused = clinician_client.post(
        reverse("lesion-create", args=[patient.uuid]),
        lesion_form_data(**confirmed, diagnosis_date=(today + dt.timedelta(days=400)).isoformat()),
    )
    accepted = clinician_client.post(
        reverse("lesion-create", args=[patient.uuid]), lesion_form_data(**confirmed, diagnosis_date=today.isoformat())
    )

    assert refused.status_code == 200
    assert refused.context["form"].errors["diagnosis_date"] == ["The date of confirmation cannot be in the future."]
    assert accepted.status_code == 302
    assert Lesion.objects.get().diagnosis_date == today
