from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from lesions.idempotency import idempotency_keys_purge


class Command(BaseCommand):
    help = (
        "Delete API Idempotency-Keys older than IDEMPOTENCY_KEY_TTL_HOURS (or --hours). Celery beat runs "
        "the same every hour; without beat, run this from cron."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=float, default=None, help="age limit (default: the setting)")

    def handle(self, *args: Any, **options: Any) -> None:
        import datetime as dt

        hours = options["hours"] if options["hours"] is not None else settings.IDEMPOTENCY_KEY_TTL_HOURS
        if hours < 0:
            raise CommandError("--hours must be 0 or more")
        count = idempotency_keys_purge(dt.timedelta(hours=hours))
        self.stdout.write(f"Deleted {count} idempotency key(s) older than {hours:g} hours.")
