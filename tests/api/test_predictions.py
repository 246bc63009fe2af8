"""Analyses: read one, nested in photos, the heatmap files, and the timeline of a lesion."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.urls import reverse
from PIL import Image
from rest_framework.test import APIClient

from lesions.models import Lesion, LesionImage
from ml.engine.labels import HAM10000_CLASSES
from ml.models import Prediction
from tests.factories import LesionImageFactory, ModelVersionFactory, PredictionFactory, VisitFactory, make_jpeg
from tests.helpers import image_from, streamed, upload


def test_it_reads_a_finished_prediction(api: APIClient, prediction: Prediction) -> None:
    body = api.get(reverse("api-prediction-detail", args=[prediction.uuid])).json()

    assert body["id"] == str(prediction.uuid)
    assert body["image"] == str(prediction.image.uuid)
    assert body["status"] == "done"
    assert list(body["probabilities"]) == list(HAM10000_CLASSES)
    assert body["probabilities"]["nv"] == pytest.approx(0.78)
    assert (body["top_class"], body["top_class_name"]) == ("nv", "Melanocytic naevus")
    assert body["confidence"] == pytest.approx(0.78)
    assert body["model_version"] == {
        "name": prediction.model_version.name,
        "architecture": "efficientnet_b0",
        "is_default": False,
    }
    assert body["heatmap_url"].endswith(f"/api/v1/predictions/{prediction.uuid}/heatmap/")
    assert body["cam_url"].endswith(f"/api/v1/predictions/{prediction.uuid}/cam/")
    assert body["failure_reason"] == ""


def test_a_pending_prediction_has_no_results_yet(api: APIClient, lesion_image: LesionImage) -> None:
    pending = PredictionFactory(image=lesion_image, pending=True)

    body = api.get(reverse("api-prediction-detail", args=[pending.uuid])).json()

    assert body["status"] == "pending"
    assert body["probabilities"] is None
    assert body["top_class"] is None and body["confidence"] is None
    assert body["heatmap_url"] is None and body["cam_url"] is None
    assert api.get(reverse("api-prediction-heatmap", args=[pending.uuid])).status_code == 404


def test_a_failed_prediction_says_why(api: APIClient, lesion_image: LesionImage) -> None:
    failed = PredictionFactory(image=lesion_image, pending=True, status="failed", failure_reason="Photo unreadable.")

    body = api.get(reverse("api-prediction-detail", args=[failed.uuid])).json()

    assert (body["status"], body["failure_reason"]) == ("failed", "Photo unreadable.")


@pytest.mark.parametrize("name", ["heatmap", "cam"])
def test_it_streams_the_heatmaps_to_token_clients(api: APIClient, prediction: Prediction, name: str) -> None:
    response = api.get(reverse(f"api-prediction-{name}", args=[prediction.uuid]), HTTP_ACCEPT="image/png")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    assert streamed(response) == Path(getattr(prediction, name).path).read_bytes()


def test_the_pages_file_urls_still_need_a_session(api: APIClient, prediction: Prediction) -> None:
    # The API returns its own file URLs; the pages' ones stay session-only.
    response = api.get(reverse("prediction-heatmap", args=[prediction.uuid]))

    assert response.status_code == 302


def test_photos_list_their_predictions(api: APIClient, prediction: Prediction) -> None:
    body = api.get(reverse("api-image-detail", args=[prediction.image.uuid])).json()

    assert [p["id"] for p in body["predictions"]] == [str(prediction.uuid)]
    assert body["predictions"][0]["status"] == "done"


def test_the_timeline_lists_every_photo_oldest_first_with_its_predictions(api: APIClient, lesion: Lesion) -> None:
    dates = [dt.date(2026, 3, 1), dt.date(2024, 6, 1), dt.date(2025, 1, 15)]
    images = [
        LesionImageFactory(lesion=lesion, visit=VisitFactory(patient=lesion.patient, date=date)) for date in dates
    ]
    model = ModelVersionFactory()
    for image in images:
        PredictionFactory(image=image, model_version=model)
    LesionImageFactory(lesion__patient=lesion.patient)  # another lesion's photo

    body = api.get(reverse("api-lesion-timeline", args=[lesion.uuid])).json()

    assert body["count"] == 3
    assert {"next", "previous"} <= body.keys()
    assert [item["visit_date"] for item in body["results"]] == ["2024-06-01", "2025-01-15", "2026-03-01"]
    assert all(len(item["predictions"]) == 1 for item in body["results"])
    assert {item["lesion"] for item in body["results"]} == {str(lesion.uuid)}


def test_the_timeline_is_paginated(api: APIClient, lesion: Lesion, visit: Any) -> None:
    for _ in range(26):
        LesionImageFactory(lesion=lesion, visit=visit, photo=make_jpeg(32, 24))

    first = api.get(reverse("api-lesion-timeline", args=[lesion.uuid])).json()

    assert first["count"] == 26
    assert len(first["results"]) == 25
    assert len(api.get(first["next"]).json()["results"]) == 1


# --- the whole flow with a real (tiny) model -------------------------------------------------


@pytest.mark.slow
def test_an_uploaded_photo_is_analysed_and_its_heatmap_served(
    api: APIClient,
    lesion: Lesion,
    tiny_weights_dir: Path,
    sample_photo_path: Path,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        uploaded = upload(api, lesion, sample_photo_path.read_bytes())
    assert uploaded.status_code == 201
    assert uploaded.json()["predictions"][0]["status"] == "pending"  # as it was when answered

    body = api.get(uploaded.json()["predictions"][0]["url"]).json()

    assert body["status"] == "done", body
    assert set(body["probabilities"]) == set(HAM10000_CLASSES)
    assert sum(body["probabilities"].values()) == pytest.approx(1, abs=1e-3)
    assert body["top_class"] == max(body["probabilities"], key=body["probabilities"].get)
    heatmap = image_from(api.get(body["heatmap_url"]))
    photo = Image.open(sample_photo_path)
    assert heatmap.width / heatmap.height == pytest.approx(photo.width / photo.height, abs=0.02)
