"""Periodic housekeeping of the lesions app (Celery beat; see CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task

from lesions.idempotency import idempotency_keys_purge


@shared_task(ignore_result=True, soft_time_limit=120, time_limit=180)  # type: ignore[untyped-decorator]  # celery ships no type hints
def purge_idempotency_keys_task() -> int:
    """Delete API Idempotency-Keys older than IDEMPOTENCY_KEY_TTL_HOURS."""
    return idempotency_keys_purge()
