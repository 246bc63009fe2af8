"""``manage.py backup_key FILE``: a new random key for signing or encrypting backups (README, "Backups")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from operations.backup_keys import BackupError, key_new


class Command(BaseCommand):
    help = "Write a new random backup key (32 bytes, base64) into a new file of mode 0600."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("file", type=Path, help="a file that does not exist yet")

    def handle(self, *args: Any, file: Path, **options: Any) -> None:
        try:
            key_id = key_new(file)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Wrote a new backup key into {file} (id {key_id}). Keep a copy where the backups are not: "
            "whoever holds it can sign (or read) backups."
        )
