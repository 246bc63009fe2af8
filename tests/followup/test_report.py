"""The printable visit report."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.test import Client
from django.urls import reverse

from lesions.models import LesionImage, Visit


def test_it_reports_the_visit_with_photos_heatmaps_and_predictions(clinician_client: Client, prediction: Any) -> None:
    visit = prediction.image.visit
    visit.notes = "Itches since spring."
    visit.save()

    response = clinician_client.get(reverse("visit-report", args=[visit.uuid]))

    html = response.content.decode()
    assert "Margaret Hale" in html and "RD-1001" in html
    assert f"{visit.date:%Y-%m-%d}" in html
    assert visit.clinician.get_full_name() in html
    assert "Left shoulder mole" in html
    assert reverse("lesion-image-file", args=[prediction.image.uuid]) in html
    assert reverse("prediction-heatmap", args=[prediction.uuid]) in html
    assert "top class <strong>Melanocytic naevus</strong> (78%)" in html
    assert html.count('<th scope="row"><abbr') == 7
    assert "Itches since spring." in html
    assert "not a diagnosis" in html  # the decision-support disclaimer


def test_it_is_made_for_printing_without_navigation(clinician_client: Client, lesion_image: LesionImage) -> None:
    html = clinician_client.get(reverse("visit-report", args=[lesion_image.visit.uuid])).content.decode()

    assert 'class="topbar"' not in html and "Log out" not in html
    assert 'id="print-report"' in html
    assert "No finished analysis of this photo (no model installed)" in html
    css = (settings.BASE_DIR / "static" / "css" / "app.css").read_text()
    assert "@media print" in css and ".report-actions" in css


def test_a_visit_without_photos_still_has_a_report(clinician_client: Client, visit: Visit) -> None:
    response = clinician_client.get(reverse("visit-report", args=[visit.uuid]))

    assert response.status_code == 200
    assert "No photos were taken at this visit." in response.content.decode()
