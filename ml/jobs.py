"""One job machine for every background job (an analysis, an outline): the row's states and its moves.

A job row is ``pending`` when made, ``running`` once a worker claims it with a conditional
``UPDATE ... WHERE status = 'pending'`` (or a claim older than twice the task's time limit: that
worker died), then finished (``done``, ``failed``, or a state of the job's own). A claimed job is
given back (``release``) before a retry, and ``fail`` records a readable reason. ``stuck()`` is
what the periodic sweep queues again. Tasks only fetch the id and call ``run_job``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, ClassVar, Self

from django.conf import settings
from django.db import models
from django.db.models import F, Q, QuerySet
from django.utils import timezone


def stale_running_before() -> timedelta:
    """How long a claimed job may run: a worker still at it after twice the task's hard time limit has died
    (killed, machine lost), and the row may be taken over."""
    return timedelta(seconds=settings.ML_PREDICTION_TIME_LIMIT * 2)


class Job(models.Model):
    """The fields and moves every background job shares; each job names its own ``Status`` (at least these)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    # The states after which nothing more happens to the row.
    FINISHED: ClassVar[tuple[str, ...]] = ("done", "failed")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    failure_reason = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @classmethod
    def claim(cls, pk: int) -> bool:
        """Move the job from pending (or a stale running claim) to running; False if another worker has it."""
        now = timezone.now()
        claimed = cls._default_manager.filter(
            Q(status="pending") | Q(status="running", started_at__lt=now - stale_running_before()),
            pk=pk,
        ).update(status="running", started_at=now, attempts=F("attempts") + 1, updated_at=now)
        return claimed == 1

    @classmethod
    def release(cls, pk: int) -> None:
        """Give a claimed job back (before a retry)."""
        cls._default_manager.filter(pk=pk, status="running").update(status="pending", updated_at=timezone.now())

    @classmethod
    def fail(cls, pk: int, reason: str) -> None:
        """Mark an unfinished job failed with a readable reason (a finished one keeps its result)."""
        now = timezone.now()
        cls._default_manager.filter(pk=pk).exclude(status__in=cls.FINISHED).update(
            status="failed", failure_reason=reason[:2000], finished_at=now, updated_at=now
        )

    @classmethod
    def stuck(cls) -> QuerySet[Self]:
        """Jobs pending longer than ``ML_PREDICTION_STUCK_AFTER`` (a lost message) or running on a dead worker."""
        now = timezone.now()
        return cls._default_manager.filter(
            Q(status="pending", updated_at__lt=now - timedelta(seconds=settings.ML_PREDICTION_STUCK_AFTER))
            | Q(status="running", started_at__lt=now - stale_running_before())
        )


def requeue(jobs: QuerySet[Any], send: Callable[[int], None]) -> int:
    """Send every job of ``jobs`` to the broker again; how many."""
    count = 0
    for pk in jobs.values_list("pk", flat=True):
        send(pk)
        count += 1
    return count
