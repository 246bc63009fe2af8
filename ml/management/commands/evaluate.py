"""``manage.py evaluate``: measure a shipped model (or an ensemble) on labelled images."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from ml.engine.data import DataError
from ml.engine.manifest import ManifestError


class Command(BaseCommand):
    help = (
        "Evaluate a model on the images listed in a HAM10000-style metadata CSV and print a table "
        "(--json FILE also writes the report and a confusion-matrix PNG beside it; --json - prints JSON)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from ml.engine.evaluation.evaluate import add_arguments

        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        from ml.engine.evaluation.evaluate import run_from_args
        from ml.services import manifest_path_by_name

        try:
            # Without --model: the analysis the app runs by default.
            options["model"] = [str(manifest_path_by_name(name)) for name in options["model"] or [None]]
            run_from_args(argparse.Namespace(**options), out=self.stdout)
        except (ManifestError, DataError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
