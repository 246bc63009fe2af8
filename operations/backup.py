"""Backups that restore: the whole database and every stored file, signed, and encrypted when asked.

``backup_create`` writes into a new folder (mode 0700, every file 0600, whatever the umask):

- the database: on PostgreSQL ``database.pgdump`` (``pg_dump --format=custom``); on any other
  engine ``database.json`` (Django's ``dumpdata`` of every model, primary keys kept, times to the
  microsecond through ``operations.backup_json``). Either way it is one consistent snapshot, and
  the row count of every table is taken from that same snapshot (on PostgreSQL through a snapshot
  exported to ``pg_dump``). Sessions, API tokens and login lockouts are left out: a backup must not
  hold live credentials, and a restore must not bring back a token revoked since;
- ``media/``: every file under ``MEDIA_ROOT`` (photos, heatmaps, class maps, outlines) at its
  own path;
- ``manifest.json``, written last, so that a folder without it is an unfinished backup: the
  engine, the applied migrations, the row counts, the size and sha256 of every file, the
  installation's id, and an HMAC-SHA256 signature over all of it with ``BACKUP_SIGNING_KEY``
  (``operations.backup_keys``). With an encryption key (``--encrypt-to`` or
  ``BACKUP_ENCRYPTION_KEY``) the dump and every file are stored AES-256-GCM encrypted.

``backup_restore`` first checks the whole backup and changes nothing if anything is off: no link
or special file anywhere in it, a manifest of the right shape (``operations.backup_manifest``),
signed by this installation's key (or by the one ``--trust-key`` names), every sum and size,
paths that stay inside ``MEDIA_ROOT``, models and migrations this code knows, a dump this engine
can load; on PostgreSQL, a dump with no object the app's migrations do not create
(``operations.backup_postgres``). Then it replaces the database's content with the dump's in one
transaction that also checks the row counts and empties sessions, tokens and lockouts (``flush``
+ ``loaddata`` with auditlog off so that restoring writes no audit rows; on PostgreSQL
``pg_restore``'s SQL run by ``psql --single-transaction``), writes the files into ``MEDIA_ROOT``
and applies any migration newer than the backup. The code is the app's, not a library's: what to
copy (every FileField's storage and every model) and how to prove a restore complete is this
project's own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, cast

from auditlog.context import disable_auditlog
from cryptography.exceptions import InvalidTag
from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.core.management import call_command
from django.db import connection, models, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from operations import backup_json, backup_keys, backup_postgres
from operations.backup_keys import BackupError as BackupError
from operations.backup_manifest import FORMAT_VERSION, JSON_DUMP, MANIFEST, PG_DUMP, manifest_check

MEDIA_FOLDER = "media"
# Live credentials: never in a backup, emptied by a restore (sessions, knox tokens, axes lockouts).
LEFT_OUT_APPS = ("sessions", "knox", "axes")


@dataclass(frozen=True)
class BackupSummary:
    folder: Path
    database_format: str
    rows: int
    files: int
    missing_files: list[str]  # named by a row but absent from storage when the backup was made
    other_files: int = 0  # on restore: files already in MEDIA_ROOT that the backup does not hold
    encrypted: bool = False


# --- the pieces ----------------------------------------------------------------------------


def sha256_of(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def intact(path: Path, expected: dict[str, Any]) -> bool:
    """Whether ``path`` is a file of the manifest's size and sha256."""
    return path.is_file() and path.stat().st_size == expected["bytes"] and sha256_of(path) == expected["sha256"]


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def all_models() -> list[type[models.Model]]:
    """Every table the app's models own, many-to-many tables included."""
    return [
        model
        for model in apps.get_models(include_auto_created=True)
        if model._meta.managed and not model._meta.proxy and not model._meta.swapped
    ]


def backed_up_models() -> list[type[models.Model]]:
    return [model for model in all_models() if model._meta.app_label not in LEFT_OUT_APPS]


def left_out_models() -> list[type[models.Model]]:
    return [model for model in all_models() if model._meta.app_label in LEFT_OUT_APPS]


