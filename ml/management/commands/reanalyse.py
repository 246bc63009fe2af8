from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ml.models import ModelVersion
from ml.services import predictions_queue_missing


class Command(BaseCommand):
    help = "Queue an analysis by the given model for every photo that has none by it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--model", required=True, help="model version name")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            version = ModelVersion.objects.get(name=options["model"], is_active=True)
        except ModelVersion.DoesNotExist as exc:
            names = ", ".join(ModelVersion.objects.filter(is_active=True).values_list("name", flat=True))
            raise CommandError(f"no active model named {options['model']!r} (active: {names or 'none'})") from exc
        count = predictions_queue_missing(version=version)
        self.stdout.write(f"Queued {count} photo(s) for analysis by {version.name}.")
