from __future__ import annotations

import datetime as dt

from django.test import Client
from django.urls import reverse

from lesions.models import LesionImage, Patient
from tests.factories import LesionFactory, VisitFactory


def test_it_shows_the_patients_lesions_and_visits(clinician_client: Client, lesion_image: LesionImage) -> None:
    patient = lesion_image.lesion.patient
    VisitFactory(patient=patient, date=dt.date(2021, 2, 3))

    response = clinician_client.get(reverse("patient-detail", args=[patient.uuid]))

    html = response.content.decode()
    assert "Margaret Hale" in html
    assert "Record RD-1001" in html
    assert lesion_image.lesion.get_absolute_url() in html
    assert "1 photo" in html
    assert [v.date for v in response.context["visits"]][-1] == dt.date(2021, 2, 3)  # newest first


def test_it_lists_lesions_by_label(clinician_client: Client, patient: Patient) -> None:
    LesionFactory(patient=patient, label="Scalp")
    LesionFactory(patient=patient, label="Back")

    response = clinician_client.get(reverse("patient-detail", args=[patient.uuid]))

    assert [lesion.label for lesion in response.context["lesions"]] == ["Back", "Scalp"]
