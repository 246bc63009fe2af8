"""``manage.py restore DIR``: replace the database's content and MEDIA_ROOT's files with a backup's.

Every sum is checked before anything changes; ``--check`` stops there. See ``operations.backup``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from operations.backup import BackupError, backup_restore, backup_verify


class Command(BaseCommand):
    help = "Restore a backup made by `manage.py backup`: the database's content is replaced, the files written."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("folder", type=Path, help="a folder written by `manage.py backup`")
        parser.add_argument("--check", action="store_true", help="only verify the backup; change nothing")
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive")

    def handle(self, *args: Any, folder: Path, check: bool, interactive: bool, **options: Any) -> None:
        try:
            manifest = backup_verify(folder=folder)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        rows, files = sum(manifest["rows"].values()), len(manifest["files"])
        self.stdout.write(f"{folder}: intact, {rows} rows and {files} files, made {manifest['created_at']}.")
        if check:
            return
        if interactive:
            answer = input(
                f"This replaces every row of the database {connection.settings_dict['NAME']!r} and writes "
                f"{files} files into {settings.MEDIA_ROOT}. Type 'yes' to go on: "
            )
            if answer != "yes":
                raise CommandError("Restore cancelled.")
        try:
            summary = backup_restore(folder=folder)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Restored {summary.rows} rows ({summary.database_format}) and {summary.files} files.")
        if summary.other_files:
            self.stdout.write(
                f"{summary.other_files} files in MEDIA_ROOT that the backup does not hold were left in place."
            )
