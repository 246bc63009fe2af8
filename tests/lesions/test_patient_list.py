from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from clinic.models import Clinic
from tests.factories import LesionFactory, PatientFactory, VisitFactory


@pytest.fixture
def two_patients(clinic: Clinic) -> tuple[Any, Any]:
    # Created out of alphabetical order, so the list's own ordering is what sorts them.
    ibarra = PatientFactory(clinic=clinic, first_name="Tomás", last_name="Ibarra", medical_record_number="RD-2002")
    hale = PatientFactory(clinic=clinic, first_name="Margaret", last_name="Hale", medical_record_number="RD-1001")
    return hale, ibarra


def _listed(response: Any) -> list[Any]:
    return list(response.context["page"].object_list)


def test_it_lists_patients_by_last_name(clinician_client: Client, two_patients: tuple[Any, Any]) -> None:
    hale, ibarra = two_patients

    response = clinician_client.get(reverse("patient-list"))

    assert _listed(response) == [hale, ibarra]
    assert "Hale, Margaret" in response.content.decode()


def test_it_searches_by_name(clinician_client: Client, two_patients: tuple[Any, Any]) -> None:
    hale, _ = two_patients

    response = clinician_client.get(reverse("patient-list"), {"q": "hale"})

    assert _listed(response) == [hale]


def test_it_searches_by_first_and_last_name_together(clinician_client: Client, two_patients: tuple[Any, Any]) -> None:
    _, ibarra = two_patients

    assert _listed(clinician_client.get(reverse("patient-list"), {"q": "Tomás Ibarra"})) == [ibarra]
    assert _listed(clinician_client.get(reverse("patient-list"), {"q": "Tomás Hale"})) == []


def test_it_searches_by_record_number(clinician_client: Client, two_patients: tuple[Any, Any]) -> None:
    _, ibarra = two_patients

    response = clinician_client.get(reverse("patient-list"), {"q": "rd-2002"})

    assert _listed(response) == [ibarra]


def test_it_says_when_nothing_matches(clinician_client: Client, two_patients: tuple[Any, Any]) -> None:
    response = clinician_client.get(reverse("patient-list"), {"q": "Nobody"})

    assert _listed(response) == []
    assert "No patient matches" in response.content.decode()


def test_it_does_not_find_other_clinics_patients_by_search(
    login: Any, outsider: Any, two_patients: tuple[Any, Any]
) -> None:
    response = login(outsider).get(reverse("patient-list"), {"q": "RD-1001"})

    assert _listed(response) == []


def test_it_shows_lesion_count_and_last_visit(clinician_client: Client, clinic: Clinic) -> None:
    import datetime as dt

    patient = PatientFactory(clinic=clinic)
    LesionFactory.create_batch(2, patient=patient)
    VisitFactory(patient=patient, date=dt.date(2023, 1, 5))
    VisitFactory(patient=patient, date=dt.date(2024, 2, 9))

    (row,) = _listed(clinician_client.get(reverse("patient-list")))

    assert row.lesion_count == 2
    assert row.last_visit == dt.date(2024, 2, 9)


def test_it_paginates_after_25_patients(clinician_client: Client, clinic: Clinic) -> None:
    PatientFactory.create_batch(26, clinic=clinic)

    first = clinician_client.get(reverse("patient-list"))
    second = clinician_client.get(reverse("patient-list"), {"page": 2})

    assert len(_listed(first)) == 25
    assert len(_listed(second)) == 1
    assert "Page 1 of 2" in first.content.decode()
    assert {p.pk for p in _listed(first)}.isdisjoint(p.pk for p in _listed(second))


def test_it_keeps_the_search_in_page_links(clinician_client: Client, clinic: Clinic) -> None:
    PatientFactory.create_batch(26, clinic=clinic, last_name="Smith")

    response = clinician_client.get(reverse("patient-list"), {"q": "smith"})

    assert response.context["page"].paginator.num_pages == 2
    assert "?q=smith&amp;page=2" in response.content.decode()


def test_a_search_of_a_thousand_words_is_refused_with_a_message(clinician_client: Client, two_patients) -> None:
    response = clinician_client.get(reverse("patient-list"), {"q": " ".join(["a"] * 1000)})

    assert response.status_code == 400
    html = response.content.decode()
    assert "The search has 1000 words; the limit is 8." in html or "the limit is 200" in html
    assert "Hale" not in html


def test_a_search_over_the_length_limit_is_refused(clinician_client: Client) -> None:
    response = clinician_client.get(reverse("patient-list"), {"q": "a" * 201})

    assert response.status_code == 400
    assert "The search is 201 characters long; the limit is 200." in response.content.decode()


def test_a_search_of_eight_words_runs(clinician_client: Client, two_patients) -> None:
    response = clinician_client.get(reverse("patient-list"), {"q": "Margaret Hale RD-1001 a a a a a"})

    assert response.status_code == 200
    assert "Hale" in response.content.decode()


def test_nine_words_are_too_many(clinician_client: Client) -> None:
    response = clinician_client.get(reverse("patient-list"), {"q": "a b c d e f g h i"})

    assert response.status_code == 400
    assert "The search has 9 words; the limit is 8." in response.content.decode()
