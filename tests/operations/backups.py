"""Plain helpers of the backup tests: every row and file, the commands, a manifest re-signed as an attacker would."""

from __future__ import annotations

import hashlib
import json
from io import StringIO
from pathlib import Path
from typing import Any

from django.core.management import call_command

from operations.backup import backed_up_models
from operations.backup_keys import key_read, sign


def every_row() -> dict[str, list[dict[str, Any]]]:
    return {model._meta.label: list(model._base_manager.order_by("pk").values()) for model in backed_up_models()}


def every_file(root: Path) -> dict[str, str]:
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def backup(folder: Path, *options: str) -> str:
    out = StringIO()
    call_command("backup", str(folder), *options, stdout=out, stderr=out)
    return out.getvalue()


def restore(folder: Path, *options: str) -> str:
    out = StringIO()
    call_command("restore", str(folder), *options, stdout=out, stderr=out)
    return out.getvalue()


def manifest_of(folder: Path) -> dict[str, Any]:
    return dict(json.loads((folder / "manifest.json").read_text()))


def manifest_write(folder: Path, manifest: dict[str, Any], *, signed_with: Path | None = None) -> None:
    """Write ``manifest`` back, its signature made anew with the key in ``signed_with`` if given."""
    if signed_with is not None:
        manifest["signature"] = sign(manifest, key_read(signed_with))
    (folder / "manifest.json").write_text(json.dumps(manifest))


def reseal(folder: Path, name: str) -> None:
    """Recompute the manifest's size and sum of the database dump or ``media/...`` file ``name``."""
    manifest = manifest_of(folder)
    path = folder / name
    entry = {"sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "bytes": path.stat().st_size}
    if name == manifest["database"]["file"]:
        manifest["database"].update(entry)
    else:
        manifest["files"][name.removeprefix("media/")] = entry
    manifest_write(folder, manifest)
