"""``manage.py train``: train a HAM10000 classifier (a thin wrapper over ``ml.engine.training.train``)."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ml.engine.data import DataError


class Command(BaseCommand):
    help = "Train a classifier on a HAM10000-layout folder and write weights + manifest to ML_WEIGHTS_DIR."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        from ml.engine.training.config import build_parser

        # Reuse the engine's options so the two entry points cannot drift apart.
        for action in build_parser()._actions:
            if action.dest == "help":
                continue
            kwargs: dict[str, Any] = {"dest": action.dest, "help": action.help, "default": action.default}
            if action.nargs == 0:
                kwargs["action"] = "store_true"
            else:
                kwargs.update(type=action.type, nargs=action.nargs, choices=action.choices, metavar=action.metavar)
                kwargs["required"] = action.required
            parser.add_argument(*action.option_strings, **kwargs)

    def handle(self, *args: Any, **options: Any) -> None:
        from ml.engine.training.config import build_parser, config_from_args
        from ml.engine.training.train import train

        argv: list[str] = []
        for action in build_parser()._actions:
            if action.dest == "help" or options.get(action.dest) in (None, False):
                continue
            value = options[action.dest]
            if action.nargs == 0:
                argv.append(action.option_strings[-1])
            elif isinstance(value, list | tuple):
                argv += [action.option_strings[-1], *map(str, value)]
            else:
                argv += [action.option_strings[-1], str(value)]
        if not options.get("out_dir"):
            argv += ["--out-dir", str(settings.ML_WEIGHTS_DIR)]
        config = config_from_args(argv)
        config.command = shlex.join([sys.argv[0], "train", *argv])
        try:
            result = train(config)
        except (DataError, FileNotFoundError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"best epoch {result.best_epoch}; wrote {result.manifest_path} ({result.seconds / 60:.1f} min)"
        )
