"""``manage.py backup DIR``: the database and every stored file into a new folder, signed, with sha256 sums.

See ``operations.backup`` for what the folder holds, and the README ("Backups") for the procedure
and the keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from operations.backup import BackupError, backup_create


class Command(BaseCommand):
    help = (
        "Back up the database (pg_dump on PostgreSQL, Django's dump otherwise) and MEDIA_ROOT into a new "
        "folder, signed with BACKUP_SIGNING_KEY and, with a key, encrypted."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("folder", type=Path, help="a folder that does not exist yet (or is empty)")
        parser.add_argument(
            "--encrypt-to",
            type=Path,
            metavar="KEYFILE",
            help="encrypt the dump and every file with the key in KEYFILE [BACKUP_ENCRYPTION_KEY]",
        )

    def handle(self, *args: Any, folder: Path, encrypt_to: Path | None, **options: Any) -> None:
        try:
            summary = backup_create(folder=folder, encrypt_to=encrypt_to)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        for name in summary.missing_files:
            self.stderr.write(f"warning: {name} is named by a record but was already missing from storage")
        encrypted = ", signed and encrypted," if summary.encrypted else ", signed,"
        self.stdout.write(
            f"Backed up {summary.rows} rows ({summary.database_format}) and {summary.files} files into "
            f"{summary.folder}{encrypted} without sessions, API tokens or login lockouts; check it any time "
            f"with `manage.py restore --check {summary.folder}`."
        )
