"""Celery tasks: thin wrappers that take an id and call a service."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError

from ml import services

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
        prediction = services.prediction_run(prediction_id=prediction_id)
    except SoftTimeLimitExceeded:
        services.prediction_fail(
            prediction_id=prediction_id,
            reason=f"The analysis took longer than {settings.ML_PREDICTION_TIME_LIMIT} s and was stopped.",
        )
        return "failed"
    except TRANSIENT_ERRORS as exc:
        if self.request.retries < self.max_retries:
            services.prediction_release(prediction_id=prediction_id)
            raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc
        services.prediction_fail(prediction_id=prediction_id, reason=f"Gave up after retries: {exc}")
        return "failed"
    except DatabaseError:
        raise
    except Exception as exc:
        logger.exception("analysis of prediction %s failed", prediction_id)
        services.prediction_fail(prediction_id=prediction_id, reason=f"Unexpected error: {exc}")
        return "failed"
    return "skipped" if prediction is None else prediction.status


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)
def sweep_stuck_predictions_task() -> int:
    """Periodic (Celery beat): queue again predictions stuck in pending or running."""
    count = services.predictions_requeue_stuck()
    if count:
        logger.warning("re-queued %s stuck prediction(s)", count)
    return count
