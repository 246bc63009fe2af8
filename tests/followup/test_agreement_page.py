"""The clinic page that lines the model up against confirmed diagnoses."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from lesions.models import Lesion, Patient
from ml.models import ModelVersion
from tests.factories import LesionFactory, ModelVersionFactory, PatientFactory
from tests.helpers import MELANOMA, NAEVUS, photo_with


@pytest.fixture
def model(db: None) -> ModelVersion:
    return ModelVersionFactory(name="effnet-default", is_default=True)


def confirm(lesion: Lesion, dx: str, on: dt.date | None = dt.date(2024, 7, 1), by: str = "histo") -> Lesion:
    lesion.diagnosis, lesion.diagnosis_confirmation, lesion.diagnosis_date = dx, by, on
    lesion.save()
    return lesion


def test_it_lines_up_the_model_against_confirmed_diagnoses(
    clinician_client: Client, patient: Patient, model: ModelVersion
) -> None:
    # analysed as naevus before the excision, as melanoma after it: the earlier analysis counts
    excised = confirm(LesionFactory(patient=patient, label="Excised"), "mel", dt.date(2024, 3, 1))
    photo_with(excised, dt.date(2024, 2, 1), model, NAEVUS)
    photo_with(excised, dt.date(2024, 6, 1), model, MELANOMA)
    agreed = confirm(LesionFactory(patient=patient, label="Agreed"), "mel")
    photo_with(agreed, dt.date(2024, 2, 1), model, MELANOMA)
    naevus = confirm(LesionFactory(patient=patient, label="Naevus"), "nv", by="follow_up")
    photo_with(naevus, dt.date(2024, 2, 1), model, NAEVUS)
    LesionFactory(patient=patient, label="Not confirmed")

    response = clinician_client.get(reverse("clinic-agreement"))

    summary = response.context["summary"]
    assert {case.lesion.label: case.agreed for case in summary.cases} == {"Excised": False, "Agreed": True}
    mel = next(row for row in summary.per_class if row.code == "mel")
    assert (mel.n, mel.agreed, mel.percent) == (2, 1, 50.0)
    html = response.content.decode()
    assert "Overall: 1 of 2 agreed (50.0%)" in html
    assert '<td class="nonzero diagonal" data-model="mel">1</td>' in html
    assert '<td class="nonzero" data-model="nv">1</td>' in html

    everything = clinician_client.get(reverse("clinic-agreement"), {"confirmation": "any"}).context["summary"]
    assert everything.n == 3


def test_it_counts_only_the_users_clinics(
    login: Any, outsider: Any, other_clinic: Any, patient: Patient, model: ModelVersion
) -> None:
    ours = confirm(LesionFactory(patient=patient), "mel")
    photo_with(ours, dt.date(2024, 2, 1), model, MELANOMA)
    theirs = confirm(LesionFactory(patient=PatientFactory(clinic=other_clinic)), "nv")
    photo_with(theirs, dt.date(2024, 2, 1), model, NAEVUS)

    summary = login(outsider).get(reverse("clinic-agreement")).context["summary"]

    assert [case.lesion for case in summary.cases] == [theirs]


def test_confirmed_lesions_without_analysis_are_listed_apart(clinician_client: Client, lesion_image: Any) -> None:
    confirm(lesion_image.lesion, "bcc")

    response = clinician_client.get(reverse("clinic-agreement"))

    assert response.context["summary"].n == 0
    html = response.content.decode()
    assert "Confirmed but not analysed" in html
    assert lesion_image.lesion.label in html


def test_the_agreement_page_needs_a_login(client: Client) -> None:
    response = client.get(reverse("clinic-agreement"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
