"""``manage.py restore DIR``: replace the database's content and MEDIA_ROOT's files with a backup's.

The signature and every sum are checked before anything changes; ``--check`` stops there. See
``operations.backup``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from operations import backup_postgres
from operations.backup import BackupError, backup_restore, backup_verify


class Command(BaseCommand):
    help = "Restore a backup made by `manage.py backup`: the database's content is replaced, the files written."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("folder", type=Path, help="a folder written by `manage.py backup`")
        parser.add_argument("--check", action="store_true", help="only verify the backup; change nothing")
        parser.add_argument("--noinput", "--no-input", action="store_false", dest="interactive")
        parser.add_argument(
            "--trust-key",
            type=Path,
            metavar="KEYFILE",
            help="accept a backup signed by the key in KEYFILE instead of BACKUP_SIGNING_KEY (another "
            "installation's, or a key since rotated)",
        )
        parser.add_argument(
            "--decrypt-with",
            type=Path,
            metavar="KEYFILE",
            help="the key file an encrypted backup was made with [BACKUP_ENCRYPTION_KEY]",
        )
        parser.add_argument(
            "--role",
            help="PostgreSQL: the app's own (non-superuser) role, which will own what is restored",
        )

    def handle(
        self,
        *args: Any,
        folder: Path,
        check: bool,
        interactive: bool,
        trust_key: Path | None,
        decrypt_with: Path | None,
        role: str | None,
        **options: Any,
    ) -> None:
        try:
            manifest = backup_verify(folder=folder, trusted_key=trust_key)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        rows, files = sum(manifest["rows"].values()), len(manifest["files"])
        encrypted = "encrypted, " if manifest["encryption"] else ""
        self.stdout.write(
            f"{folder}: intact and signed, {encrypted}{rows} rows and {files} files, made {manifest['created_at']}."
        )
        if check:
            return
        if manifest["database"]["format"] == "pg_dump" and not role and backup_postgres.connected_as_superuser():
            self.stderr.write(
                "warning: restoring as a PostgreSQL superuser; name the app's own role with --role "
                "(or connect as it) so that nothing restored runs or is owned with a superuser's rights"
            )
        if interactive:
            answer = input(
                f"This replaces every row of the database {connection.settings_dict['NAME']!r} and writes "
                f"{files} files into {settings.MEDIA_ROOT}; everyone will have to log in again. "
                "Type 'yes' to go on: "
            )
            if answer != "yes":
                raise CommandError("Restore cancelled.")
        try:
            summary = backup_restore(folder=folder, trusted_key=trust_key, decrypt_with=decrypt_with, role=role)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Restored {summary.rows} rows ({summary.database_format}) and {summary.files} files; "
            "sessions, API tokens and login lockouts are empty."
        )
        if summary.other_files:
            self.stdout.write(
                f"{summary.other_files} files in MEDIA_ROOT that the backup does not hold were left in place."
            )
