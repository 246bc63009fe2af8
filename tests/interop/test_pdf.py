"""The PDF visit report: what it says (read back with pypdf), and who may have it, page and API."""

from __future__ import annotations

import os
from collections.abc import Callable
from io import BytesIO
from typing import Any

import numpy as np
import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse
from pypdf import PdfReader
from rest_framework.test import APIClient

from interop.disclaimer import disclaimer_text
from lesions.models import Visit
from tests.factories import PatientFactory, VisitFactory
from tests.helpers import CALLERS
from tests.interop.conftest import LATER, Records


def pdf_text(content: bytes) -> str:
    reader = PdfReader(BytesIO(content))
    # Words may wrap at line ends: compare with whitespace folded.
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


def report_pdf(client: Client, visit: Visit) -> Any:
    return client.get(reverse("visit-report-pdf", args=[visit.uuid]))


def test_the_pdf_names_the_patient_the_visit_date_and_every_lesion(clinician_client: Client, records: Records) -> None:
    response = report_pdf(clinician_client, records.later)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    text = pdf_text(response.content)
    assert "Margaret Hale" in text and "RD-1001" in text
    assert LATER.isoformat() in text
    assert "Left shoulder mole" in text and "Naevus below the scapula" in text
    assert "Riverside Test Clinic" in text


def test_the_pdf_has_the_analysis_flag_measurements_change_models_and_disclaimer(
    clinician_client: Client, records: Records
) -> None:
    text = pdf_text(report_pdf(clinician_client, records.later).content)

    assert "top class Melanoma (62%)" in text
    for row in ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc"):
        assert row in text
    assert "Suspicious for melanoma" in text
    assert "mm²" in text  # the mole's photo has a pixel size: its area in mm²
    assert "Since the previous visit (2024-01-10): malignant 9.0% → 67.0% (+58.0 points)." in text
    assert "Against the baseline photo of 2024-01-10: area +50%" in text  # in mm: both photos have a pixel size
    assert "new colours: blue-grey" in text
    assert "efficientnet_test" in text and "accuracy 90.0%" in text
    assert "Mole darker since January." in text
    assert " ".join(disclaimer_text().split()) in text


def outline_pixels(picture: Any) -> int:
    """Pixels of the outline's colour (interop.pdf.OUTLINE_COLOUR) in an embedded picture."""
    rgb = np.asarray(picture.convert("RGB")).astype(int)
    return int(((rgb[..., 0] < 60) & (rgb[..., 1] > 180) & (rgb[..., 2] > 200)).sum())


def test_the_pdf_shows_the_photo_and_heatmap_of_each_lesion_with_the_outline(
    clinician_client: Client, records: Records
) -> None:
    reader = PdfReader(BytesIO(report_pdf(clinician_client, records.later).content))

    pictures = [image.image for page in reader.pages for image in page.images]
    # in report order: the mole's baseline photo, photo and heatmap, then the back lesion's photo and heatmap
    assert len(pictures) == 5
    assert all(outline_pixels(picture) > 20 for picture in pictures[1:3])  # the mole was outlined
    assert outline_pixels(pictures[0]) == 0  # the baseline is shown as it was taken
    assert all(outline_pixels(picture) == 0 for picture in pictures[3:])  # the back lesion was not outlined


def test_a_visit_without_photos_has_a_pdf_too(clinician_client: Client, patient: Any) -> None:
    visit = VisitFactory(patient=patient)

    text = pdf_text(report_pdf(clinician_client, visit).content)

    assert "No photos were taken at this visit." in text


def test_names_outside_latin_1_are_printed(clinician_client: Client, clinic: Any) -> None:
    patient = PatientFactory(clinic=clinic, first_name="Łucja", last_name="Ørsted-Žižek")
    visit = VisitFactory(patient=patient)

    text = pdf_text(report_pdf(clinician_client, visit).content)

    assert "Łucja Ørsted-Žižek" in text


@pytest.mark.parametrize("caller", CALLERS)
def test_only_the_clinics_callers_get_the_pdf_page(
    login: Callable[[Any], Client], request: pytest.FixtureRequest, records: Records, caller: str
) -> None:
    client = login(None if caller == "anonymous" else request.getfixturevalue(caller))

    response = report_pdf(client, records.later)

    assert response.status_code == {"clinician": 200, "clinic_admin": 200, "outsider": 404, "anonymous": 302}[caller]
    if caller == "anonymous":
        assert response["Location"].startswith(reverse("login"))


def test_the_pdf_is_not_cached_and_its_read_is_audited(
    clinician_client: Client, records: Records, clinician: Any
) -> None:
    response = report_pdf(clinician_client, records.later)

    assert "no-store" in response["Cache-Control"]
    assert "Hale" not in response["Content-Disposition"]
    assert LogEntry.objects.filter(
        action=LogEntry.Action.ACCESS, actor=clinician, object_pk=str(records.later.pk), content_type__model="visit"
    ).exists()