def row_counts(labels: list[str] | None = None) -> dict[str, int]:
    """Rows per model (``app_label.Model``): of every backed-up model, or of those named."""
    chosen = backed_up_models() if labels is None else [apps.get_model(label) for label in labels]
    return {model._meta.label: model._base_manager.count() for model in chosen}


def applied_migrations() -> list[str]:
    return sorted(f"{app}.{name}" for app, name in MigrationRecorder(connection).applied_migrations())


def referenced_files() -> set[str]:
    """The stored names in every FileField of every row."""
    names: set[str] = set()
    for model in all_models():
        for field in model._meta.concrete_fields:
            if isinstance(field, models.FileField):
                names.update(n for n in model._base_manager.values_list(field.attname, flat=True) if n)
    return names


def media_files(root: Path) -> list[str]:
    """Relative POSIX paths of the regular files under ``root`` (links are not followed)."""
    if not root.is_dir():
        return []
    found = []
    for folder, _, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            if path.is_file() and not path.is_symlink():
                found.append(path.relative_to(root).as_posix())
    return sorted(found)


def inside(root: Path, relative: str) -> Path:
    """``root / relative``, refusing a name that would leave ``root`` (a tampered manifest)."""
    pure = PurePosixPath(relative)
    if not relative or pure.is_absolute() or ".." in pure.parts or "\\" in relative:
        raise BackupError(f"The manifest names a file outside the media folder: {relative!r}.")
    path = root.joinpath(*pure.parts)
    if not path.resolve().is_relative_to(root.resolve()):
        raise BackupError(f"The manifest names a file outside the media folder: {relative!r}.")
    return path


def private_folder(path: Path) -> None:
    """``path`` and the folders between it and its first existing parent, mode 0700 whatever the umask."""
    missing = [path, *(parent for parent in path.parents if not parent.exists())]
    for folder in reversed(missing):
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)


def copy_file(source: Path, target: Path, *, mode: int | None = 0o600) -> str:
    """Copy ``source`` to ``target`` through a temporary name; returns the sha256 of what was copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with source.open("rb") as src, tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as dst:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    if mode is not None:
        os.chmod(dst.name, mode)
    os.replace(dst.name, target)
    return digest.hexdigest()


def links_and_special_files(folder: Path) -> list[str]:
    """What in ``folder`` is neither a regular file nor a folder (links are not followed)."""
    found = []
    for parent, folders, files in os.walk(folder):
        for name in [*folders, *files]:
            path = Path(parent) / name
            mode = path.lstat().st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                found.append(path.relative_to(folder).as_posix())
    return sorted(found)


# --- backup --------------------------------------------------------------------------------


def _dump_database(target_folder: Path) -> tuple[str, Path, dict[str, int], list[str]]:
    """Dump the database into a file of ``target_folder``: (format, file, row counts, applied migrations)."""
    if is_postgresql():
        target = target_folder / PG_DUMP
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute("SELECT pg_export_snapshot()")
                (snapshot,) = cursor.fetchone()
            counts, migrations = row_counts(), applied_migrations()
            # pg_dump reads the same snapshot while this transaction holds it open.
            left_out = [model._meta.db_table for model in left_out_models()]
            backup_postgres.dump_snapshot(target, snapshot=snapshot, without_data=left_out)
        return "pg_dump", target, counts, migrations
    target = target_folder / JSON_DUMP
    serializers.register_serializer(backup_json.FORMAT, backup_json.__name__)
    backup_keys.private_file(target).close()
    with transaction.atomic():
        counts, migrations = row_counts(), applied_migrations()
        call_command(
            "dumpdata",
            format=backup_json.FORMAT,
            output=str(target),
            use_base_manager=True,
            exclude=list(LEFT_OUT_APPS),
            verbosity=0,
        )
    target.chmod(0o600)
    return "django-json", target, counts, migrations


def _store(source: Path, target: Path, *, name: str, key: bytes | None) -> dict[str, Any]:
    """``source`` into the backup at ``target``, encrypted under ``key`` if one is given; its size and sum."""
    private_folder(target.parent)
    if key is None:
        digest = copy_file(source, target)
    else:
        backup_keys.encrypt_file(source, target, key=key, name=name)
        digest = sha256_of(target)
    return {"sha256": digest, "bytes": target.stat().st_size}


def encryption_key_path(given: Path | None) -> Path | None:
    """The key file named on the command line, else ``BACKUP_ENCRYPTION_KEY``'s, else none."""
    configured = str(getattr(settings, "BACKUP_ENCRYPTION_KEY", "") or "").strip()
    return given if given is not None else (Path(configured) if configured else None)


