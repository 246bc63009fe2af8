"""Phone capture and the worklists in a real browser: a double click uploads one photo; lists fill and empty."""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from lesions.models import Lesion, LesionImage, Visit
from tests.factories import (
    LesionFactory,
    LesionImageFactory,
    ModelVersionFactory,
    PatientFactory,
    PredictionFactory,
    VisitFactory,
)
from tests.helpers import SAMPLE_PHOTOS_DIR

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def sample() -> str:
    return str(sorted(SAMPLE_PHOTOS_DIR.glob("*.jpg"))[0])


@pytest.fixture
def mole(clinician: Any) -> Lesion:
    patient = PatientFactory(clinic=clinician.clinics.get(), first_name="Oskar", last_name="Nyström")
    return LesionFactory(patient=patient, label="Left calf naevus", body_site=Lesion.BodySite.LOWER_EXTREMITY)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_double_click_uploads_one_photo(
    page: Any,
    log_in: Callable[[Any], None],
    clinician: Any,
    mole: Lesion,
    server_lock: threading.RLock,
    viewport: dict[str, int],
) -> None:
    page.set_viewport_size(viewport)
    log_in(clinician)

    toggle = page.get_by_role("button", name="Menu")
    if viewport == PHONE:  # one row of navigation, the links behind a menu button big enough to tap
        box = toggle.bounding_box()
        assert box["width"] >= 44 and box["height"] >= 44
        assert not page.get_by_role("link", name="Worklists").is_visible()
        toggle.click()
    else:
        assert not toggle.is_visible()
    assert page.get_by_role("link", name="Worklists").is_visible()

    page.goto(f"/patients/{mole.patient.uuid}/visits/new/?lesion={mole.uuid}")
    photo_input = page.locator("#id_photos-0-photo")
    assert photo_input.get_attribute("capture") == "environment"
    assert photo_input.get_attribute("accept") == "image/*"
    photo_input.set_input_files(sample())
    preview = page.locator("#photo-rows img.photo-preview")
    preview.wait_for()
    assert preview.get_attribute("src").startswith("data:image/")

    posts: list[str] = []
    page.on("request", lambda request: request.method == "POST" and posts.append(request.url))
    page.get_by_role("button", name="Save visit and analyse").dblclick()
    page.wait_for_url(re.compile(r"/visits/[0-9a-f-]{36}/$"))

    assert "saved with 1 photo(s)" in page.content()
    assert len(posts) == 1  # the busy form sent once; the server's form key would answer a second send anyway
    with server_lock:
        assert (Visit.objects.count(), LesionImage.objects.count()) == (1, 1)
        assert Lesion.objects.count() == 1


def test_the_worklists_fill_and_empty(
    page: Any, log_in: Callable[[Any], None], clinician: Any, mole: Lesion, server_lock: threading.RLock
) -> None:
    today = timezone.localdate()
    with server_lock:
        Lesion.objects.filter(pk=mole.pk).update(followup_interval_months=3)
        LesionImageFactory(lesion=mole, visit=VisitFactory(patient=mole.patient, date=today - dt.timedelta(days=120)))
        biopsied = LesionFactory(patient=mole.patient, label="Back papule", status=Lesion.Status.BIOPSIED)
    log_in(clinician)

    page.get_by_role("link", name="Worklists").click()
    page.wait_for_url("**/clinic/worklists/")
    assert page.locator(f'#followups-due tr[data-lesion="{mole.uuid}"]').is_visible()
    assert page.locator(f'#histology-pending tr[data-lesion="{biopsied.uuid}"]').is_visible()

    # the follow-up is done where the worklist links: a new visit with a photo of the lesion
    page.locator(f'#followups-due tr[data-lesion="{mole.uuid}"]').get_by_role("link", name="New visit").click()
    page.fill("#id_date", today.isoformat())
    page.set_input_files("#id_photos-0-photo", sample())
    page.get_by_role("button", name="Save visit and analyse").click()
    page.wait_for_url(re.compile(r"/visits/[0-9a-f-]{36}/$"))

    page.goto("/clinic/worklists/")
    assert page.get_by_text("No follow-up is due.").is_visible()

    # the histology result is entered where the worklist links
    page.locator(f'#histology-pending tr[data-lesion="{biopsied.uuid}"]').get_by_role(
        "link", name="Record result"
    ).click()
    assert not page.locator("#id_breslow_thickness_mm").is_visible()  # only for invasive melanoma
    page.select_option("#id_histopathology", "melanoma_invasive")
    assert page.locator("#id_breslow_thickness_mm").is_visible()
    page.fill("#id_breslow_thickness_mm", "0.8")
    page.select_option("#id_ulceration", "false")
    page.fill("#id_diagnosis_date", today.isoformat())
    page.select_option("#id_status", "excised")
    page.get_by_role("button", name="Save diagnosis").click()
    page.wait_for_url(f"**/lesions/{biopsied.uuid}/")
    assert page.get_by_text("Invasive melanoma, Breslow 0.80 mm, not ulcerated").first.is_visible()

    page.goto("/clinic/worklists/")
    assert page.get_by_text("No histology result is awaited.").is_visible()
    with server_lock:
        assert Lesion.objects.get(pk=biopsied.pk).diagnosis == "mel"


def test_class_names_wrap_instead_of_being_cut_on_the_phone(
    page: Any, log_in: Callable[[Any], None], clinician: Any, mole: Lesion, server_lock: threading.RLock
) -> None:
    with server_lock:
        model = ModelVersionFactory(name="efficientnet_b0-ham10000", is_default=True, is_active=False)
        image = LesionImageFactory(lesion=mole, visit=VisitFactory(patient=mole.patient, date=dt.date(2026, 11, 2)))
        probabilities = {"akiec": 0.2, "bcc": 0.5, "bkl": 0.1, "df": 0.05, "mel": 0.05, "nv": 0.05, "vasc": 0.05}
        PredictionFactory(
            image=image, model_version=model, probabilities=probabilities, top_class="bcc", confidence=0.5
        )
    page.set_viewport_size(PHONE)
    log_in(clinician)

    page.goto(image.visit.get_absolute_url())

    labels = page.locator(".bar .label")
    labels.first.wait_for()
    texts = labels.all_inner_texts()
    assert any("Basal cell carcinoma" in text for text in texts)
    assert any("Actinic keratosis / intraepithelial carcinoma (Bowen's disease)" in text for text in texts)
    cut = labels.evaluate_all("els => els.filter(el => el.scrollWidth > el.clientWidth + 1).length")
    assert cut == 0
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # nothing wider than the phone


@pytest.mark.parametrize("path", ["patient", "lesion", "worklists", "agreement", "new visit", "patients"])
def test_the_pages_fit_a_phone(
    page: Any, log_in: Callable[[Any], None], clinician: Any, mole: Lesion, path: str
) -> None:
    urls = {
        "patient": mole.patient.get_absolute_url(),
        "lesion": mole.get_absolute_url(),
        "worklists": "/clinic/worklists/",
        "agreement": "/clinic/agreement/",
        "new visit": f"/patients/{mole.patient.uuid}/visits/new/",
        "patients": "/patients/",
    }
    page.set_viewport_size(PHONE)
    log_in(clinician)

    page.goto(urls[path])

    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    topbar = page.locator(".topbar").bounding_box()
    assert topbar["height"] < 80  # one row of navigation
    if path == "patient":  # the body map's markers are targets a finger can hit
        hit = page.locator(".body-map .marker .hit").first.bounding_box()
        assert hit["width"] >= 44 and hit["height"] >= 44
