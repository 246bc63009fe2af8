"""``manage.py benchmark``: ``python -m benchmarks`` with the end-to-end part on unless skipped.

python manage.py benchmark [--skip-end-to-end] [benchmark options: --weights-dir, --images, ...]
"""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from benchmarks import engine


class Command(BaseCommand):
    help = "Benchmark the analysis: engine latency, throughput, FLOP floor, memory, drift and upload-to-finished."

    def add_arguments(self, parser: Any) -> None:
        engine.add_arguments(parser)
        parser.add_argument("--skip-end-to-end", action="store_true", help="only the engine parts")

    def handle(self, *args: Any, **options: Any) -> None:
        namespace = argparse.Namespace(**options)
        namespace.end_to_end = namespace.end_to_end or not options["skip_end_to_end"]
        report = engine.run(namespace)
        if options["strict"] and not all(v.passed for v in report.verdicts):
            raise CommandError("some targets failed")