def backup_create(*, folder: Path, encrypt_to: Path | None = None) -> BackupSummary:
    """Write a signed backup of the database and MEDIA_ROOT into ``folder`` (new or empty)."""
    folder = Path(folder)
    signing_key = backup_keys.signing_key()
    key_file = encryption_key_path(encrypt_to)
    encryption_key = backup_keys.key_read(key_file) if key_file else None
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BackupError(f"{folder} already exists and is not an empty folder: back up into a new one.")
    private_folder(folder)

    with tempfile.TemporaryDirectory(dir=folder, prefix=".dump-") as work:
        database_format, dump, counts, migrations = _dump_database(Path(work))
        if encryption_key is None:
            os.replace(dump, folder / dump.name)
            database = {"sha256": sha256_of(folder / dump.name), "bytes": (folder / dump.name).stat().st_size}
        else:
            database = _store(dump, folder / dump.name, name=dump.name, key=encryption_key)
    media_root = Path(settings.MEDIA_ROOT)
    files = {}
    for relative in media_files(media_root):
        target = folder / MEDIA_FOLDER / relative
        files[relative] = _store(media_root / relative, target, name=f"{MEDIA_FOLDER}/{relative}", key=encryption_key)
    missing = sorted(referenced_files() - set(files))

    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "installation": backup_keys.key_id(signing_key),
        "database": {"engine": connection.vendor, "format": database_format, "file": dump.name, **database},
        "migrations": migrations,
        "rows": counts,
        "excluded": sorted(model._meta.label for model in left_out_models()),
        "files": files,
        "missing_files": missing,
        "encryption": None
        if encryption_key is None
        else {"algorithm": backup_keys.ENCRYPTION_ALGORITHM, "key_id": backup_keys.key_id(encryption_key)},
    }
    manifest["signature"] = backup_keys.sign(manifest, signing_key)
    temporary = folder / f"{MANIFEST}.partial"
    with backup_keys.private_file(temporary) as handle:
        handle.write(json.dumps(manifest, indent=1, sort_keys=True).encode())
    os.replace(temporary, folder / MANIFEST)
    return BackupSummary(
        folder, database_format, sum(counts.values()), len(files), missing, encrypted=encryption_key is not None
    )


# --- restore -------------------------------------------------------------------------------


def _read_manifest(folder: Path) -> dict[str, Any]:
    if not folder.is_dir():
        raise BackupError(f"{folder} is not a folder: not a backup.")
    if links := links_and_special_files(folder):
        raise BackupError(
            f"The backup holds links or special files, nothing was restored: {', '.join(links[:10])}. "
            "A backup holds only plain files and folders."
        )
    try:
        document = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError as exc:
        raise BackupError(f"{folder} holds no {MANIFEST}: not a backup, or an unfinished one.") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"{folder / MANIFEST} is not readable JSON.") from exc
    return manifest_check(document, where=str(folder / MANIFEST))


def _check_signature(manifest: dict[str, Any], trusted_key: Path | None) -> None:
    key = backup_keys.key_read(trusted_key) if trusted_key else backup_keys.signing_key()
    expected = backup_keys.key_id(key)
    if not backup_keys.same_id(manifest["installation"], expected):
        if trusted_key:
            raise BackupError(
                f"The backup was made by installation {manifest['installation']}, not by the one whose key is "
                f"{trusted_key} ({expected}): nothing was restored."
            )
        raise BackupError(
            f"The backup was made by another installation ({manifest['installation']}; this one is {expected}) "
            "or with a key since rotated: nothing was restored. If you trust it, name that installation's "
            "signing key file with --trust-key."
        )
    if not backup_keys.signature_valid(manifest, key):
        raise BackupError(
            "The manifest's signature does not match: the backup was altered after it was made, nothing was restored."
        )


