"""The analysis panel of a photo (re-fetched while analysis is pending) and its heatmap files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse

from lesions.models import LesionImage
from tests.factories import ModelVersionFactory, PredictionFactory


def _panel(client: Client, image: LesionImage) -> str:
    response = client.get(reverse("lesion-image-analysis", args=[image.uuid]))
    assert response.status_code == 200
    return response.content.decode()


def test_it_says_when_no_model_is_installed(clinician_client: Client, lesion_image: LesionImage) -> None:
    html = _panel(clinician_client, lesion_image)

    assert "No model is installed" in html
    assert "data-pending" not in html


def test_it_shows_a_finished_prediction_with_its_heatmap(clinician_client: Client, prediction: Any) -> None:
    html = _panel(clinician_client, prediction.image)

    assert "Melanocytic naevus <strong>78%</strong>" in html
    assert reverse("prediction-heatmap", args=[prediction.uuid]) in html
    assert "not a diagnosis" in html
    assert "data-pending" not in html


def test_it_shows_how_the_model_measured_on_the_test_split(clinician_client: Client, lesion_image: LesionImage) -> None:
    report = {
        "images": 1358,
        "metrics": {"accuracy": 0.746, "balanced_accuracy": 0.6614, "melanoma": {"sensitivity": 0.6908}},
    }
    model = ModelVersionFactory(name="effnet", metrics={"test": report})
    unmeasured = ModelVersionFactory(name="new-model")
    PredictionFactory(image=lesion_image, model_version=model)
    PredictionFactory(image=lesion_image, model_version=unmeasured)

    html = _panel(clinician_client, lesion_image)

    assert (
        "effnet on the HAM10000 test split (1358 dermoscopic images): accuracy 74.6%, "
        "balanced accuracy 66.1%, melanoma sensitivity 69.1%." in html
    )
    assert "new-model on the HAM10000 test split" not in html
    assert model.test_accuracy == 0.746 and unmeasured.test_accuracy is None


def test_it_marks_a_pending_prediction_for_refresh(clinician_client: Client, lesion_image: LesionImage) -> None:
    PredictionFactory(image=lesion_image, pending=True)

    html = _panel(clinician_client, lesion_image)

    assert 'data-pending="1"' in html
    assert "Waiting for analysis" in html


def test_it_shows_why_an_analysis_failed(clinician_client: Client, lesion_image: LesionImage) -> None:
    PredictionFactory(image=lesion_image, pending=True, status="failed", failure_reason="The photo file is missing.")

    html = _panel(clinician_client, lesion_image)

    assert "Analysis failed" in html
    assert "The photo file is missing." in html


def test_it_shows_the_default_model_first(clinician_client: Client, lesion_image: LesionImage) -> None:
    PredictionFactory(image=lesion_image, model_version=ModelVersionFactory(name="aaa-resnet"))
    PredictionFactory(image=lesion_image, model_version=ModelVersionFactory(name="zzz-effnet", is_default=True))

    html = _panel(clinician_client, lesion_image)

    assert html.index("zzz-effnet") < html.index("aaa-resnet")


@pytest.mark.parametrize(("url_name", "field"), [("prediction-heatmap", "heatmap"), ("prediction-cam", "cam")])
def test_it_streams_the_prediction_maps(clinician_client: Client, prediction: Any, url_name: str, field: str) -> None:
    response = clinician_client.get(reverse(url_name, args=[prediction.uuid]))

    assert response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content) == Path(getattr(prediction, field).path).read_bytes()


@pytest.mark.parametrize("url_name", ["prediction-heatmap", "prediction-cam"])
def test_it_answers_404_for_a_prediction_without_maps(
    clinician_client: Client, lesion_image: LesionImage, url_name: str
) -> None:
    pending = PredictionFactory(image=lesion_image, pending=True)

    response = clinician_client.get(reverse(url_name, args=[pending.uuid]))

    assert response.status_code == 404


def test_polling_a_pending_analysis_writes_no_audit_row_and_the_finished_answer_one(
    clinician_client: Client, clinician: Any, lesion_image: LesionImage
) -> None:
    pending = PredictionFactory(image=lesion_image, pending=True)

    for _ in range(5):  # the page polls every 2 s while the analysis runs
        assert 'data-pending="1"' in _panel(clinician_client, lesion_image)
    assert reads_of(lesion_image) == []

    pending.status, pending.top_class, pending.probabilities = "done", "nv", {"nv": 0.9, "mel": 0.1}
    pending.save()
    assert "data-pending" not in _panel(clinician_client, lesion_image)  # the last poll of the page view
    (entry,) = reads_of(lesion_image)
    assert entry.actor == clinician


def test_an_outsider_polling_gets_404_and_no_audit_row(login: Any, outsider: Any, lesion_image: LesionImage) -> None:
    PredictionFactory(image=lesion_image, pending=True)

    response = login(outsider).get(reverse("lesion-image-analysis", args=[lesion_image.uuid]))

    assert response.status_code == 404
    assert reads_of(lesion_image) == []


def reads_of(image: LesionImage) -> list[LogEntry]:
    return list(LogEntry.objects.get_for_object(image).filter(action=LogEntry.Action.ACCESS))