def test_the_printable_page_shows_the_change_and_the_models_like_the_pdf(
    clinician_client: Client, records: Records
) -> None:
    html = clinician_client.get(reverse("visit-report", args=[records.later.uuid])).content.decode()

    assert "Previous visit 2024-01-10" in html and "efficientnet_test" in html
    assert "Against the baseline photo of 2024-01-10: area +50%" in html


@pytest.mark.parametrize("caller", CALLERS)
def test_the_api_serves_the_pdf_to_the_clinics_callers(
    api_as: Callable[[str], APIClient], records: Records, caller: str
) -> None:
    response = api_as(caller).get(reverse("api-visit-report", args=[records.later.uuid]))

    assert response.status_code == {"clinician": 200, "clinic_admin": 200, "outsider": 404, "anonymous": 401}[caller]
    if response.status_code == 200:
        assert response["Content-Type"] == "application/pdf"
        assert "no-store" in response["Cache-Control"]
        assert "Margaret Hale" in pdf_text(response.content)
    else:
        assert response["Content-Type"] == "application/json"


def test_the_report_test_runs_on_the_database_of_the_suite(db: None) -> None:
    # The same tests run on SQLite (make test) and on PostgreSQL (.ci/run with DATABASE_URL).
    from django.db import connection

    assert connection.vendor == (
        "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    )


def test_text_the_font_cannot_draw_or_a_long_word_does_not_break_the_pdf(clinician_client: Client, clinic: Any) -> None:
    patient = PatientFactory(clinic=clinic, first_name="李", last_name="Wei")
    visit = VisitFactory(patient=patient, notes="Itchy 🙂\r\n" + "x" * 3000)

    response = report_pdf(clinician_client, visit)

    assert response.status_code == 200
    assert "Wei" in pdf_text(response.content)


def test_a_page_count_alias_in_a_name_or_a_note_prints_as_typed(clinician_client: Client, clinic: Any) -> None:
    # fpdf2 replaced "{nb}" with the page count in every text: "Anna 1 Hale" for "Anna {nb} Hale".
    patient = PatientFactory(clinic=clinic, first_name="Anna {nb}", last_name="Hale")
    visit = VisitFactory(patient=patient, notes="Seen {nb} times before; {nb}{nb}.")

    text = pdf_text(report_pdf(clinician_client, visit).content)

    assert "Anna {nb} Hale" in text
    assert "Seen {nb} times before; {nb}{nb}." in text
    assert "page 1/1" in text  # the footer's own page count still works


def test_chinese_japanese_and_korean_names_are_printed(clinician_client: Client, clinic: Any) -> None:
    # DejaVu Sans has none of these: they vanished from the PDF without a trace.
    patient = PatientFactory(clinic=clinic, first_name="漢字 さくら", last_name="김민준")
    visit = VisitFactory(patient=patient, notes="李 Wei seen with 通訳 (interpreter).")

    text = pdf_text(report_pdf(clinician_client, visit).content)

    assert "漢字 さくら 김민준" in text
    assert "李 Wei seen with 通訳 (interpreter)." in text


def test_a_character_no_font_can_draw_prints_as_a_visible_mark(clinician_client: Client, clinic: Any) -> None:
    patient = PatientFactory(clinic=clinic, first_name="Ana", last_name="Lee")
    visit = VisitFactory(patient=patient, notes="Itchy 🙂 since May.")

    text = pdf_text(report_pdf(clinician_client, visit).content)

    assert "Itchy \ufffd since May." in text


def drawn_text(content: bytes) -> str:
    """The text as a viewer draws it (PDFium follows the page's graphics state, which pypdf does not)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(content)
    return " ".join(" ".join(page.get_textpage().get_text_range() for page in document).split())


def test_after_a_name_in_the_fallback_font_every_line_is_drawn_in_its_own_font(
    clinician_client: Client, clinic: Any
) -> None:
    # fpdf2 left the font of a coloured line with fallback glyphs unset after it: the footer's page number
    # after the bold disclaimer was drawn in the bold font's glyph numbers ("1r7i A8A" for "page 1/1").
    clinic.name = "東京 Skin Clinic"
    clinic.save()
    patient = PatientFactory(clinic=clinic, first_name="漢字 さくら", last_name="김민준")
    visit = VisitFactory(patient=patient, notes="李 Wei seen with 通訳 (interpreter).")

    text = drawn_text(report_pdf(clinician_client, visit).content)

    for line in ("DermaTrack · 東京 Skin Clinic", "Visit report", "漢字 さくら 김민준", "Record no.", "Date of birth"):
        assert line in text
    assert "李 Wei seen with 通訳 (interpreter)." in text
    assert "Decision support, not a diagnosis" in text
    assert "page 1/1" in text
