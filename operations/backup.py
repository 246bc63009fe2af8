"""Backups that restore: the whole database and every stored file, with a manifest of sha256 sums.

``backup_create`` writes into a new folder:

- the database: on PostgreSQL ``database.pgdump`` (``pg_dump --format=custom``); on any other
  engine ``database.json`` (Django's ``dumpdata`` of every model, primary keys kept, times to the
  microsecond through ``operations.backup_json``). Either way
  it is one consistent snapshot, and the row count of every table is taken from that same
  snapshot (on PostgreSQL through a snapshot exported to ``pg_dump``);
- ``media/``: every file under ``MEDIA_ROOT`` (photos, heatmaps, class maps, outlines) at its
  own path;
- ``manifest.json``, written last, so that a folder without it is an unfinished backup: the
  engine, the applied migrations, the row counts, and the size and sha256 of every file.

``backup_restore`` first checks the whole backup (every sum, every size, paths that stay inside
``MEDIA_ROOT``, a dump this engine can load, no migration this code does not know) and changes
nothing if anything is off. Then it writes the files into ``MEDIA_ROOT``, replaces the database's
content with the dump's in one transaction (``pg_restore --single-transaction`` on PostgreSQL;
``flush`` + ``loaddata`` on others, with auditlog off so that restoring writes no audit rows),
applies any migration newer than the backup, and checks the row counts against the manifest.
The code is the app's, not a library's: what to copy (every FileField's storage and every model)
and how to prove a restore complete is this project's own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, cast

from auditlog.context import disable_auditlog
from django.apps import apps
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core import serializers
from django.core.management import call_command
from django.db import connection, models, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from operations import backup_json

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MEDIA_FOLDER = "media"
PG_DUMP = "database.pgdump"
JSON_DUMP = "database.json"


class BackupError(Exception):
    """A backup cannot be made, or a folder is not a backup this code can restore (the message says why)."""


@dataclass(frozen=True)
class BackupSummary:
    folder: Path
    database_format: str
    rows: int
    files: int
    missing_files: list[str]  # named by a row but absent from storage when the backup was made
    other_files: int = 0  # on restore: files already in MEDIA_ROOT that the backup does not hold


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


def row_counts(labels: list[str] | None = None) -> dict[str, int]:
    """Rows per model (``app_label.Model``): of every model, or of those named."""
    chosen = all_models() if labels is None else [apps.get_model(label) for label in labels]
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


def copy_file(source: Path, target: Path) -> str:
    """Copy ``source`` to ``target`` through a temporary name; returns the sha256 of what was copied."""
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with source.open("rb") as src, tempfile.NamedTemporaryFile(dir=target.parent, delete=False) as dst:
        while chunk := src.read(1 << 20):
            digest.update(chunk)
            dst.write(chunk)
        dst.flush()
        os.fsync(dst.fileno())
    os.replace(dst.name, target)
    shutil.copystat(source, target)
    return digest.hexdigest()


def pg_environment() -> dict[str, str]:
    """libpq's variables for the configured database (no password on a command line)."""
    db = connection.settings_dict
    env = {**os.environ, "PGDATABASE": db["NAME"]}
    for key, variable in (("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD"), ("HOST", "PGHOST"), ("PORT", "PGPORT")):
        if db.get(key):
            env[variable] = str(db[key])
    if sslmode := db.get("OPTIONS", {}).get("sslmode"):
        env["PGSSLMODE"] = sslmode
    return env


