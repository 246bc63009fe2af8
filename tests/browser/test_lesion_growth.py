"""A new visit of a seeded demo lesion with a larger photo of it: the compare view shows the growth and the flag rises.

The demo is seeded as ``make run`` seeds it (``seed_demo``: real HAM10000 photos, each analysed and
outlined like an upload), with the tiny classifier and the deterministic test segmenter installed,
so the test is about the app, not about a model. The "larger photo" is the lesion's latest photo
zoomed to 1/0.7 of its size about the centre, as if the dermatoscope saw the lesion grown: the
outline's area roughly doubles, far above the growth flag's 20%.
"""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from PIL import Image

from lesions.models import Lesion, Patient
from ml.models import LesionOutline
from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ZOOM = 0.7  # the new photo shows the central 70% of the old one at the same size


def zoomed(photo: Path, target: Path) -> Path:
    with Image.open(photo) as image:
        width, height = image.size
        crop_w, crop_h = width * ZOOM, height * ZOOM
        box = ((width - crop_w) / 2, (height - crop_h) / 2, (width + crop_w) / 2, (height + crop_h) / 2)
        image.convert("RGB").resize((width, height), Image.Resampling.BICUBIC, box=box).save(target, "JPEG", quality=95)
    return target


def percent_after(prefix: str, text: str) -> float:
    found = re.search(prefix + r"(\d+)%", text)
    assert found, f"no {prefix}N% in {text!r}"
    return float(found[1])


def test_a_larger_photo_of_a_seeded_lesion_shows_its_growth_and_raises_the_growth_flag(
    page: Any,
    log_in: Callable[[Any], None],
    upload_photo: Callable[[Any, Path], None],
    screenshot: Callable[[str], None],
    tiny_weights_dir: Path,
    segmenter: Path,
    server_lock: threading.RLock,
    settings: Any,
    tmp_path: Path,
) -> None:
    settings.FOLLOWUP_GROWTH_THRESHOLD = 0.20
    with server_lock:
        call_command("seed_demo", "--password", PASSWORD, stdout=io.StringIO())
        patient = Patient.objects.get(medical_record_number="RD-1001")
        lesion = Lesion.objects.get(patient=patient, label="Lower Extremity lesion 1")  # three seeded visits
        latest = lesion.images.order_by("-visit__date").first()
        seeded = LesionOutline.objects.get(image=latest)
        assert seeded.status == LesionOutline.Status.DONE  # seeded photos are outlined like uploads
        seeded_area = seeded.measured.area_fraction
        new_photo = zoomed(Path(latest.image.path), tmp_path / "larger.jpg")
        doctor = get_user_model().objects.get(username="dr.ben")

    log_in(doctor)
    upload_photo(lesion, new_photo)

    # The visit page: the new photo analysed, outlined and measured.
    panel = page.locator(".analysis").first
    assert panel.locator(".lesion-outline polygon").first.is_visible()
    assert "of the photo" in panel.locator(".m-area").inner_text()
    with server_lock:
        new_outline = LesionOutline.objects.get(image__visit__date__gt=latest.visit.date, image__lesion=lesion)
        assert new_outline.status == LesionOutline.Status.DONE
        growth = new_outline.measured.area_fraction / seeded_area - 1
    assert growth > 0.5  # the lesion looks about twice as large
    panel.locator(".outline-toggle").uncheck()  # the outline can be hidden over photo and heatmap at once
    assert panel.locator(".lesion-outline").first.is_hidden()
    screenshot("growth-visit")

    # The lesion page raises the growth flag.
    page.goto(f"/lesions/{lesion.uuid}/")
    flag = page.locator(".flags .flag-grew")
    assert flag.is_visible()
    assert percent_after(r"Grew \+", flag.inner_text()) == pytest.approx(100 * growth, abs=1)
    assert "since" in flag.inner_text() and "flagged above +20%" in flag.inner_text()
    page.wait_for_function("window.dermaTrendChart !== undefined")
    assert page.evaluate("window.dermaTrendChart.data.datasets.some(d => d.yAxisID === 'size')")
    screenshot("growth-lesion")

    # The compare view, previous visit against the new one, shows it grew.
    page.get_by_role("link", name="Compare visits").click()
    page.wait_for_url(re.compile(r"/compare/"))
    page.select_option("#pick-a", label=f"{latest.visit.date:%Y-%m-%d}")
    page.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_url(re.compile(r"\?a="))
    area = page.locator('#lesion-change tr[data-measure="area"] td.delta')
    assert percent_after("▲ \\+", area.inner_text()) == pytest.approx(100 * growth, abs=1)
    assert "up" in (area.get_attribute("class") or "")
    diameter = page.locator('#lesion-change tr[data-measure="diameter"] td.delta').inner_text()
    assert diameter.startswith("▲ +") and diameter.endswith("%")
    assert page.locator(".compare-frame .lesion-outline").count() == 2
    page.get_by_role("button", name="Hide outlines").click()
    assert page.locator(".compare-frame .lesion-outline").first.is_hidden()
    screenshot("growth-compare")