def backup_verify(*, folder: Path, trusted_key: Path | None = None) -> dict[str, Any]:
    """The manifest of a complete, intact, signed backup this code can restore; BackupError otherwise."""
    folder = Path(folder)
    manifest = _read_manifest(folder)
    _check_signature(manifest, trusted_key)

    database = manifest["database"]
    if database["format"] == "pg_dump" and not is_postgresql():
        raise BackupError("This backup was made with pg_dump: restore it into a PostgreSQL database.")
    if (database["format"] == "pg_dump") != (database["file"] == PG_DUMP):
        raise BackupError(f"The manifest's database file {database['file']} is not a {database['format']} dump.")
    known_models = {model._meta.label for model in backed_up_models()}
    if unknown_models := sorted(set(manifest["rows"]) - known_models):
        raise BackupError(
            "The manifest counts rows of models this code does not know or never restores, nothing was "
            f"restored: {', '.join(unknown_models[:10])}."
        )
    problems = []
    if not intact(folder / database["file"], database):
        problems.append(f"the database dump {database['file']} is missing or does not match its sha256")
    media_root = Path(settings.MEDIA_ROOT)
    for relative, expected in manifest["files"].items():
        source = inside(folder / MEDIA_FOLDER, relative)
        inside(media_root, relative)
        if not intact(source, expected):
            problems.append(f"{MEDIA_FOLDER}/{relative} is missing or does not match its sha256")
    if problems:
        shown = "; ".join(problems[:10]) + (f"; and {len(problems) - 10} more" if len(problems) > 10 else "")
        raise BackupError(f"The backup is damaged, nothing was restored: {shown}.")

    known = {f"{app}.{name}" for app, name in MigrationExecutor(connection).loader.disk_migrations}
    if unknown := sorted(set(manifest["migrations"]) - known):
        raise BackupError(
            "The backup was made by a newer version of DermaTrack (migrations unknown here: "
            f"{', '.join(unknown[:5])}): restore it with that version."
        )
    return manifest


def _leaves(applied: list[str]) -> list[tuple[str, str | None]]:
    """Per app, the last of the backup's migrations (``(app, None)`` for an app the backup predates)."""
    graph = MigrationExecutor(connection).loader.graph
    # "app.migration" names, each a migration known here (checked when the manifest was read).
    wanted = cast("set[tuple[str, str]]", {tuple(name.split(".", 1)) for name in applied})
    targets: list[tuple[str, str | None]] = []
    for app in {app for app, _ in graph.leaf_nodes()}:
        mine = [node for node in wanted if node[0] == app]
        children = {n: {c.key for c in graph.node_map[n].children if c.key[0] == app} for n in mine}
        leaves = [n for n in mine if not children[n] & wanted]
        targets.extend(leaves or [(app, None)])
    return targets


def _migrate_to(applied: list[str]) -> None:
    """Bring the schema to the backup's migrations (forwards only for an empty database)."""
    executor = MigrationExecutor(connection)
    targets = _leaves(applied)
    plan = executor.migration_plan(targets)
    if plan:
        executor.migrate(targets, plan=plan)


def _migrate_forward() -> None:
    """Apply migrations newer than the backup; none to apply, no command (post_migrate would touch rows)."""
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        call_command("migrate", interactive=False, verbosity=0)


def _tables_of(applied: list[str]) -> set[str]:
    """The tables the app's migrations create, up to the backup's migrations (and those of today's models)."""
    nodes = [(app, name) for app, name in _leaves(applied) if name is not None]
    state = MigrationExecutor(connection).loader.project_state(nodes, at_end=True)
    tables = {model._meta.db_table for model in state.apps.get_models(include_auto_created=True)}
    return tables | {model._meta.db_table for model in all_models()} | {MigrationRecorder.Migration._meta.db_table}


def _restore_pg_dump(dump: Path, manifest: dict[str, Any], *, workdir: Path, role: str | None) -> None:
    dumped = backup_postgres.dumped_tables(
        dump, allowed=_tables_of(manifest["migrations"]), schema=backup_postgres.current_schema()
    )
    with connection.cursor() as cursor:
        existing = set(connection.introspection.table_names(cursor))
    counts = {apps.get_model(label)._meta.db_table: (label, n) for label, n in manifest["rows"].items()}
    backup_postgres.restore_dump(
        dump,
        workdir=workdir,
        counts=counts,
        # Tables of migrations newer than the backup are not in the dump: dropped, migrate makes them anew.
        drop=existing - dumped,
        empty={model._meta.db_table for model in left_out_models()} & dumped,
        role=role,
    )


