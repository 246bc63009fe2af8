from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from ml.tasks import predictions_requeue_stuck


class Command(BaseCommand):
    help = (
        "Queue again predictions stuck in pending (lost message, broker was down) or running on a dead "
        "worker. Celery beat runs the same every minute; without beat, run this from cron."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        count = predictions_requeue_stuck()
        self.stdout.write(f"Re-queued {count} stuck prediction(s).")
