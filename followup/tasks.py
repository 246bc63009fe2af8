"""Celery tasks of follow-up: thin wrappers that take an alignment's id and call ``followup.alignment``.

They run through ``ml.tasks.run_job`` (one job machine, one task runner): a transient database
error retries, a time limit or any other error marks the row failed with a readable reason.
After an alignment the lesion's flags are brought up to date.
"""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.db import transaction

from followup import alignment, flags_sync
from followup.models import PhotoAlignment
from lesions.models import Lesion, LesionImage
from ml.jobs import requeue
from ml.tasks import JOB_TASK_OPTIONS, run_job, send_job

logger = logging.getLogger(__name__)


def _align_then_sync(alignment_id: int) -> PhotoAlignment | None:
    done = alignment.photo_alignment_run(alignment_id=alignment_id)
    if done is not None:
        flags_sync.lesion_flags_sync(lesion=done.photo.lesion)
    return done


@shared_task(**JOB_TASK_OPTIONS)  # type: ignore[untyped-decorator]  # celery ships no type hints
def alignment_run_task(self: Task, alignment_id: int) -> str:
    return run_job(self, PhotoAlignment, alignment_id, _align_then_sync, "alignment")


@shared_task(ignore_result=True, soft_time_limit=60, time_limit=90)  # type: ignore[untyped-decorator]  # celery ships no type hints
def sweep_stuck_alignments_task() -> int:
    """Periodic (Celery beat): queue again alignments stuck in pending or running."""
    count = alignments_requeue_stuck()
    if count:
        logger.warning("re-queued %s stuck alignment(s)", count)
    return count


def alignments_queue(*, lesion: Lesion) -> int:
    """Create the lesion's missing alignments and queue each once the rows commit; how many."""
    with transaction.atomic():
        created = alignment.alignments_ensure(lesion=lesion)
    for alignment_id in created:
        transaction.on_commit(lambda pk=alignment_id: alignment_send(pk))  # type: ignore[misc]
    return len(created)


def alignment_for_pair(*, photo: LesionImage, reference: LesionImage) -> PhotoAlignment:
    """The alignment of two photos of a lesion, made (and queued once it commits) when there is none yet."""
    with transaction.atomic():
        row, created = PhotoAlignment.objects.get_or_create(
            photo=photo,
            reference=reference,
            defaults={"status": PhotoAlignment.Status.NOT_NEEDED, "quality": 1.0} if photo.pk == reference.pk else {},
        )
    if created and row.status == PhotoAlignment.Status.PENDING:
        transaction.on_commit(lambda: alignment_send(row.pk))
    return row


def alignment_send(alignment_id: int) -> None:
    """Queue one alignment now (callers that create one wait for the commit)."""
    send_job(alignment_run_task, alignment_id, "alignment")


def alignments_requeue_stuck() -> int:
    return requeue(PhotoAlignment.stuck(), alignment_send)
