"""The PDF and the printable report number each lesion as its marker on the body map, with its side."""

from __future__ import annotations

from django.test import Client
from django.urls import reverse

from lesions import services
from lesions.models import Patient
from tests.factories import LesionImageFactory, VisitFactory
from tests.interop.test_pdf import pdf_text, report_pdf


def test_the_report_shows_the_lesions_own_number_and_side(clinician_client: Client, patient: Patient) -> None:
    first = services.lesion_create(patient=patient, label="Scalp spot", body_site="head/neck")
    calf = services.lesion_create(patient=patient, label="Calf naevus", view="posterior", map_x=0.36, map_y=0.8)
    visit = VisitFactory(patient=patient)
    LesionImageFactory(lesion=calf, visit=visit)  # only the second lesion is photographed at this visit

    text = pdf_text(report_pdf(clinician_client, visit).content)
    page = clinician_client.get(reverse("visit-report", args=[visit.uuid])).content.decode()

    assert "2. Calf naevus" in text  # its number in the record, not "1." for the first photo listed
    assert "Left, back (posterior) – lower extremity" in text
    assert "2. Calf naevus" in page and "Left, back (posterior) – lower extremity" in page
    assert first.number == 1
