"""Follow-up in the browser: a change of magnification is not growth; the aligned compare view; a growth flag reviewed.

The photos are textured skin with a dark lesion (``tests.followup.test_followup_flow.skin_photo``),
analysed by the tiny classifier and outlined by the deterministic test segmenter, so the test is
about the app, not about a model. A follow-up photo taken closer and turned (zoom 1.4, 25°) must
be aligned onto the first from the skin and must not raise the growth flag, though the lesion
covers twice the pixels; the compare view shows the aligned pair in overlay, swipe and blink; a
photo of the lesion grown by half raises the growth flag, which the clinician reviews on the page.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from followup.models import LesionFlag, PhotoAlignment
from tests.factories import LesionFactory, PatientFactory
from tests.followup.test_followup_flow import skin_photo

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_a_closer_photo_is_aligned_not_grown_and_a_grown_lesions_flag_is_reviewed(
    page: Any,
    log_in: Callable[[Any], None],
    upload_photo: Callable[[Any, Path], None],
    screenshot: Callable[[str], None],
    tiny_weights_dir: Path,
    segmenter: Path,
    server_lock: threading.RLock,
    clinic: Any,
    clinician: Any,
    tmp_path: Path,
) -> None:
    with server_lock:
        patient = PatientFactory(clinic=clinic, first_name="Margaret", last_name="Hale")
        lesion = LesionFactory(patient=patient, label="Left shoulder mole")
    log_in(clinician)
    upload_photo(lesion, write(tmp_path / "first.jpg", skin_photo()))
    upload_photo(lesion, write(tmp_path / "closer.jpg", skin_photo(angle=25.0, zoom=1.4)))

    with server_lock:
        alignment = PhotoAlignment.objects.exclude(status=PhotoAlignment.Status.NOT_NEEDED).get(photo__lesion=lesion)
        assert alignment.status == PhotoAlignment.Status.ALIGNED, alignment.failure_reason
        assert alignment.scale == pytest.approx(1 / 1.4, rel=0.03)
        assert not LesionFlag.objects.filter(lesion=lesion, code=LesionFlag.Code.GROWTH).exists()

    # The lesion page: no growth flag, the change against the baseline in one frame.
    page.goto(f"/lesions/{lesion.uuid}/")
    assert page.locator(".flags .flag-growth").count() == 0
    row = page.locator('#followup-change tr[data-reference="baseline"]')
    assert "yes" in row.locator("td").nth(0).inner_text()
    area = row.locator("td").nth(1).inner_text()
    assert re.fullmatch(r"[+-]?\d+%", area) and abs(int(area.rstrip("%"))) <= 10  # zoom is not growth
    screenshot("followup-lesion")

    # The compare view: B aligned onto A, in overlay, swipe and blink, with both outlines.
    page.get_by_role("link", name="Compare visits").click()
    page.wait_for_url(re.compile(r"/compare/"))
    frame = page.locator("#aligned-frame")
    assert frame.is_visible() and frame.get_attribute("data-mode") == "overlay"
    assert (
        page.locator("#aligned-frame .outline-a").count() == 1
        and page.locator("#aligned-frame .outline-b").count() == 1
    )
    moving = page.locator("#aligned-frame img.moving")
    page.wait_for_function("() => document.querySelector('#aligned-frame img.moving').naturalWidth > 0")
    page.locator("#aligned-amount").fill("80")
    assert page.evaluate("getComputedStyle(document.querySelector('#aligned-frame img.moving')).opacity") == "0.8"
    page.get_by_label("Swipe").check()
    assert frame.get_attribute("data-mode") == "swipe"
    page.locator("#aligned-amount").fill("30")
    clip = page.evaluate("getComputedStyle(document.querySelector('#aligned-frame img.moving')).clipPath")
    assert "inset(0px 70%" in clip or "inset(0px 70" in clip
    screenshot("followup-compare-swipe")
    page.get_by_label("Blink").check()
    page.wait_for_function("() => document.getElementById('aligned-frame').classList.contains('showing-a')")
    page.wait_for_function("() => !document.getElementById('aligned-frame').classList.contains('showing-a')")
    assert moving.count() == 1
    page.locator("#aligned-outlines").click()
    assert frame.get_attribute("data-outlines") == "off"

    # A photo of the lesion grown by half raises the growth flag; the clinician reviews it on the page.
    upload_photo(lesion, write(tmp_path / "grown.jpg", skin_photo(radius=(49, 37), angle=-10.0)))
    page.goto(f"/lesions/{lesion.uuid}/")
    flag = page.locator(".flags .flag-growth")
    assert flag.is_visible() and "Grew +" in flag.inner_text() and "baseline photo" in flag.inner_text()
    screenshot("followup-growth-flag")
    flag.locator("input[name=reason]").fill("benign on dermoscopy")
    flag.get_by_role("button", name="Mark reviewed").click()
    page.wait_for_url(f"**/lesions/{lesion.uuid}/")
    assert page.locator(".flags .flag-growth").count() == 0
    history = page.locator(".flag-history")
    history.locator("summary").click()
    assert "benign on dermoscopy" in history.inner_text()
    with server_lock:
        reviewed = LesionFlag.objects.get(lesion=lesion, code=LesionFlag.Code.GROWTH)
        assert reviewed.status == LesionFlag.Status.REVIEWED and reviewed.reviewed_by == clinician

    # The worklist is empty again.
    page.goto("/clinic/flags/")
    assert page.locator("#flags-awaiting-review tr.flag-growth").count() == 0
