"""Analysis through a real `celery worker` process on Redis and PostgreSQL (run by .ci/run)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.urls import reverse

from config.celery import app as celery_app
from ml.models import LesionOutline, Prediction
from tests.helpers import sample_photo, upload_visit, write_random_segmenter
from tests.ml.workers import Worker, running_worker, skip_without_services, wait_until_finished

BASE_DIR = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker(tiny_weights_dir: Path, tmp_path: Path) -> Iterator[Worker]:
    """A real worker process on the test database, media folder and tiny model."""
    skip_without_services()
    celery_app.control.purge()
    with running_worker(tiny_weights_dir, tmp_path / "worker.log") as process:
        yield process


@pytest.fixture
def outlining_worker(tiny_weights_dir: Path, request: pytest.FixtureRequest) -> Worker:
    """``worker``, with a real (random) segmentation model beside the tiny model when it starts."""
    write_random_segmenter(tiny_weights_dir)
    return request.getfixturevalue("worker")


def test_a_real_worker_analyses_an_uploaded_photo(client, clinician, lesion, worker, not_eager):
    client.force_login(clinician)
    response = upload_visit(client, lesion, sample_photo())
    assert response.status_code == 302

    pending = Prediction.objects.get()
    finished = wait_until_finished(pending.pk)
    assert finished.status == Prediction.Status.DONE, finished.failure_reason
    assert finished.attempts == 1
    assert Path(finished.heatmap.path).is_file()

    page = client.get(reverse("lesion-detail", args=[lesion.uuid])).content.decode()
    assert reverse("prediction-heatmap", args=[finished.uuid]) in page


def test_a_task_delivered_twice_runs_the_analysis_once(client, clinician, lesion, worker, not_eager):
    from ml.tasks import prediction_run_task

    client.force_login(clinician)
    upload_visit(client, lesion, sample_photo())
    prediction = Prediction.objects.get()
    prediction_run_task.delay(prediction.pk)  # a duplicate delivery
    finished = wait_until_finished(prediction.pk)
    time.sleep(2)  # let the duplicate be processed too
    finished.refresh_from_db()
    assert finished.status == Prediction.Status.DONE
    assert finished.attempts == 1


def test_a_real_worker_outlines_the_photo_in_the_analysis_task(client, clinician, lesion, outlining_worker, not_eager):
    client.force_login(clinician)
    upload_visit(client, lesion, sample_photo())

    finished = wait_until_finished(Prediction.objects.get().pk)
    assert finished.status == Prediction.Status.DONE, finished.failure_reason
    outline = LesionOutline.objects.get(image=finished.image)
    deadline = time.monotonic() + 60
    while not outline.is_finished and time.monotonic() < deadline:  # stored right after the prediction
        time.sleep(0.2)
        outline.refresh_from_db()
    assert outline.status in {LesionOutline.Status.DONE, LesionOutline.Status.NO_LESION}, outline.failure_reason
    assert outline.segmenter_name == "random_unet" and outline.attempts == 1
