"""The compare view: two visits of a lesion side by side."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from lesions.models import Lesion
from ml.models import ModelVersion
from tests.factories import LesionFactory, ModelVersionFactory
from tests.helpers import MELANOMA, NAEVUS, photo_with

DAYS = [dt.date(2024, 1, 10), dt.date(2024, 4, 2), dt.date(2024, 8, 20)]


@pytest.fixture
def model(db: None) -> ModelVersion:
    return ModelVersionFactory(name="effnet-default", is_default=True)


@pytest.fixture
def series(lesion: Lesion, model: ModelVersion) -> list:
    return [
        photo_with(lesion, DAYS[0], model, NAEVUS),
        photo_with(lesion, DAYS[1], model, None),
        photo_with(lesion, DAYS[2], model, MELANOMA),
    ]


def compare(client: Client, lesion: Lesion, **params: str):
    return client.get(reverse("lesion-compare", args=[lesion.uuid]), params)


def test_it_compares_the_first_and_the_latest_visit_by_default(
    clinician_client: Client, lesion: Lesion, series: list
) -> None:
    response = compare(clinician_client, lesion)

    assert (response.context["a"].date, response.context["b"].date) == (DAYS[0], DAYS[2])
    html = response.content.decode()
    side_a, side_b = html.split('data-side="B"')
    assert reverse("lesion-image-file", args=[series[0].uuid]) in side_a
    assert reverse("lesion-image-file", args=[series[2].uuid]) in side_b
    assert side_a.count('<li class="bar') == 7 and side_b.count('<li class="bar') == 7
    assert "Melanocytic naevus</strong>" in side_a
    assert "Melanoma</strong>" in side_b
    assert side_b.count("/heatmap.png") == 1


def test_it_shows_the_change_per_class(clinician_client: Client, lesion: Lesion, series: list) -> None:
    html = compare(clinician_client, lesion).content.decode()

    rows = dict(re.findall(r'data-code="(\w+)">.*?<td class="delta[^"]*">([^<]+)</td>', html, re.S))
    assert rows["mel"] == "▲ +56.0 pts"
    assert rows["nv"] == "▼ -58.0 pts"
    assert rows["malignant"] == "▲ +58.0 pts"
    assert rows["vasc"] == "0.0 pts"
    assert len(rows) == 8


def test_it_compares_the_chosen_visits(clinician_client: Client, lesion: Lesion, series: list) -> None:
    a, b = series[1].visit, series[0].visit

    response = compare(clinician_client, lesion, a=str(a.uuid), b=str(b.uuid))

    assert (response.context["a"].visit, response.context["b"].visit) == (a, b)
    html = response.content.decode()
    assert f'<option value="{a.uuid}" selected>' in html
    assert "not analysed" in html
    assert "Both visits need a finished analysis" in html
    assert 'id="b-later"' in html and 'id="b-earlier"' not in html  # B is the first visit


def test_it_has_real_controls_for_keyboard_and_touch(clinician_client: Client, lesion: Lesion, series: list) -> None:
    html = compare(clinician_client, lesion).content.decode()

    assert '<select name="a" id="pick-a">' in html and '<label for="pick-a">' in html
    assert '<select name="b" id="pick-b">' in html
    assert '<button type="button" class="btn" id="heatmap-toggle" aria-pressed="false">' in html
    assert 'type="range" id="heatmap-blend"' in html
    assert 'aria-keyshortcuts="ArrowLeft"' in html


def test_it_answers_404_for_a_visit_of_another_lesion(clinician_client: Client, lesion: Lesion, series: list) -> None:
    other = photo_with(LesionFactory(patient=lesion.patient), dt.date(2023, 5, 5), ModelVersion.objects.get(), None)

    assert compare(clinician_client, lesion, a=str(other.visit.uuid)).status_code == 404
    assert compare(clinician_client, lesion, b=str(uuid.uuid4())).status_code == 404
    assert compare(clinician_client, lesion, b="not-a-uuid").status_code == 404


def test_a_lesion_without_photos_has_nothing_to_compare(clinician_client: Client, lesion: Lesion) -> None:
    response = compare(clinician_client, lesion)

    assert response.status_code == 200
    assert "nothing to compare" in response.content.decode()


def test_without_a_model_the_photos_are_still_compared(clinician_client: Client, lesion: Lesion) -> None:
    from tests.factories import LesionImageFactory, VisitFactory

    for day in DAYS[:2]:
        LesionImageFactory(lesion=lesion, visit=VisitFactory(patient=lesion.patient, date=day))

    html = compare(clinician_client, lesion).content.decode()

    assert html.count("No finished analysis of this visit: no model is installed") == 2
    assert html.count("/file/") >= 2
