"""Faults survived with real workers: a worker killed mid-analysis, a broker that goes away."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from config.celery import app as celery_app
from ml.models import Prediction
from ml.tasks import predictions_requeue_stuck
from tests.helpers import sample_photo, upload_visit
from tests.ml.workers import (
    RedisServer,
    Worker,
    running_worker,
    skip_without_services,
    use_broker,
    wait_until_finished,
)

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

TIME_LIMIT = 4  # seconds: a running claim older than twice this is taken over by the sweep


def wait_for_status(prediction_id: int, status: str, timeout: float = 60) -> Prediction:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prediction = Prediction.objects.get(pk=prediction_id)
        if prediction.status == status:
            return prediction
        time.sleep(0.02)
    raise AssertionError(f"prediction {prediction_id} never reached {status} (is {prediction.status})")


def heatmap_files(media_root: Path, prediction: Prediction) -> list[Path]:
    return sorted((media_root / "heatmaps").glob(f"{prediction.uuid}*"))


def test_a_worker_killed_mid_analysis_is_recovered_and_completes_once(
    client, clinician, lesion, tiny_weights_dir, tmp_path, settings, not_eager
):
    skip_without_services()
    settings.ML_PREDICTION_TIME_LIMIT = TIME_LIMIT
    limit = {"ML_PREDICTION_TIME_LIMIT": str(TIME_LIMIT)}
    celery_app.control.purge()
    with running_worker(tiny_weights_dir, tmp_path / "first.log", **limit) as first:
        client.force_login(clinician)
        upload_visit(client, lesion, sample_photo())
        prediction = Prediction.objects.get()
        # The first analysis in a worker loads the model first, which leaves time to kill it mid-way.
        wait_for_status(prediction.pk, Prediction.Status.RUNNING)
        first.kill()
    prediction.refresh_from_db()
    assert prediction.status == Prediction.Status.RUNNING, "analysis finished before the kill"

    with running_worker(tiny_weights_dir, tmp_path / "second.log", **limit):
        assert predictions_requeue_stuck() == 0  # the dead worker's claim is not stale yet
        time.sleep(2 * TIME_LIMIT + 0.5)
        assert predictions_requeue_stuck() == 1  # the sweep (Celery beat, or cron) takes it over

        finished = wait_until_finished(prediction.pk)
        assert finished.status == Prediction.Status.DONE, finished.failure_reason
        assert finished.attempts == 2
        time.sleep(1)
        assert predictions_requeue_stuck() == 0
        finished.refresh_from_db()
        assert finished.attempts == 2  # completed exactly once: nothing ran it again
        assert [p.name for p in heatmap_files(settings.MEDIA_ROOT, finished)] == [
            f"{finished.uuid}.png",
            f"{finished.uuid}_cam.png",
        ]


def test_an_upload_while_the_broker_is_down_completes_once_it_is_back(
    client, clinician, lesion, tiny_weights_dir, tmp_path, settings, not_eager
):
    skip_without_services()
    settings.ML_PREDICTION_STUCK_AFTER = 0
    broker = RedisServer()
    broker.start()
    previous_url = celery_app.conf.broker_url
    use_broker(broker.url)
    worker = Worker(tiny_weights_dir, tmp_path / "worker.log", broker_url=broker.url)
    try:
        worker.wait_ready()
        broker.stop()

        client.force_login(clinician)
        started = time.monotonic()
        response = upload_visit(client, lesion, sample_photo())
        assert response.status_code == 302  # the upload itself succeeds
        assert time.monotonic() - started < 15
        prediction = Prediction.objects.get()
        assert prediction.status == Prediction.Status.PENDING

        broker.start()  # same port: the worker reconnects by itself
        use_broker(broker.url)  # and so does the web side, with fresh connections
        deadline = time.monotonic() + 90
        while Prediction.objects.get(pk=prediction.pk).status == Prediction.Status.PENDING:
            assert time.monotonic() < deadline, "prediction stayed pending after the broker came back"
            predictions_requeue_stuck()  # what the periodic sweep does
            time.sleep(3)
        finished = wait_until_finished(prediction.pk)
        assert finished.status == Prediction.Status.DONE, finished.failure_reason
    finally:
        worker.stop()
        broker.stop()
        use_broker(previous_url)
