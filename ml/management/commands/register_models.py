from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ml.services import model_versions_sync


class Command(BaseCommand):
    help = "Register the manifests in ML_WEIGHTS_DIR as model versions (also done on migrate)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--default", help="name of the model to mark default")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            versions = model_versions_sync(default=options["default"])
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        if not versions:
            self.stdout.write(self.style.WARNING(f"No manifests in {settings.ML_WEIGHTS_DIR}."))
        for version in versions:
            version.refresh_from_db()
            flag = (
                " (default)"
                if version.is_default
                else ""
                if version.is_active
                else " (inactive: not in ML_ACTIVE_MODELS)"
            )
            self.stdout.write(f"{version.name}{flag}: {version.architecture}, test accuracy {version.test_accuracy}")
