from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from lesions.models import LesionImage, Visit
from tests.factories import LesionFactory, LesionImageFactory, UserFactory, VisitFactory


def test_it_shows_the_visits_photos_by_lesion_label(clinician_client: Client, visit: Visit) -> None:
    zebra = LesionImageFactory(lesion=LesionFactory(patient=visit.patient, label="Zygoma"), visit=visit)
    alpha = LesionImageFactory(lesion=LesionFactory(patient=visit.patient, label="Abdomen"), visit=visit)

    response = clinician_client.get(reverse("visit-detail", args=[visit.uuid]))

    assert list(response.context["images"]) == [alpha, zebra]
    assert "seen by Firstname" in response.content.decode()


def test_it_shows_the_notes(clinician_client: Client, patient: Any) -> None:
    visit = VisitFactory(patient=patient, notes="Lesion unchanged since March.")

    response = clinician_client.get(reverse("visit-detail", args=[visit.uuid]))

    assert "Lesion unchanged since March." in response.content.decode()
    assert "No photos were taken at this visit." in response.content.decode()


@pytest.mark.parametrize("url_name", ["visit-detail", "lesion-detail", "patient-detail"])
def test_it_shows_visits_whose_clinician_account_was_deleted(
    clinician_client: Client, lesion_image: LesionImage, url_name: str
) -> None:
    former = UserFactory(username="former-colleague")
    Visit.objects.filter(pk=lesion_image.visit.pk).update(clinician=former)
    former.delete()  # Visit.clinician is SET_NULL
    record = {"visit-detail": lesion_image.visit, "lesion-detail": lesion_image.lesion}.get(
        url_name, lesion_image.lesion.patient
    )

    response = clinician_client.get(reverse(url_name, args=[record.uuid]))

    assert response.status_code == 200
    assert Visit.objects.get(pk=lesion_image.visit.pk).clinician is None
