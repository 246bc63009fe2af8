"""Celery tasks, thin wrappers that take an id and call ``ml.analysis``; and how they are queued.

``prediction_send`` is the one place that hands a prediction to the broker; a broker that is
down leaves the prediction pending, and the periodic sweep queues it again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError
from django.db.models import Q
from django.utils import timezone

from ml import analysis, outlines
from ml.models import LesionOutline, Prediction

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, InterfaceError, MemoryError)


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=3,
    soft_time_limit=settings.ML_PREDICTION_TIME_LIMIT,
    time_limit=settings.ML_PREDICTION_TIME_LIMIT + 30,
)
def prediction_run_task(self, prediction_id: int) -> str:
    try:
        prediction = analysis.prediction_run(prediction_id=prediction_id)
    except SoftTimeLimitExceeded:
        analysis.prediction_fail(
            prediction_id=prediction_id,
            reason=f"The analysis took longer than {settings.ML_PREDICTION_TIME_LIMIT} s and was stopped.",
        )
        return "failed"
    except TRANSIENT_ERRORS as exc:
        if self.request.retries < self.max_retries:
            analysis.prediction_release(prediction_id=prediction_id)
            raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc
        analysis.prediction_fail(prediction_id=prediction_id, reason=f"Gave up after retries: {exc}")
        return "failed"
    except DatabaseError:
        raise
    except Exception as exc:
        logger.exception("analysis of prediction %s failed", prediction_id)
        analysis.prediction_fail(prediction_id=prediction_id, reason=f"Unexpected error: {exc}")
        return "failed"
    return "skipped" if prediction is None else prediction.status


@shared_task(
    bind=True,
    acks_late=True,
    reject_on_worker_lost=True,
    max_retries=3,
    soft_time_limit=settings.ML_PREDICTION_TIME_LIMIT,
    time_limit=settings.ML_PREDICTION_TIME_LIMIT + 30,
)
def outline_run_task(self, outline_id: int) -> str:
    """Outline one photo on its own: photos no analysis task outlines (no classifier, backfill)."""
    try:
        outline = outlines.outline_run(outline_id=outline_id)
    except SoftTimeLimitExceeded:
        return "failed"  # outline_run recorded why
    except TRANSIENT_ERRORS as exc:
        if self.request.retries < self.max_retries:
            outlines.outline_release(outline_id=outline_id)
            raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc
        outlines.outline_fail(outline_id=outline_id, reason=f"Gave up after retries: {exc}")
        return "failed"
    return "skipped" if outline is None else outline.status


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def sweep_stuck_predictions_task() -> int:
    """Periodic (Celery beat): queue again predictions and outlines stuck in pending or running."""
    count = predictions_requeue_stuck()
    if count:
        logger.warning("re-queued %s stuck prediction(s)", count)
    outline_count = outlines_requeue_stuck()
    if outline_count:
        logger.warning("re-queued %s stuck outline(s)", outline_count)
    return count + outline_count


def prediction_send(prediction_id: int) -> None:
    """Queue the analysis of a prediction now (callers that create one wait for the commit)."""
    try:
        prediction_run_task.delay(prediction_id)
    except Exception:  # the broker is down: the row stays pending and the sweep re-queues it
        logger.exception("could not queue analysis of prediction %s; it stays pending", prediction_id)


def predictions_requeue_stuck() -> int:
    """Queue again predictions left pending (lost message, broker down) or running on a dead worker."""
    now = timezone.now()
    stuck = Prediction.objects.filter(
        Q(status=Prediction.Status.PENDING, updated_at__lt=now - timedelta(seconds=settings.ML_PREDICTION_STUCK_AFTER))
        | Q(status=Prediction.Status.RUNNING, started_at__lt=now - analysis.stale_running_before())
    )
    count = 0
    for prediction_id in stuck.values_list("pk", flat=True):
        prediction_send(prediction_id)
        count += 1
    return count


def outline_send(outline_id: int) -> None:
    """Queue the outline of a photo on its own now (callers that create one wait for the commit)."""
    try:
        outline_run_task.delay(outline_id)
    except Exception:  # the broker is down: the row stays pending and the sweep re-queues it
        logger.exception("could not queue outline %s; it stays pending", outline_id)


def outlines_requeue_stuck() -> int:
    """Queue again outlines left pending (no analysis task of their photo to come) or running on a dead worker.

    A pending outline whose photo still has a pending or running prediction is that task's to make.
    """
    now = timezone.now()
    unfinished = Prediction.objects.filter(status__in=[Prediction.Status.PENDING, Prediction.Status.RUNNING])
    waiting = Q(
        status=LesionOutline.Status.PENDING,
        updated_at__lt=now - timedelta(seconds=settings.ML_PREDICTION_STUCK_AFTER),
    ) & ~Q(image__in=unfinished.values("image_id"))
    abandoned = Q(status=LesionOutline.Status.RUNNING, started_at__lt=now - analysis.stale_running_before())
    stuck = LesionOutline.objects.filter(waiting | abandoned)
    count = 0
    for outline_id in stuck.values_list("pk", flat=True):
        outline_send(outline_id)
        count += 1
    return count
