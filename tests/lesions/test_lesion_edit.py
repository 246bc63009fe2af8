from __future__ import annotations

import datetime as dt

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from lesions.models import Lesion
from tests.factories import lesion_form_data


def test_it_saves_changes(clinician_client: Client, lesion: Lesion) -> None:
    response = clinician_client.post(
        reverse("lesion-edit", args=[lesion.uuid]),
        lesion_form_data(
            lesion,
            status="biopsied",
            label="Left shoulder, upper",
            histopathology="basal_cell_carcinoma",
            diagnosis_confirmation="histo",
        ),
    )

    assert response.status_code == 302
    assert response.url == lesion.get_absolute_url()
    lesion.refresh_from_db()
    assert lesion.label == "Left shoulder, upper"
    assert lesion.status == Lesion.Status.BIOPSIED
    assert lesion.diagnosis == Lesion.Diagnosis.BCC


def test_it_refuses_a_diagnosis_without_confirmation(clinician_client: Client, lesion: Lesion) -> None:
    response = clinician_client.post(
        reverse("lesion-edit", args=[lesion.uuid]),
        lesion_form_data(lesion, status="biopsied", histopathology="melanoma_in_situ"),
    )

    assert response.status_code == 200
    assert "diagnosis_confirmation" in response.context["form"].errors
    lesion.refresh_from_db()
    assert lesion.diagnosis == ""
    assert lesion.status == Lesion.Status.MONITORING


def test_it_shows_the_current_values(clinician_client: Client, lesion: Lesion) -> None:
    response = clinician_client.get(reverse("lesion-edit", args=[lesion.uuid]))

    assert response.context["form"].initial["label"] == "Left shoulder mole"
    assert "Edit Left shoulder mole" in response.content.decode()


def test_it_refuses_a_diagnosis_date_in_the_future(clinician_client: Client, lesion: Lesion) -> None:
    tomorrow = timezone.localdate() + dt.timedelta(days=1)

    response = clinician_client.post(
        reverse("lesion-edit", args=[lesion.uuid]),
        lesion_form_data(
            lesion,
            status="biopsied",
            histopathology="basal_cell_carcinoma",
            diagnosis_confirmation="histo",
            diagnosis_date=tomorrow.isoformat(),
        ),
    )

    assert response.status_code == 200
    assert response.context["form"].errors["diagnosis_date"] == ["The date of confirmation cannot be in the future."]
    lesion.refresh_from_db()
    assert lesion.diagnosis == ""