def _restore_django_json(dump: Path, manifest: dict[str, Any]) -> None:
    _migrate_to(manifest["migrations"])
    try:
        with transaction.atomic(), disable_auditlog():
            call_command("flush", interactive=False, inhibit_post_migrate=True, verbosity=0)
            call_command("loaddata", str(dump), verbosity=0)
            for model in left_out_models():
                model._base_manager.all().delete()
            counts = row_counts(list(manifest["rows"]))
            if wrong := {label: (n, counts[label]) for label, n in manifest["rows"].items() if counts[label] != n}:
                raise BackupError(
                    f"The restored database does not hold the backup's rows (expected, found): {wrong}: the "
                    "restore was rolled back, the database is as it was."
                )
    except BackupError:
        _migrate_forward()  # the schema back to this code's, if it had been taken back to the backup's
        raise


def _plain_dump(folder: Path, manifest: dict[str, Any], key: bytes | None, workdir: Path) -> Path:
    """The database dump, decrypted into ``workdir`` if the backup is encrypted."""
    name = str(manifest["database"]["file"])
    if key is None:
        return folder / name
    try:
        backup_keys.decrypt_file(folder / name, workdir / name, key=key, name=name)
    except InvalidTag as exc:
        raise BackupError(f"{name} does not decrypt with the given key: nothing was restored.") from exc
    return workdir / name


def _decryption_key(manifest: dict[str, Any], decrypt_with: Path | None) -> bytes | None:
    if manifest["encryption"] is None:
        return None
    key_file = encryption_key_path(decrypt_with)
    if key_file is None:
        raise BackupError(
            "The backup is encrypted: name its key file with --decrypt-with (or set BACKUP_ENCRYPTION_KEY)."
        )
    key = backup_keys.key_read(key_file)
    if not backup_keys.same_id(backup_keys.key_id(key), manifest["encryption"]["key_id"]):
        raise BackupError(f"The backup was not encrypted with the key in {key_file}: nothing was restored.")
    return key


def backup_restore(
    *, folder: Path, trusted_key: Path | None = None, decrypt_with: Path | None = None, role: str | None = None
) -> BackupSummary:
    """Replace the database's content and write MEDIA_ROOT's files from the backup in ``folder``."""
    folder = Path(folder)
    manifest = backup_verify(folder=folder, trusted_key=trusted_key)
    key = _decryption_key(manifest, decrypt_with)
    media_root = Path(settings.MEDIA_ROOT)
    before = set(media_files(media_root))

    with tempfile.TemporaryDirectory(prefix="dermatrack-restore-") as work:
        dump = _plain_dump(folder, manifest, key, Path(work))
        if manifest["database"]["format"] == "pg_dump":
            _restore_pg_dump(dump, manifest, workdir=Path(work), role=role)
        else:
            _restore_django_json(dump, manifest)
    ContentType.objects.clear_cache()  # ids are the backup's now

    mode = settings.FILE_UPLOAD_PERMISSIONS  # as the app's storage writes them
    for relative, expected in manifest["files"].items():
        source, target = inside(folder / MEDIA_FOLDER, relative), inside(media_root, relative)
        if key is None:
            if copy_file(source, target, mode=mode) != expected["sha256"]:
                raise BackupError(f"{MEDIA_FOLDER}/{relative} changed while it was being restored.")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            backup_keys.decrypt_file(source, target, key=key, name=f"{MEDIA_FOLDER}/{relative}")
        except InvalidTag as exc:
            raise BackupError(f"{MEDIA_FOLDER}/{relative} does not decrypt with the given key.") from exc
        if mode is not None:
            target.chmod(mode)
    _migrate_forward()
    return BackupSummary(
        folder,
        manifest["database"]["format"],
        sum(manifest["rows"].values()),
        len(manifest["files"]),
        manifest["missing_files"],
        other_files=len(before - set(manifest["files"])),
        encrypted=key is not None,
    )