def run_tool(command: list[str]) -> str:
    try:
        done = subprocess.run(command, env=pg_environment(), capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise BackupError(f"{command[0]} is not installed; it comes with PostgreSQL's client tools.") from exc
    if done.returncode != 0:
        raise BackupError(f"{command[0]} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout


# --- backup --------------------------------------------------------------------------------


def _dump_database(folder: Path) -> tuple[str, Path, dict[str, int], list[str]]:
    """Dump the database into ``folder``: (format, file, row counts, applied migrations) of one snapshot."""
    if is_postgresql():
        target = folder / PG_DUMP
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute("SELECT pg_export_snapshot()")
                (snapshot,) = cursor.fetchone()
            counts, migrations = row_counts(), applied_migrations()
            # pg_dump reads the same snapshot while this transaction holds it open.
            run_tool(["pg_dump", "--format=custom", f"--snapshot={snapshot}", f"--file={target}"])
        return "pg_dump", target, counts, migrations
    target = folder / JSON_DUMP
    serializers.register_serializer(backup_json.FORMAT, backup_json.__name__)
    with transaction.atomic():
        counts, migrations = row_counts(), applied_migrations()
        call_command("dumpdata", format=backup_json.FORMAT, output=str(target), use_base_manager=True, verbosity=0)
    return "django-json", target, counts, migrations


def backup_create(*, folder: Path) -> BackupSummary:
    """Write a complete backup of the database and MEDIA_ROOT into ``folder`` (new or empty)."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise BackupError(f"{folder} already exists and is not an empty folder: back up into a new one.")
    folder.mkdir(parents=True, exist_ok=True)
    database_format, dump, counts, migrations = _dump_database(folder)

    media_root = Path(settings.MEDIA_ROOT)
    files = {}
    for relative in media_files(media_root):
        target = folder / MEDIA_FOLDER / relative
        files[relative] = {"sha256": copy_file(media_root / relative, target), "bytes": target.stat().st_size}
    missing = sorted(referenced_files() - set(files))

    manifest = {
        "format": FORMAT_VERSION,
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "database": {
            "engine": connection.vendor,
            "format": database_format,
            "file": dump.name,
            "sha256": sha256_of(dump),
            "bytes": dump.stat().st_size,
        },
        "migrations": migrations,
        "rows": counts,
        "files": files,
        "missing_files": missing,
    }
    temporary = folder / f"{MANIFEST}.partial"
    temporary.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(temporary, folder / MANIFEST)
    return BackupSummary(folder, database_format, sum(counts.values()), len(files), missing)


# --- restore -------------------------------------------------------------------------------


def backup_verify(*, folder: Path) -> dict[str, Any]:
    """The manifest of a complete, intact backup this code can restore; BackupError otherwise."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except FileNotFoundError as exc:
        raise BackupError(f"{folder} holds no {MANIFEST}: not a backup, or an unfinished one.") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise BackupError(f"{folder / MANIFEST} is not readable JSON.") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        raise BackupError(f"{folder / MANIFEST} is not a backup manifest of format {FORMAT_VERSION}.")

    database = manifest["database"]
    if database["format"] not in {"pg_dump", "django-json"} or database["file"] not in {PG_DUMP, JSON_DUMP}:
        raise BackupError(f"Unknown database dump {database['file']!r} ({database['format']}).")
    if database["format"] == "pg_dump" and not is_postgresql():
        raise BackupError("This backup was made with pg_dump: restore it into a PostgreSQL database.")
    problems = []
    dump = folder / database["file"]
    if not intact(dump, database):
        problems.append(f"the database dump {database['file']} is missing or does not match its sha256")
    media_root = Path(settings.MEDIA_ROOT)
    for relative, expected in manifest["files"].items():
        source = inside(folder / MEDIA_FOLDER, relative)
        inside(media_root, relative)
        if (
            not source.is_file()
            or source.stat().st_size != expected["bytes"]
            or sha256_of(source) != expected["sha256"]
        ):
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


def _migrate_to(applied: list[str]) -> None:
    """Bring the schema to the backup's migrations (forwards only for an empty database)."""
    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    # "app.migration" names, each a migration known here (checked when the manifest was read).
    wanted = cast("set[tuple[str, str]]", {tuple(name.split(".", 1)) for name in applied})
    targets: list[tuple[str, str | None]] = []
    for app in {app for app, _ in graph.leaf_nodes()}:
        mine = [node for node in wanted if node[0] == app]
        children = {n: {c.key for c in graph.node_map[n].children if c.key[0] == app} for n in mine}
        leaves = [n for n in mine if not children[n] & wanted]
        targets.extend(leaves or [(app, None)])
    plan = executor.migration_plan(targets)
    if plan:
        executor.migrate(targets, plan=plan)


def _migrate_forward() -> None:
    """Apply migrations newer than the backup; none to apply, no command (post_migrate would touch rows)."""
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        call_command("migrate", interactive=False, verbosity=0)


def _restore_pg_dump(dump: Path) -> None:
    listing = run_tool(["pg_restore", "--list", str(dump)])
    dumped_tables = set(re.findall(r"^\d+; \d+ \d+ TABLE \S+ (\S+) ", listing, re.MULTILINE))
    connection.close()  # nothing of this process holds a lock while pg_restore replaces the tables
    run_tool(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={connection.settings_dict['NAME']}",
            str(dump),
        ]
    )
    # Tables of migrations newer than the backup are not in the dump: dropped, migrate makes them anew.
    with connection.cursor() as cursor:
        for table in sorted(set(connection.introspection.table_names(cursor)) - dumped_tables):
            cursor.execute(f"DROP TABLE IF EXISTS {connection.ops.quote_name(table)} CASCADE")


def _restore_django_json(dump: Path, applied: list[str]) -> None:
    _migrate_to(applied)
    with transaction.atomic(), disable_auditlog():
        call_command("flush", interactive=False, inhibit_post_migrate=True, verbosity=0)
        call_command("loaddata", str(dump), verbosity=0)


def backup_restore(*, folder: Path) -> BackupSummary:
    """Replace the database's content and write MEDIA_ROOT's files from the backup in ``folder``."""
    folder = Path(folder)
    manifest = backup_verify(folder=folder)
    media_root = Path(settings.MEDIA_ROOT)
    before = set(media_files(media_root))
    for relative, expected in manifest["files"].items():
        if copy_file(inside(folder / MEDIA_FOLDER, relative), inside(media_root, relative)) != expected["sha256"]:
            raise BackupError(f"{MEDIA_FOLDER}/{relative} changed while it was being restored.")

    dump = folder / manifest["database"]["file"]
    if manifest["database"]["format"] == "pg_dump":
        _restore_pg_dump(dump)
    else:
        _restore_django_json(dump, manifest["migrations"])
    ContentType.objects.clear_cache()  # ids are the backup's now

    counts = row_counts(list(manifest["rows"]))
    if wrong := {label: (n, counts[label]) for label, n in manifest["rows"].items() if counts[label] != n}:
        raise BackupError(f"The restored database does not hold the backup's rows (expected, found): {wrong}.")
    _migrate_forward()
    return BackupSummary(
        folder,
        manifest["database"]["format"],
        sum(manifest["rows"].values()),
        len(manifest["files"]),
        manifest["missing_files"],
        other_files=len(before - set(manifest["files"])),
    )
