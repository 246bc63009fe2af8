"""What a backup's ``manifest.json`` must hold, checked with a JSON Schema before any of it is used.

Every problem is told by its place in the manifest (``database.sha256: ... is a required
property``), so that a damaged or hand-made manifest gives a message, never a ``KeyError``.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from operations.backup_keys import ENCRYPTION_ALGORITHM, BackupError

FORMAT_VERSION = 2
MANIFEST = "manifest.json"
PG_DUMP = "database.pgdump"
JSON_DUMP = "database.json"

_SHA256 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_KEY_ID = {"type": "string", "pattern": "^[0-9a-f]{32}$"}
_COUNT = {"type": "integer", "minimum": 0}
_FILE = {
    "type": "object",
    "required": ["sha256", "bytes"],
    "properties": {"sha256": _SHA256, "bytes": _COUNT},
    "additionalProperties": False,
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [
        "format",
        "created_at",
        "installation",
        "database",
        "migrations",
        "rows",
        "files",
        "missing_files",
        "encryption",
        "signature",
    ],
    "properties": {
        "format": {"const": FORMAT_VERSION},
        "created_at": {"type": "string", "minLength": 1},
        "installation": _KEY_ID,
        "database": {
            "type": "object",
            "required": ["engine", "format", "file", "sha256", "bytes"],
            "properties": {
                "engine": {"type": "string"},
                "format": {"enum": ["pg_dump", "django-json"]},
                "file": {"enum": [PG_DUMP, JSON_DUMP]},
                "sha256": _SHA256,
                "bytes": _COUNT,
            },
            "additionalProperties": False,
        },
        "migrations": {"type": "array", "items": {"type": "string", "pattern": r"^[\w]+\.[\w]+$"}},
        "rows": {"type": "object", "additionalProperties": _COUNT},
        "files": {"type": "object", "additionalProperties": _FILE},
        "missing_files": {"type": "array", "items": {"type": "string"}},
        "excluded": {"type": "array", "items": {"type": "string"}},
        "encryption": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["algorithm", "key_id"],
                    "properties": {"algorithm": {"const": ENCRYPTION_ALGORITHM}, "key_id": _KEY_ID},
                    "additionalProperties": False,
                },
            ]
        },
        "signature": _SHA256,
    },
    "additionalProperties": False,
}

_VALIDATOR = Draft202012Validator(SCHEMA)


def manifest_check(document: Any, *, where: str) -> dict[str, Any]:
    """``document`` if it is a signed manifest of this format; BackupError naming each problem otherwise."""
    if not isinstance(document, dict):
        raise BackupError(f"{where} is not a backup manifest (a JSON object).")
    if document.get("format") == 1 or "signature" not in document:
        raise BackupError(
            f"{where} is not signed: restore refuses unsigned backups (those made before backups were "
            "signed, or a manifest whose signature was removed). Make a new backup."
        )
    problems = []
    for error in sorted(_VALIDATOR.iter_errors(document), key=lambda e: [str(p) for p in e.absolute_path]):
        place = ".".join(str(part) for part in error.absolute_path) or "the manifest"
        message = error.message if len(error.message) <= 200 else error.message[:200] + "…"
        problems.append(f"{place}: {message}")
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise BackupError(f"{where} is not a valid backup manifest, nothing was restored: {shown}.")
    return document
