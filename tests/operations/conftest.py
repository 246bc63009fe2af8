"""Backup keys for the backup tests: each test signs with a key of its own, kept outside the backups."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from operations.backup_keys import key_new


@pytest.fixture(autouse=True)
def signing_key(settings: Any, tmp_path: Path) -> Path:
    """This installation's signing key file, as BACKUP_SIGNING_KEY names it."""
    folder = tmp_path / "keys"
    folder.mkdir()
    key_new(folder / "signing.key")
    settings.BACKUP_SIGNING_KEY = str(folder / "signing.key")
    settings.BACKUP_ENCRYPTION_KEY = ""
    return folder / "signing.key"


@pytest.fixture
def encryption_key(signing_key: Path) -> Path:
    key_new(signing_key.parent / "encryption.key")
    return signing_key.parent / "encryption.key"
