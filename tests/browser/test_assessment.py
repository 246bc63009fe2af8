"""Checklists and sign-off in a real browser, on a desktop and a 390×844 phone.

Complete the 7-point checklist and a TDS with the items pre-filled from the outline; sign the
visit and find it read-only, with an addendum.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from assessment.models import DermoscopyChecklist, VisitAddendum, VisitAssessment
from lesions.models import LesionImage
from tests.factories import LesionFactory, LesionImageFactory, LesionOutlineFactory, PatientFactory, VisitFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest, page: Any) -> str:
    page.set_viewport_size(VIEWPORTS[request.param])
    return str(request.param)


@pytest.fixture
def photo(clinician: Any) -> LesionImage:
    patient = PatientFactory(clinic=clinician.clinics.get(), first_name="Oskar", last_name="Nyström")
    lesion = LesionFactory(patient=patient, label="Left calf naevus")
    image: LesionImage = LesionImageFactory(lesion=lesion, visit=VisitFactory(patient=patient, clinician=clinician))
    # a ragged, asymmetric outline with three colours: A 2, B 3, C 3 suggested
    LesionOutlineFactory(
        image=image,
        measurements={
            "area_px": 5000.0,
            "area_fraction": 0.17,
            "diameter_px": 100.0,
            "diameter_fraction": 0.5,
            "width_px": 60.0,
            "perimeter_px": 300.0,
            "compactness": 1.31,
            "asymmetry_major_axis": 0.3,
            "asymmetry_minor_axis": 0.2,
            "asymmetry": 0.3,
            "colours": ["light_brown", "dark_brown", "blue_grey"],
            "colour_shares": {"light_brown": 0.5, "dark_brown": 0.3, "blue_grey": 0.2},
        },
    )
    return image


def test_complete_the_checklists_with_the_pre_filled_items(
    page: Any,
    log_in: Callable[[Any], None],
    screenshot: Callable[[str], None],
    server_lock: Any,
    clinician: Any,
    photo: LesionImage,
    viewport: str,
) -> None:
    log_in(clinician)
    page.goto(f"/visits/{photo.visit.uuid}/")
    page.get_by_role("link", name="Complete checklists").click()
    page.wait_for_url(re.compile(r"/checklist/$"))

    # A, B and C come from the outline and say so; D is left to the clinician
    assert page.locator(".prefill-note").count() == 3
    assert page.input_value("#id_abcd_asymmetry") == "2"
    assert page.input_value("#id_abcd_border") == "3"
    assert page.input_value("#id_abcd_colours") == "3"
    assert page.input_value("#id_abcd_structures") == ""
    assert page.text_content("#tds-score") == "–"

    page.get_by_label("Atypical pigment network").check()
    page.get_by_label("Regression structures").check()
    assert page.text_content("#seven-point-score") == "3 (suggests melanoma)"
    page.fill("#id_abcd_structures", "2")
    assert page.text_content("#tds-score") == "5.40"  # 2.6 + 0.3 + 1.5 + 1.0 (live, before saving)
    assert page.text_content("#tds-band") == "suspicious"
    page.check("#id_confirm_abcd_asymmetry")  # confirmed as suggested
    page.fill("#id_abcd_border", "4")  # changed: no longer marked pre-filled
    assert page.locator(".abcd-item.prefilled").count() == 2
    assert page.locator(".prefill-note:visible").count() == 2  # the border's note is gone
    box = page.get_by_label("Atypical pigment network").bounding_box()
    row = page.locator(".check-item").first.bounding_box()
    assert row["height"] >= 44 and box["width"] > 0  # a row a thumb can hit
    screenshot(f"checklist-form-{viewport}")
    page.get_by_role("button", name="Save checklists").click()
    page.wait_for_url(re.compile(r"/visits/[0-9a-f-]{36}/#photo-"))

    summary = page.locator(".checklist-summary")
    assert "7-point score 3" in " ".join(summary.inner_text().split())
    assert "TDS 5.50 (highly suspicious)" in " ".join(summary.inner_text().split())
    assert summary.locator("text=pre-filled from the outline").count() == 1  # colours, still unconfirmed
    screenshot(f"checklist-summary-{viewport}")
    with server_lock:
        checklist = DermoscopyChecklist.objects.get(image=photo)
        assert checklist.total_dermoscopy_score == pytest.approx(5.5)
        assert checklist.prefilled == ["abcd_colours"]


def test_sign_a_visit_and_see_it_read_only_with_an_addendum(
    page: Any,
    log_in: Callable[[Any], None],
    screenshot: Callable[[str], None],
    server_lock: Any,
    clinician: Any,
    photo: LesionImage,
    viewport: str,
) -> None:
    log_in(clinician)
    page.goto(f"/visits/{photo.visit.uuid}/")
    page.get_by_role("link", name="Write assessment").click()
    page.fill("#id_impression", "Dysplastic naevus")
    page.fill("#id_differential", "melanoma in situ")
    page.select_option("#id_plan", "excise")
    page.get_by_role("button", name="Save assessment").click()
    page.wait_for_url(re.compile(r"/visits/[0-9a-f-]{36}/#assessment"))
    page.get_by_role("button", name="Sign visit").click()
    page.wait_for_url(re.compile(r"/visits/[0-9a-f-]{36}/#assessment"))

    section = page.locator("#assessment")
    assert "Signed by" in section.inner_text() and "read-only" in section.inner_text()
    assert page.get_by_role("link", name="Change assessment").count() == 0
    assert page.get_by_role("link", name="Complete checklists").count() == 0
    assert page.get_by_role("button", name="Sign visit").count() == 0

    # the form's address typed in: refused with the reason, nothing changed
    response = page.goto(f"/visits/{photo.visit.uuid}/assessment/")
    assert response.status == 409
    assert "signed and read-only" in page.inner_text("main")
    page.goto(f"/visits/{photo.visit.uuid}/")
    page.fill("#id_addendum_text", "Histology requested after excision.")
    page.get_by_role("button", name="Add addendum").click()
    page.wait_for_url(re.compile(r"/visits/[0-9a-f-]{36}/#addenda"))
    assert "Histology requested after excision." in page.inner_text(".addenda")
    screenshot(f"signed-visit-{viewport}")
    with server_lock:
        assert VisitAssessment.objects.get(visit=photo.visit).impression == "Dysplastic naevus"
        assert VisitAddendum.objects.filter(visit=photo.visit, author=clinician).count() == 1

    page.goto(f"/visits/{photo.visit.uuid}/report/")
    report = " ".join(page.inner_text("main").split())
    assert "Impression Dysplastic naevus" in report and "Plan Excise" in report
    assert "Addendum (" in report and "Signed by" in report
    if viewport == "phone":  # nothing sticks out sideways on the phone
        assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_the_report_printed_from_the_browser_puts_one_lesion_per_page_and_starts_on_page_1(
    page: Any, log_in: Callable[[Any], None], server_lock: Any, clinician: Any, photo: LesionImage
) -> None:
    from io import BytesIO

    from pypdf import PdfReader

    with server_lock:
        visit = photo.visit
        later = VisitFactory(
            patient=visit.patient, clinician=clinician, date=visit.date.replace(year=visit.date.year + 1)
        )
        LesionImageFactory(lesion=photo.lesion, visit=later)  # a follow-up photo: its baseline is ``photo``
        second = LesionFactory(patient=visit.patient, label="Back spot")
        LesionImageFactory(lesion=second, visit=later)
    log_in(clinician)
    page.goto(f"/visits/{later.uuid}/report/")
    page.emulate_media(media="print")
    assert page.locator(".report-baseline img").count() == 1  # the calf: baseline beside the current photo
    pdf = PdfReader(BytesIO(page.pdf(format="A4")))
    texts = [" ".join(p.extract_text().split()) for p in pdf.pages]

    # lesions in label order, each under its own number (as its marker: the calf was added first); the first
    # follows the header (no empty first page), the next starts a page
    assert "2. Back spot" in texts[0] and "Left calf naevus" not in texts[0]
    assert len(texts) == 2 and "1. Left calf naevus" in texts[1]
    assert "not a diagnostic device" in texts[-1]
