"""Recording a confirmed diagnosis (the agreement page that lines the model up against it: tests/followup;
an outsider who tries it: tests/lesions/test_access.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client
from django.urls import reverse

from lesions.models import Lesion

# --- the form -----------------------------------------------------------------------------------


def test_it_records_the_histopathology_result(clinician_client: Client, lesion: Lesion) -> None:
    url = reverse("lesion-histopathology", args=[lesion.uuid])
    assert 'value="histo" selected' in clinician_client.get(url).content.decode()

    response = clinician_client.post(
        url,
        {"diagnosis": "bcc", "diagnosis_confirmation": "histo", "diagnosis_date": "2024-05-02", "status": "excised"},
    )

    assert response.status_code == 302 and response.url == lesion.get_absolute_url()
    lesion.refresh_from_db()
    assert (lesion.diagnosis, lesion.diagnosis_confirmation, lesion.diagnosis_date, lesion.status) == (
        "bcc",
        "histo",
        dt.date(2024, 5, 2),
        "excised",
    )
    page = clinician_client.get(lesion.get_absolute_url()).content.decode()
    assert "Basal cell carcinoma</strong>" in page and "Histopathology, 2024-05-02" in page


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"diagnosis": "", "diagnosis_confirmation": "histo", "diagnosis_date": "2024-05-02"}, "diagnosis"),
        ({"diagnosis": "mel", "diagnosis_confirmation": "", "diagnosis_date": "2024-05-02"}, "diagnosis_confirmation"),
        ({"diagnosis": "mel", "diagnosis_confirmation": "histo", "diagnosis_date": ""}, "diagnosis_date"),
        ({"diagnosis": "mel", "diagnosis_confirmation": "histo", "diagnosis_date": "2999-01-01"}, "diagnosis_date"),
    ],
)
def test_it_refuses_an_incomplete_result(
    clinician_client: Client, lesion: Lesion, data: dict[str, str], field: str
) -> None:
    response = clinician_client.post(
        reverse("lesion-histopathology", args=[lesion.uuid]), {**data, "status": "biopsied"}
    )

    assert response.status_code == 200
    assert field in response.context["form"].errors
    lesion.refresh_from_db()
    assert lesion.diagnosis == ""
