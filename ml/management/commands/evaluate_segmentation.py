"""``manage.py evaluate_segmentation``: score a shipped segmentation model against ground-truth masks."""

from __future__ import annotations

import argparse
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ml.engine.data import DataError
from ml.engine.manifest import ManifestError


class Command(BaseCommand):
    help = (
        "Segment the photos in --images as the app does and print mean Dice, mean Jaccard and the ISIC 2018 "
        "threshold Jaccard against the masks in --masks (--json FILE also writes the report; --json - prints it)."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from ml.engine.evaluation.segmentation import add_arguments

        add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        from ml.engine.evaluation.segmentation import run_from_args

        try:
            run_from_args(argparse.Namespace(**options), out=self.stdout, weights_dir=settings.ML_WEIGHTS_DIR)
        except (ManifestError, DataError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
