"""Follow-up's jobs go to their own queue, so they never hold up the analyses; stuck ones are swept."""

from __future__ import annotations

from typing import Any

from config.celery import app
from followup import tasks
from followup.models import PhotoAlignment


def queue_of(task_name: str) -> str:
    return str(app.amqp.router.route({}, task_name)["queue"].name)


def test_alignments_have_a_queue_of_their_own() -> None:
    assert queue_of("followup.tasks.alignment_run_task") == "followup"
    assert queue_of("ml.tasks.prediction_run_task") == "analysis"


def test_a_pending_alignment_left_behind_is_queued_again(lesion_image: Any, settings: Any, monkeypatch: Any) -> None:
    settings.ML_PREDICTION_STUCK_AFTER = 0
    row = PhotoAlignment.objects.create(photo=lesion_image, reference=lesion_image)
    sent: list[int] = []
    monkeypatch.setattr(tasks, "alignment_send", sent.append)
    assert tasks.alignments_requeue_stuck() == 1 and sent == [row.pk]
