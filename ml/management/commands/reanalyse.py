from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ml.engine.manifest import ManifestError
from ml.models import ModelVersion
from ml.services import outlines_queue_missing, predictions_queue_missing


class Command(BaseCommand):
    help = (
        "Queue an analysis by the given model for every photo that has none by it; with --outlines, "
        "outline every photo that has no lesion outline."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--model", help="model version name")
        parser.add_argument(
            "--outlines",
            action="store_true",
            help="outline and measure every photo without an outline (with the installed segmentation model)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["model"] and not options["outlines"]:
            raise CommandError("say what to backfill: --model NAME, --outlines, or both")
        if options["model"]:
            try:
                version = ModelVersion.objects.get(name=options["model"], is_active=True)
            except ModelVersion.DoesNotExist as exc:
                names = ", ".join(ModelVersion.objects.filter(is_active=True).values_list("name", flat=True))
                raise CommandError(f"no active model named {options['model']!r} (active: {names or 'none'})") from exc
            count = predictions_queue_missing(version=version)
            self.stdout.write(f"Queued {count} photo(s) for analysis by {version.name}.")
        if options["outlines"]:
            try:
                count = outlines_queue_missing()
            except ManifestError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"Queued {count} photo(s) without an outline for outlining.")
