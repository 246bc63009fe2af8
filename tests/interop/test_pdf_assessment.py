"""The PDF of a signed follow-up visit: impression, plan, signature, addendum, checklists, baseline and current photos.

Text read back with PDFium (pypdfium2), which draws as a viewer does; pages rendered to check the layout rules.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from pypdf import PdfReader

from assessment import services
from interop.disclaimer import disclaimer_text
from tests.interop.conftest import EARLIER, LATER, Records


def pages_text(content: bytes) -> list[str]:
    import pypdfium2

    document = pypdfium2.PdfDocument(content)
    return [" ".join(page.get_textpage().get_text_range().split()) for page in document]


@pytest.fixture
def signed_visit(records: Records, clinician: Any) -> Records:
    clinician.first_name, clinician.last_name = "Ada", "Okafor"
    clinician.save()
    services.checklist_save(
        image=records.mole_later,
        user=clinician,
        values={"atypical_network": True, "irregular_streaks": True, "abcd_structures": 4},
        confirmed={"abcd_colours"},
    )
    services.assessment_save(
        visit=records.later,
        user=clinician,
        impression="Suspected melanoma in situ",
        differential="dysplastic naevus",
        plan="excise",
    )
    services.visit_sign(visit=records.later, user=clinician)
    services.visit_addendum_add(visit=records.later, user=clinician, text="Excision booked.")
    return records


def test_the_signed_follow_up_pdf_has_the_assessment_signature_checklists_and_both_photos(
    clinician_client: Client, signed_visit: Records
) -> None:
    response = clinician_client.get(reverse("visit-report-pdf", args=[signed_visit.later.uuid]))
    assert response.status_code == 200
    pages = pages_text(response.content)
    text = " ".join(pages)

    assert "Impression: Suspected melanoma in situ" in text
    assert "Differential: dysplastic naevus" in text
    assert "Plan: Excise" in text
    assert "Signed by Ada Okafor on " in text
    assert "Addendum (Ada Okafor, " in text and "Excision booked." in text
    assert (
        "7-point checklist: 3 (3 or more: suggests melanoma); atypical pigment network +2, irregular streaks +1."
        in text
    )
    assert "ABCD rule: TDS " in text and "D 4" in text and "(pre-filled from the outline)" in text
    assert "Dermoscopy checklists: not completed." in text  # the back lesion's photo
    # the mole: baseline beside the current photo (and its heatmap); the back lesion: first photographed now
    assert f"Baseline · {EARLIER.isoformat()}" in text and f"Current · {LATER.isoformat()}" in text
    assert "Photo (first of this lesion)" in text
    reader = PdfReader(BytesIO(response.content))
    per_page = [len(page.images) for page in reader.pages]
    assert per_page[0] == 3  # mole: baseline, current, heatmap on page 1 with the header
    assert sum(per_page) == 5  # back lesion: photo and heatmap


def test_one_lesion_per_page_and_the_disclaimer_never_alone(clinician_client: Client, signed_visit: Records) -> None:
    content = clinician_client.get(reverse("visit-report-pdf", args=[signed_visit.later.uuid])).content
    pages = pages_text(content)

    assert "Visit report" in pages[0] and "1. Left shoulder mole" in pages[0]  # no empty first page
    for page in pages:
        assert not ("1. Left shoulder mole" in page and "2. Naevus below the scapula" in page)
    disclaimer = " ".join(disclaimer_text().split())
    # the disclaimer only on the last page, after the models (kept together)
    assert [disclaimer[:60] in page for page in pages] == [False] * (len(pages) - 1) + [True]
    assert pages[-1].index("Models") < pages[-1].index(disclaimer[:60])
    assert "-0.00" not in " ".join(pages) and "+0.00" not in " ".join(pages)


def test_the_fitzpatrick_type_is_written_as_on_the_patient_page(
    clinician_client: Client, signed_visit: Records
) -> None:
    patient = signed_visit.patient
    patient.fitzpatrick_skin_type = 2
    patient.save()

    text = " ".join(
        pages_text(clinician_client.get(reverse("visit-report-pdf", args=[signed_visit.later.uuid])).content)
    )
    page = clinician_client.get(reverse("visit-report", args=[signed_visit.later.uuid])).content.decode()

    assert "Fitzpatrick II" in text
    assert "<dt>Fitzpatrick</dt><dd>II</dd>" in page
