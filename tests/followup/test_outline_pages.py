"""The lesion outline and its measurements on the visit, lesion, compare and report pages."""

from __future__ import annotations

import datetime as dt
import json
import re
from html import unescape
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from followup.flags_sync import lesion_flags_sync
from followup.models import PhotoAlignment
from lesions.models import Lesion
from ml.models import ModelVersion, Prediction
from tests.factories import LesionOutlineFactory, ModelVersionFactory
from tests.helpers import NAEVUS, outline_with, photo_with

DAYS = [dt.date(2024, 1, 10), dt.date(2024, 6, 2)]


@pytest.fixture
def model(db: None) -> ModelVersion:
    return ModelVersionFactory(name="effnet-default", is_default=True)


@pytest.fixture
def grown(lesion: Lesion, model: ModelVersion, settings: Any) -> list[Any]:
    """Two analysed, outlined visits: the lesion grew from 10% to 16.9% of the photo and turned partly black."""
    settings.FOLLOWUP_GROWTH_THRESHOLD = 0.20
    settings.FOLLOWUP_NEW_COLOUR_MIN_SHARE = 0.10
    first = photo_with(lesion, DAYS[0], model, NAEVUS)
    latest = photo_with(lesion, DAYS[1], model, NAEVUS)
    outline_with(first, area_fraction=0.10, diameter_fraction=0.40, colours={"light_brown": 1.0})
    outline_with(latest, area_fraction=0.169, diameter_fraction=0.52, colours={"light_brown": 0.7, "black": 0.3})
    # What the worker makes of the pair: aligned (the same framing here) and outlined again in the first's frame.
    latest.outline.refresh_from_db()
    PhotoAlignment.objects.create(
        photo=latest,
        reference=first,
        status=PhotoAlignment.Status.ALIGNED,
        matrix=[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
        scale=1.0,
        rotation_deg=0.0,
        quality=0.9,
        inliers=120,
        measurements=latest.outline.measurements,
    )
    lesion_flags_sync(lesion=lesion)
    return [first, latest]


def page(client: Client, name: str, *args: Any) -> str:
    response = client.get(reverse(name, args=args))
    assert response.status_code == 200
    return unescape(response.content.decode())


def test_the_visit_page_draws_the_outline_over_photo_and_heatmap_and_lists_the_measurements(
    clinician_client: Client, grown: list[Any]
) -> None:
    image = grown[1]
    html = page(clinician_client, "visit-detail", image.visit.uuid)

    assert html.count('class="lesion-outline"') == 2  # over the photo and over the heatmap
    assert f'viewBox="0 0 {image.width} {image.height}"' in html
    assert f'points="{image.outline.svg_points}"' in html
    assert 'class="outline-toggle"' in html
    assert "16.9% of the photo" in html
    assert "52% × 42% of the photo's long side" in html
    assert "light brown" in html and "black" in html
    assert "Sizes are relative to the photo" in html
    assert "Outline by test-segmenter, confidence 93%" in html


def test_sizes_are_in_mm_with_the_image_types_default_pixel_size(
    clinician_client: Client, grown: list[Any], settings: Any
) -> None:
    settings.PIXEL_SIZE_MM_DEFAULTS = {"dermoscopic": 0.05}
    html = page(clinician_client, "visit-detail", grown[1].visit.uuid)

    area_mm2 = 0.169 * 200 * 150 * 0.05**2  # 12.7 mm²
    assert f"{area_mm2:.1f} mm²" in html
    assert "5.2 mm × 4.2 mm across" in html  # 0.52 × 200 px × 0.05 mm, and 80% of it across
    assert "(default for dermoscopic photos)" in html


def test_the_explainability_line_and_its_warning(clinician_client: Client, grown: list[Any], settings: Any) -> None:
    # The lesion covers 16.9% of the photo: 74% of the heatmap on it is 4.4x an even spread, 31% is 1.8x.
    settings.EXPLAIN_CAM_CONCENTRATION_MIN = 2.0  # no cut measured in this model's manifest: the setting's
    prediction = grown[1].predictions.get()
    Prediction.objects.filter(pk=prediction.pk).update(cam_in_lesion=0.74)
    html = page(clinician_client, "visit-detail", grown[1].visit.uuid)
    assert "74% of the heatmap lies on the lesion, 4.4× what an even spread over the photo would put there" in html
    assert "Warning" not in html.split("explain")[-1]

    Prediction.objects.filter(pk=prediction.pk).update(cam_in_lesion=0.31)
    html = page(clinician_client, "visit-detail", grown[1].visit.uuid)
    assert "31% of the heatmap lies on the lesion, 1.8×" in html
    assert "Warning: the heatmap is hardly more on the lesion than elsewhere" in html

    # A cut measured on validation, in the model version's metrics, wins over the setting.
    ModelVersion.objects.filter(pk=prediction.model_version_id).update(
        metrics={"explanation": {"warning_below_concentration": 1.5}}
    )
    html = page(clinician_client, "visit-detail", grown[1].visit.uuid)
    assert "Warning: the heatmap is hardly" not in html


def test_a_pending_outline_keeps_the_panel_polling_and_a_failed_one_says_why(
    clinician_client: Client, lesion: Lesion, model: ModelVersion
) -> None:
    image = photo_with(lesion, DAYS[0], model, NAEVUS)
    outline = LesionOutlineFactory(image=image, pending=True)
    html = page(clinician_client, "lesion-image-analysis", image.uuid)
    assert "data-pending" in html and "Waiting to be outlined" in html

    type(outline).objects.filter(pk=outline.pk).update(status="failed", failure_reason="The photo could not be read")
    html = page(clinician_client, "lesion-image-analysis", image.uuid)
    assert "data-pending" not in html
    assert "The lesion could not be outlined: The photo could not be read" in html


def test_the_compare_view_shows_the_growth_new_colours_and_asymmetry_change(
    clinician_client: Client, lesion: Lesion, grown: list[Any]
) -> None:
    html = page(clinician_client, "lesion-compare", lesion.uuid)

    rows = dict(re.findall(r'data-measure="(\w+)"><th scope="row">[^<]+</th><td[^>]*>(.*?)</td>', html, re.S))
    assert rows["area"] == "▲ +69%"
    assert rows["diameter"] == "+30%"
    assert "new: black" in rows["colours"]
    assert rows["asymmetry"] == "0.05 → 0.05"  # the factory outlines are equally asymmetric
    assert html.count('class="lesion-outline"') == 2  # one over each side
    assert 'id="outline-toggle"' in html
    assert 'id="aligned-frame"' in html and "outline-a" in html and "outline-b" in html


def test_the_lesion_page_flags_growth_and_the_new_colour_and_charts_the_size(
    clinician_client: Client, lesion: Lesion, grown: list[Any]
) -> None:
    response = clinician_client.get(reverse("lesion-detail", args=[lesion.uuid]))
    html = unescape(response.content.decode())

    assert "Grew +69%" in html and "New colour: black" in html
    assert "since the baseline photo of 2024-01-10" in html
    assert "Latest size (2024-06-02)" in html and "16.9% of the photo" in html
    trend = json.loads(re.search(r'<script id="trend-data" type="application/json">(.*?)</script>', html, re.S)[1])
    assert trend["size"]["values"] == [10.0, 16.9]
    assert "Area (% of the photo)" in html


def test_the_report_prints_the_outline_and_the_measurements(clinician_client: Client, grown: list[Any]) -> None:
    html = page(clinician_client, "visit-report", grown[1].visit.uuid)

    assert html.count('class="lesion-outline"') == 2
    assert "16.9% of the photo" in html
    assert "Colours" in html and "black" in html


def test_without_outlines_the_compare_view_says_what_is_missing(
    clinician_client: Client, lesion: Lesion, model: ModelVersion
) -> None:
    photo_with(lesion, DAYS[0], model, NAEVUS)
    photo_with(lesion, DAYS[1], model, NAEVUS)

    html = page(clinician_client, "lesion-compare", lesion.uuid)

    assert "Both visits need an outlined photo" in html
    assert "lesion-outline" not in html
