"""Celery tasks: thin wrappers that take a job's id and call its service; how jobs are queued and swept.

Both jobs (an analysis, ``Prediction``; an outline on its own, ``LesionOutline``) run through
``run_job``: a transient database error gives the claim back and retries with back-off; a
time limit or any other error marks the row failed with a readable reason (the job machine is
``ml.jobs.Job``). ``prediction_send`` and ``outline_send`` are the one place each hands a job to
the broker; a broker that is down leaves the row pending, and the periodic sweep queues it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task, shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, InterfaceError, OperationalError

from ml import analysis, outlines
from ml.jobs import Job, requeue
from ml.models import LesionOutline, Prediction

logger = logging.getLogger(__name__)

TRANSIENT_ERRORS = (OperationalError, InterfaceError, MemoryError)
JOB_TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "max_retries": 3,
    "soft_time_limit": settings.ML_PREDICTION_TIME_LIMIT,
    "time_limit": settings.ML_PREDICTION_TIME_LIMIT + 30,
}


def run_job(task: Task, job: type[Job], job_id: int, run: Callable[[int], Job | None], what: str) -> str:
    """Run one job's service; the task's answer is the job's status, or "skipped" when another worker had it."""
    try:
        done = run(job_id)
    except SoftTimeLimitExceeded:
        job.fail(job_id, f"The {what} took longer than {settings.ML_PREDICTION_TIME_LIMIT} s and was stopped.")
        return "failed"
    except TRANSIENT_ERRORS as exc:
        if task.request.retries < (task.max_retries or 0):
            job.release(job_id)
            raise task.retry(exc=exc, countdown=2 ** (task.request.retries + 1)) from exc
        job.fail(job_id, f"Gave up after retries: {exc}")
        return "failed"
    except DatabaseError:
        raise
    except Exception as exc:
        logger.exception("%s %s failed", what, job_id)
        job.fail(job_id, f"Unexpected error: {exc}")
        return "failed"
    return "skipped" if done is None else str(done.status)


@shared_task(**JOB_TASK_OPTIONS)  # type: ignore[untyped-decorator]  # celery ships no type hints
def prediction_run_task(self: Task, prediction_id: int) -> str:
    return run_job(self, Prediction, prediction_id, lambda pk: analysis.prediction_run(prediction_id=pk), "analysis")


@shared_task(**JOB_TASK_OPTIONS)  # type: ignore[untyped-decorator]  # celery ships no type hints
def outline_run_task(self: Task, outline_id: int) -> str:
    """Outline one photo on its own: photos no analysis task outlines (no classifier, backfill)."""
    return run_job(self, LesionOutline, outline_id, lambda pk: outlines.outline_run(outline_id=pk), "outline")


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)  # type: ignore[untyped-decorator]  # celery ships no type hints
def sweep_stuck_predictions_task() -> int:
    """Periodic (Celery beat): queue again predictions and outlines stuck in pending or running."""
    count = predictions_requeue_stuck()
    if count:
        logger.warning("re-queued %s stuck prediction(s)", count)
    outline_count = outlines_requeue_stuck()
    if outline_count:
        logger.warning("re-queued %s stuck outline(s)", outline_count)
    return count + outline_count


def send_job(task: Any, job_id: int, what: str) -> None:
    """Hand one job to the broker; a broker that is down leaves the row pending for the sweep."""
    try:
        task.delay(job_id)
    except Exception:  # the broker is down: the row stays pending and the sweep re-queues it
        logger.exception("could not queue %s %s; it stays pending", what, job_id)


def prediction_send(prediction_id: int) -> None:
    """Queue the analysis of a prediction now (callers that create one wait for the commit)."""
    send_job(prediction_run_task, prediction_id, "analysis of prediction")


def outline_send(outline_id: int) -> None:
    """Queue the outline of a photo on its own now (callers that create one wait for the commit)."""
    send_job(outline_run_task, outline_id, "outline")


def predictions_requeue_stuck() -> int:
    """Queue again predictions left pending (lost message, broker down) or running on a dead worker."""
    return requeue(Prediction.stuck(), prediction_send)


def outlines_requeue_stuck() -> int:
    """Queue again outlines left pending (no analysis task of their photo to come) or running on a dead worker.

    A pending outline whose photo still has a pending or running prediction is that task's to make.
    """
    unfinished = Prediction.objects.filter(status__in=[Prediction.Status.PENDING, Prediction.Status.RUNNING])
    stuck = LesionOutline.stuck().exclude(status=LesionOutline.Status.PENDING, image__in=unfinished.values("image_id"))
    return requeue(stuck, outline_send)
