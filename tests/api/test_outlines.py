"""Outlines in the API: measurements and heatmap share on predictions and the timeline, the mask file, pixel sizes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from lesions.models import Lesion, LesionImage
from ml.models import LesionOutline, Prediction
from tests.factories import LesionOutlineFactory, PredictionFactory, make_jpeg
from tests.helpers import CALLERS, image_from, upload

# The keys the resources had before outlines: clients written against them keep working.
PREDICTION_KEYS_BEFORE = {
    "id",
    "url",
    "image",
    "model_version",
    "status",
    "probabilities",
    "top_class",
    "top_class_name",
    "confidence",
    "melanoma_flag",
    "melanoma_threshold",
    "context",
    "heatmap_url",
    "cam_url",
    "failure_reason",
    "created",
    "finished",
}
IMAGE_KEYS_BEFORE = {
    "id",
    "url",
    "file_url",
    "lesion",
    "visit",
    "visit_date",
    "image_type",
    "content_type",
    "width",
    "height",
    "file_size",
    "predictions",
    "created",
}


@pytest.fixture
def outline(prediction: Prediction) -> LesionOutline:
    Prediction.objects.filter(pk=prediction.pk).update(cam_in_lesion=0.74)
    return LesionOutlineFactory(image=prediction.image)


def test_the_prediction_carries_the_heatmap_share_and_the_photos_outline(
    api: APIClient, prediction: Prediction, outline: LesionOutline
) -> None:
    body = api.get(reverse("api-prediction-detail", args=[prediction.uuid])).json()

    assert set(body) >= PREDICTION_KEYS_BEFORE
    assert body["cam_in_lesion"] == pytest.approx(0.74)
    assert body["outline"]["status"] == "done"
    assert body["outline"]["segmenter"] == "test-segmenter"
    assert body["outline"]["confidence"] == pytest.approx(0.93)
    assert body["outline"]["mask_url"].endswith(f"/api/v1/images/{prediction.image.uuid}/mask/")
    measurements = body["outline"]["measurements"]
    assert measurements["area_fraction"] == pytest.approx(0.196)
    assert measurements["diameter_fraction"] == pytest.approx(0.5)
    assert measurements["colours"] == ["dark_brown"]
    assert measurements["sizes_are_relative"] is True
    assert measurements["area_mm2"] is None and measurements["diameter_mm"] is None


def test_the_timeline_carries_outlines_and_sizes_in_mm_with_a_pixel_size(
    api: APIClient, prediction: Prediction, outline: LesionOutline
) -> None:
    LesionImage.objects.filter(pk=prediction.image.pk).update(mm_per_pixel=0.02)

    (entry,) = api.get(reverse("api-lesion-timeline", args=[prediction.image.lesion.uuid])).json()["results"]

    assert set(entry) >= IMAGE_KEYS_BEFORE
    assert entry["mm_per_pixel"] == pytest.approx(0.02)
    measurements = entry["outline"]["measurements"]
    assert measurements["sizes_are_relative"] is False
    assert measurements["area_mm2"] == pytest.approx(0.196 * 200 * 150 * 0.02**2, rel=1e-3)
    assert measurements["diameter_mm"] == pytest.approx(100 * 0.02)  # half of the 200-px width
    assert entry["predictions"][0]["outline"]["measurements"] == measurements


def test_a_photo_without_an_outline_says_null(api: APIClient, prediction: Prediction) -> None:
    body = api.get(reverse("api-image-detail", args=[prediction.image.uuid])).json()

    assert body["outline"] is None and body["predictions"][0]["outline"] is None
    assert body["predictions"][0]["cam_in_lesion"] is None
    assert api.get(reverse("api-image-mask", args=[prediction.image.uuid])).status_code == 404


def test_a_pending_outline_has_no_measurements_nor_mask(api: APIClient, lesion_image: LesionImage) -> None:
    LesionOutlineFactory(image=lesion_image, pending=True)

    body = api.get(reverse("api-image-detail", args=[lesion_image.uuid])).json()

    assert body["outline"]["status"] == "pending"
    assert body["outline"]["measurements"] is None and body["outline"]["mask_url"] is None


@pytest.mark.parametrize("caller", CALLERS)
def test_the_mask_is_for_the_clinic_only(
    api_as: Callable[[str], APIClient], caller: str, outline: LesionOutline
) -> None:
    response = api_as(caller).get(reverse("api-image-mask", args=[outline.image.uuid]))

    if caller in {"clinician", "clinic_admin"}:
        assert response.status_code == 200
        assert response["Content-Type"] == "image/png"
        mask = image_from(response)
        assert mask.mode == "L" and mask.size == (200, 150)
    elif caller == "outsider":
        assert response.status_code == 404
    else:
        assert response.status_code == 401


def test_an_upload_takes_a_pixel_size(api: APIClient, lesion: Lesion, active_model: Any) -> None:
    response = upload(api, lesion, make_jpeg(), mm_per_pixel="0.015")

    assert response.status_code == 201, response.content
    assert response.json()["mm_per_pixel"] == pytest.approx(0.015)
    assert LesionImage.objects.get().pixel_size_mm == pytest.approx(0.015)


@pytest.mark.parametrize("value", ["0", "-0.01", "5.5"])
def test_an_upload_with_an_impossible_pixel_size_is_refused(
    api: APIClient, lesion: Lesion, active_model: Any, value: str
) -> None:
    response = upload(api, lesion, make_jpeg(), mm_per_pixel=value)

    assert response.status_code == 400
    assert response.json() == {"mm_per_pixel": [LesionImage.PIXEL_SIZE_RANGE]}
    assert not LesionImage.objects.exists()
    assert not Prediction.objects.exists()


def test_the_mask_of_a_prediction_that_belongs_to_another_clinic_is_not_found(
    api: APIClient, outsider: Any, other_clinic: Any
) -> None:
    from tests.factories import LesionFactory, LesionImageFactory, PatientFactory

    foreign = LesionImageFactory(lesion=LesionFactory(patient=PatientFactory(clinic=other_clinic)))
    PredictionFactory(image=foreign)
    LesionOutlineFactory(image=foreign)

    assert api.get(reverse("api-image-mask", args=[foreign.uuid])).status_code == 404
    assert api.get(reverse("api-image-detail", args=[foreign.uuid])).status_code == 404
