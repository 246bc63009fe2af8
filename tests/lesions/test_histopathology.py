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
        {
            "histopathology": "basal_cell_carcinoma",
            "diagnosis_confirmation": "histo",
            "diagnosis_date": "2024-05-02",
            "status": "excised",
        },
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
        ({"histopathology": "", "diagnosis_confirmation": "histo", "diagnosis_date": "2024-05-02"}, "histopathology"),
        (
            {"histopathology": "melanoma_in_situ", "diagnosis_confirmation": "", "diagnosis_date": "2024-05-02"},
            "diagnosis_confirmation",
        ),
        (
            {"histopathology": "melanoma_in_situ", "diagnosis_confirmation": "histo", "diagnosis_date": ""},
            "diagnosis_date",
        ),
        (
            {"histopathology": "melanoma_in_situ", "diagnosis_confirmation": "histo", "diagnosis_date": "2999-01-01"},
            "diagnosis_date",
        ),
        # invasive melanoma needs its Breslow thickness; Breslow belongs to invasive melanoma only
        (
            {"histopathology": "melanoma_invasive", "diagnosis_confirmation": "histo", "diagnosis_date": "2024-05-02"},
            "breslow_thickness_mm",
        ),
        (
            {
                "histopathology": "melanoma_in_situ",
                "breslow_thickness_mm": "0.8",
                "diagnosis_confirmation": "histo",
                "diagnosis_date": "2024-05-02",
            },
            "breslow_thickness_mm",
        ),
        (
            {
                "histopathology": "melanoma_invasive",
                "breslow_thickness_mm": "-1",
                "diagnosis_confirmation": "histo",
                "diagnosis_date": "2024-05-02",
            },
            "breslow_thickness_mm",
        ),
        (
            {
                "histopathology": "dysplastic_naevus",
                "ulceration": "true",
                "diagnosis_confirmation": "histo",
                "diagnosis_date": "2024-05-02",
            },
            "ulceration",
        ),
        (
            {"histopathology": "other", "diagnosis_confirmation": "histo", "diagnosis_date": "2024-05-02"},
            "histopathology_text",
        ),
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


def test_it_records_an_invasive_melanoma_with_breslow_and_ulceration(clinician_client: Client, lesion: Lesion) -> None:
    response = clinician_client.post(
        reverse("lesion-histopathology", args=[lesion.uuid]),
        {
            "histopathology": "melanoma_invasive",
            "breslow_thickness_mm": "1.25",
            "ulceration": "true",
            "diagnosis_confirmation": "histo",
            "diagnosis_date": "2024-05-02",
            "status": "excised",
        },
    )

    assert response.status_code == 302
    lesion.refresh_from_db()
    assert (lesion.histopathology, lesion.diagnosis, lesion.breslow_thickness_mm, lesion.ulceration) == (
        "melanoma_invasive",
        "mel",
        1.25,
        True,
    )
    page = clinician_client.get(lesion.get_absolute_url()).content.decode()
    assert "Invasive melanoma, Breslow 1.25 mm, ulcerated</strong>" in page


def test_a_result_with_no_model_class_counts_as_other(clinician_client: Client, lesion: Lesion) -> None:
    clinician_client.post(
        reverse("lesion-histopathology", args=[lesion.uuid]),
        {
            "histopathology": "squamous_cell_carcinoma",
            "diagnosis_confirmation": "histo",
            "diagnosis_date": "2024-05-02",
            "status": "excised",
        },
    )

    lesion.refresh_from_db()
    assert (lesion.histopathology, lesion.diagnosis) == ("squamous_cell_carcinoma", "other")
