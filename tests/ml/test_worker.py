"""Analysis through a real `celery worker` process on Redis and PostgreSQL (run by .ci/run)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from clinic.celery import app as celery_app
from ml.models import Prediction
from tests.ml.conftest import sample_photo, upload_visit

BASE_DIR = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.services, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _why_no_services() -> str | None:
    if not os.environ.get("DERMATRACK_SERVICES"):
        return "needs DERMATRACK_SERVICES=1 with PostgreSQL and Redis (.ci/run sets it)"
    if connection.vendor != "postgresql":
        return "needs DATABASE_URL pointing at PostgreSQL"
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        return "needs CELERY_BROKER_URL pointing at Redis"
    return None


@pytest.fixture
def worker(tiny_weights_dir: Path, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real worker process on the test database, media folder and tiny model."""
    reason = _why_no_services()
    if reason:
        pytest.skip(reason)
    db = connection.settings_dict
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or "5432"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{host}:{port}/{db['NAME']}",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "ML_WEIGHTS_DIR": str(tiny_weights_dir),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "ML_TORCH_THREADS": "1",
    }
    name = f"test-{uuid.uuid4().hex[:8]}@localhost"
    celery_app.control.purge()
    log = (tmp_path / "worker.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "clinic", "worker", "-Q", "analysis", "-c", "1", "-n", name,
         "--without-gossip", "--without-mingle", "-l", "INFO"],
        cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        while not celery_app.control.ping(destination=[name], timeout=1.0):
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(f"celery worker did not start:\n{(tmp_path / 'worker.log').read_text()[-3000:]}")
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture
def not_eager() -> Iterator[None]:
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = False
    yield
    celery_app.conf.task_always_eager = previous


def wait_until_finished(prediction_id: int, timeout: float = 90) -> Prediction:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prediction = Prediction.objects.get(pk=prediction_id)
        if prediction.is_finished:
            return prediction
        time.sleep(0.25)
    raise AssertionError(f"prediction {prediction_id} still {prediction.status} after {timeout} s")


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
