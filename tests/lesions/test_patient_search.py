"""Patient search whatever the case and accents, and by date of birth (lesions.search, selectors.patient_list)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from clinic.models import Clinic
from lesions import services
from lesions.models import Patient
from lesions.search import normalise
from tests.factories import PatientFactory


@pytest.fixture
def tomas(clinic: Clinic) -> Patient:
    return PatientFactory(
        clinic=clinic,
        first_name="Tomás",
        last_name="Nyström",
        medical_record_number="RD-2002",
        date_of_birth=dt.date(1961, 3, 14),
    )


@pytest.fixture
def others(clinic: Clinic) -> list[Patient]:
    return [
        PatientFactory(clinic=clinic, first_name="Tom", last_name="Hale", date_of_birth=dt.date(1961, 3, 15)),
        PatientFactory(clinic=clinic, first_name="Ada", last_name="Okafor", medical_record_number="RD-3003"),
    ]


def _listed(response: Any) -> list[Patient]:
    return list(response.context["page"].object_list)


def test_normalising_folds_case_and_accents() -> None:
    assert normalise("Tomás NYSTRÖM") == "tomas nystrom"
    assert normalise("Øster Straße Łódź") == "oster strasse lodz"
    assert normalise("ÇAĞLAR") == "caglar"


@pytest.mark.parametrize("search", ["tomas", "TOMAS", "Tomás", "tomÁs nystrom", "nyström", "rd-2002", "1961-03-14"])
def test_the_search_box_finds_tomas_however_it_is_typed(
    clinician_client: Client, tomas: Patient, others: list[Patient], search: str
) -> None:
    response = clinician_client.get(reverse("patient-list"), {"q": search})

    assert response.status_code == 200
    assert _listed(response) == [tomas]


def test_a_date_that_is_not_a_calendar_date_is_searched_as_text(clinician_client: Client, tomas: Patient) -> None:
    response = clinician_client.get(reverse("patient-list"), {"q": "1961-02-30"})

    assert response.status_code == 200
    assert _listed(response) == []


def test_the_api_search_ignores_case_and_accents_and_matches_a_birth_date(
    api_as: Callable[[str], APIClient], tomas: Patient, others: list[Patient]
) -> None:
    api = api_as("clinician")

    def found(search: str) -> list[str]:
        response = api.get(reverse("api-patient-list"), {"search": search})
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert found("tomas") == [str(tomas.uuid)]
    assert found("1961-03-14") == [str(tomas.uuid)]
    assert found("NYSTROM 1961-03-14") == [str(tomas.uuid)]
    assert found("okafor 1961-03-14") == []


def test_the_search_text_follows_a_renamed_patient(tomas: Patient) -> None:
    services.patient_update(patient=tomas, first_name="Tomasz", last_name="Żuławski")

    assert Patient.objects.get(pk=tomas.pk).search_text == "tomasz zuławski rd-2002".replace("ł", "l")


def test_a_search_of_another_clinic_finds_nothing(api_as: Callable[[str], APIClient], other_clinic: Clinic) -> None:
    PatientFactory(clinic=other_clinic, first_name="Tomás")

    assert api_as("clinician").get(reverse("api-patient-list"), {"search": "tomas"}).json()["count"] == 0
