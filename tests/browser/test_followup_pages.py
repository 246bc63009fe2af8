"""The follow-up pages in a real browser: trend chart, compare view, body map, printable report."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest

from followup.flags_sync import lesion_flags_sync
from lesions.models import Lesion, LesionImage, Patient
from ml.models import ModelVersion
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

DAYS = [dt.date(2024, 1, 15), dt.date(2024, 5, 20), dt.date(2024, 9, 30)]
SERIES = [
    {"akiec": 0.02, "bcc": 0.03, "bkl": 0.10, "df": 0.02, "mel": 0.08, "nv": 0.73, "vasc": 0.02},
    {"akiec": 0.03, "bcc": 0.04, "bkl": 0.12, "df": 0.02, "mel": 0.14, "nv": 0.63, "vasc": 0.02},
    {"akiec": 0.04, "bcc": 0.05, "bkl": 0.10, "df": 0.01, "mel": 0.52, "nv": 0.26, "vasc": 0.02},
]


def photo(index: int) -> bytes:
    return sorted(SAMPLE_PHOTOS_DIR.glob("*.jpg"))[index].read_bytes()


def analysed_photo(lesion: Lesion, day: dt.date, model: ModelVersion, probabilities: dict[str, float], n: int) -> Any:
    visit = lesion.patient.visits.filter(date=day).first() or VisitFactory(patient=lesion.patient, date=day)
    image: LesionImage = LesionImageFactory(lesion=lesion, visit=visit, photo=photo(n))
    top = max(probabilities, key=probabilities.__getitem__)
    prediction = PredictionFactory(
        image=image, model_version=model, probabilities=probabilities, top_class=top, confidence=probabilities[top]
    )
    lesion_flags_sync(lesion=lesion)  # as the worker does once the analysis is done
    return prediction


@pytest.fixture
def history(clinician: Any) -> dict[str, Any]:
    """A patient with a lesion seen three times (naevus, then melanoma) and a calm second lesion."""
    model = ModelVersionFactory(name="efficientnet_b0-ham10000", is_default=True, is_active=False)
    patient: Patient = PatientFactory(
        clinic=clinician.clinics.get(), first_name="Margaret", last_name="Hale", medical_record_number="RD-1001"
    )
    mole = LesionFactory(patient=patient, label="Left shoulder mole", body_site=Lesion.BodySite.POSTERIOR_TORSO)
    calm = LesionFactory(patient=patient, label="Right shin spot", body_site=Lesion.BodySite.LOWER_EXTREMITY)
    predictions = [
        analysed_photo(mole, day, model, probs, n) for n, (day, probs) in enumerate(zip(DAYS, SERIES, strict=True))
    ]
    for n, day in enumerate(DAYS[1:]):
        analysed_photo(calm, day, model, SERIES[0], 5 + n)
    return {"patient": patient, "mole": mole, "calm": calm, "predictions": predictions}


def test_the_trend_chart_draws_every_class_and_the_malignant_sum(
    page: Any, log_in: Callable[[Any], None], screenshot: Callable[[str], None], clinician: Any, history: dict
) -> None:
    log_in(clinician)
    page.goto(history["mole"].get_absolute_url())

    page.wait_for_function("() => window.Chart && Chart.getChart(document.getElementById('trend-chart'))")
    chart = page.evaluate(
        """() => {
            const chart = Chart.getChart(document.getElementById('trend-chart'));
            return {
                ticks: chart.scales.x.ticks.map(t => t.label),
                datasets: chart.data.datasets.map(d => ({label: d.label, data: d.data.map(p => p.y),
                                                         x: d.data.map(p => p.x), width: d.borderWidth,
                                                         dash: d.borderDash, point: d.pointStyle})),
            };
        }"""
    )
    # Real time between visits on the x-axis: days since the first, labelled with dates.
    assert chart["datasets"][0]["x"] == [(d - DAYS[0]).days for d in DAYS]
    assert (
        all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", tick) for tick in chart["ticks"]) and chart["ticks"][0] == "2024-01-15"
    )
    assert len(chart["datasets"]) == 8
    by_label = {d["label"]: d for d in chart["datasets"]}
    malignant = by_label["Malignant sum (mel + bcc + akiec)"]
    assert malignant["data"] == [13.0, 21.0, 61.0]
    assert malignant["width"] > max(d["width"] for d in chart["datasets"] if d is not malignant)
    assert len({str(d["dash"]) for d in chart["datasets"]}) >= 7  # lines told apart without colour
    assert len({d["point"] for d in chart["datasets"]}) >= 7
    painted = page.evaluate(
        """() => {
            const c = document.getElementById('trend-chart');
            const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) n++;
            return n;
        }"""
    )
    assert painted > 5000
    # the history under the chart: newest first, flags on top
    assert page.locator(".timeline > li").count() == 3
    assert page.locator(".timeline > li h3").first.inner_text().startswith("2024-09-30")
    flags = page.locator(".lesion-summary .flags").inner_text()
    assert "Top class changed" in flags and "Malignant +40 pts" in flags
    # P(mel) on its own chart, with the flag threshold when the model has one.
    page.wait_for_function("() => Chart.getChart(document.getElementById('mel-chart'))")
    mel = page.evaluate("() => Chart.getChart(document.getElementById('mel-chart')).data.datasets.map(d => d.label)")
    assert "P(mel)" in mel
    screenshot("lesion-history")


def test_compare_two_visits_side_by_side(
    page: Any, log_in: Callable[[Any], None], screenshot: Callable[[str], None], clinician: Any, history: dict
) -> None:
    log_in(clinician)
    page.goto(history["mole"].get_absolute_url())
    page.get_by_role("link", name="Compare visits").click()

    side_a, side_b = page.locator('.compare-side[data-side="A"]'), page.locator('.compare-side[data-side="B"]')
    assert "2024-01-15" in side_a.locator("h2").inner_text()
    assert "2024-09-30" in side_b.locator("h2").inner_text()
    assert side_a.locator(".top-class").inner_text() == "Melanocytic naevus"
    assert side_b.locator(".top-class").inner_text() == "Melanoma"
    assert side_a.locator(".bars li").count() == 7 and side_b.locator(".bars li").count() == 7
    mel_change = page.locator('.diff-table tr[data-code="mel"] td.delta').inner_text()
    assert mel_change == "▲ +44.0 pts"
    assert page.locator(".diff-table tbody tr").count() == 8
    # both photos drawn in boxes of the same size: the same scale
    box_a = side_a.locator(".compare-frame").bounding_box()
    box_b = side_b.locator(".compare-frame").bounding_box()
    assert (round(box_a["width"]), round(box_a["height"])) == (round(box_b["width"]), round(box_b["height"]))

    # heatmaps: hidden, then shown at the slider's strength
    overlay = side_b.locator("img.overlay")
    assert overlay.evaluate("img => getComputedStyle(img).opacity") == "0"
    page.get_by_role("button", name="Show heatmaps").click()
    toggle = page.locator("#heatmap-toggle")
    assert toggle.get_attribute("aria-pressed") == "true"
    assert toggle.inner_text() == "Hide heatmaps"
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('[data-side=B] img.overlay')).opacity === '0.6'"
    )
    page.locator("#heatmap-blend").fill("25")
    page.wait_for_function(
        "() => getComputedStyle(document.querySelector('[data-side=A] img.overlay')).opacity === '0.25'"
    )
    screenshot("compare")

    # pick visit B with the real <select> and the Compare button
    page.select_option("#pick-b", label="2024-05-20")
    page.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_url(re.compile(r"b="))
    assert "2024-05-20" in page.locator('.compare-side[data-side="B"] h2').inner_text()

    # → steps visit B to the next visit; keyboard focus is visible
    page.locator("body").click(position={"x": 5, "y": 300})
    page.keyboard.press("ArrowRight")
    page.wait_for_function("() => document.querySelector('[data-side=B] h2').textContent.includes('2024-09-30')")
    page.keyboard.press("Tab")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline == "solid"


def test_the_body_map_opens_the_lesion_and_marks_the_flagged_one(
    page: Any, log_in: Callable[[Any], None], screenshot: Callable[[str], None], clinician: Any, history: dict
) -> None:
    log_in(clinician)
    page.goto(history["patient"].get_absolute_url())

    assert page.locator(".lesion-row").first.locator("a").first.inner_text() == "Left shoulder mole"
    flagged = page.locator(".body-map a.marker.flagged")
    assert flagged.count() == 1
    assert flagged.locator("path.shape").count() == 1  # a diamond, not only another colour
    assert page.locator(".body-map a.marker:not(.flagged) circle.shape").count() == 1
    screenshot("patient-body-map")

    page.get_by_role("link", name=re.compile(r"^Lesion 2: Right shin spot, Lower extremity \(front\)")).click()
    page.wait_for_url(f"**{history['calm'].get_absolute_url()}")
    assert page.locator("h1").inner_text() == "Right shin spot"


def test_the_visit_report_prints_without_navigation(
    page: Any, log_in: Callable[[Any], None], screenshot: Callable[[str], None], clinician: Any, history: dict
) -> None:
    visit = history["predictions"][-1].image.visit
    log_in(clinician)
    page.goto(f"/visits/{visit.uuid}/report/")

    assert page.locator(".report-lesion").count() == 2
    assert "Margaret Hale" in page.locator(".report-head").inner_text()
    # baseline photo, current photo and heatmap of each lesion (both were seen before this visit)
    assert page.locator(".report-lesion img").count() == 6
    assert page.locator(".report-baseline img").count() == 2
    page.emulate_media(media="print")
    assert not page.locator(".report-actions").is_visible()
    assert page.locator(".disclaimer").is_visible()
    screenshot("visit-report-print")
