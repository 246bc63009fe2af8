"""What an attacker could do to a backup (security review, issue 25), each refused before anything changes.

Forged rows with every sum recomputed, a dump holding a function (PostgreSQL), another
installation's backup, world-readable files, live sessions and tokens in a backup, a row count
that only the restore finds wrong, a media folder that is a link, a manifest missing its keys.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
from collections.abc import Iterator
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from knox.models import AuthToken

from clinic.auth import api_token_create, api_tokens_revoke
from lesions.models import LesionImage, Patient
from operations.backup_keys import key_new
from tests.operations.backups import backup, every_file, manifest_of, manifest_write, reseal, restore

pytestmark = pytest.mark.django_db(transaction=True)  # pg_dump reads committed rows only

on_sqlite = pytest.mark.skipif("connection.vendor != 'sqlite'", reason="the JSON dump is SQLite's")
on_postgresql = pytest.mark.skipif("connection.vendor != 'postgresql'", reason="pg_dump and pg_restore")


def add_superuser_to(folder: Path) -> None:
    """What the review did: a superuser added to database.json, then every sum and count recomputed."""
    dump = folder / "database.json"
    rows = json.loads(dump.read_text())
    rows.append(
        {
            "model": "auth.user",
            "pk": 9999,
            "fields": {"username": "intruder", "password": "x", "is_superuser": True, "is_staff": True},
        }
    )
    dump.write_text(json.dumps(rows))
    manifest = manifest_of(folder)
    manifest["rows"]["auth.User"] += 1
    manifest_write(folder, manifest)
    reseal(folder, "database.json")


@on_sqlite
def test_a_forged_row_with_every_sum_recomputed_is_refused(lesion_image: LesionImage, tmp_path: Path) -> None:
    backup(tmp_path / "backup")
    add_superuser_to(tmp_path / "backup")

    with pytest.raises(CommandError, match="signature does not match: the backup was altered"):
        restore(tmp_path / "backup", "--check")
    with pytest.raises(CommandError, match="signature does not match"):
        restore(tmp_path / "backup", "--noinput")

    assert not get_user_model().objects.filter(username="intruder").exists()


def test_a_manifest_signed_with_another_key_is_refused(
    lesion_image: LesionImage, tmp_path: Path, signing_key: Path
) -> None:
    backup(tmp_path / "backup")
    key_new(tmp_path / "attacker.key")
    manifest = manifest_of(tmp_path / "backup")
    manifest["rows"]["lesions.Patient"] = 0
    manifest_write(tmp_path / "backup", manifest, signed_with=tmp_path / "attacker.key")  # same installation id

    with pytest.raises(CommandError, match="signature does not match"):
        restore(tmp_path / "backup", "--noinput")
    assert Patient.objects.count() == 1


def test_an_unsigned_backup_is_refused(lesion_image: LesionImage, tmp_path: Path) -> None:
    backup(tmp_path / "backup")
    manifest = manifest_of(tmp_path / "backup")
    del manifest["signature"]
    manifest_write(tmp_path / "backup", manifest)

    with pytest.raises(CommandError, match="is not signed: restore refuses unsigned backups"):
        restore(tmp_path / "backup", "--check")


def test_another_installations_backup_is_refused_unless_its_key_is_named(
    lesion_image: LesionImage, tmp_path: Path, signing_key: Path, settings: Any
) -> None:
    backup(tmp_path / "backup")
    key_new(tmp_path / "this-installation.key")
    settings.BACKUP_SIGNING_KEY = str(tmp_path / "this-installation.key")
    Patient.objects.update(first_name="Changed after the backup")

    with pytest.raises(CommandError, match=r"made by another installation .* name that installation's signing key"):
        restore(tmp_path / "backup", "--noinput")
    assert Patient.objects.get().first_name == "Changed after the backup"

    wrong = tmp_path / "some-other.key"
    key_new(wrong)
    with pytest.raises(CommandError, match="not by the one whose key is"):
        restore(tmp_path / "backup", "--noinput", "--trust-key", str(wrong))

    restore(tmp_path / "backup", "--noinput", "--trust-key", str(signing_key))
    assert Patient.objects.get().first_name == "Margaret"


def test_backup_and_restore_refuse_to_run_without_a_signing_key(
    lesion_image: LesionImage, tmp_path: Path, settings: Any
) -> None:
    backup(tmp_path / "backup")
    settings.BACKUP_SIGNING_KEY = ""

    with pytest.raises(
        CommandError, match=r"BACKUP_SIGNING_KEY is not set: make a key with `manage\.py backup_key FILE`"
    ):
        backup(tmp_path / "another")
    with pytest.raises(CommandError, match="BACKUP_SIGNING_KEY is not set"):
        restore(tmp_path / "backup", "--check")
    assert not (tmp_path / "another").exists()


@pytest.fixture
def umask_022() -> Iterator[None]:
    previous = os.umask(0o022)
    yield
    os.umask(previous)


@pytest.mark.parametrize("encrypted", [False, True])
def test_every_folder_is_0700_and_every_file_0600_under_umask_022(
    lesion_image: LesionImage, tmp_path: Path, umask_022: None, encryption_key: Path, encrypted: bool
) -> None:
    backup(tmp_path / "backup", *(["--encrypt-to", str(encryption_key)] if encrypted else []))

    paths = [tmp_path / "backup", *(tmp_path / "backup").rglob("*")]
    assert len([path for path in paths if path.is_file()]) >= 3  # the manifest, the dump and the photo
    wrong = {
        path.relative_to(tmp_path).as_posix(): oct(stat.S_IMODE(path.stat().st_mode))
        for path in paths
        if stat.S_IMODE(path.stat().st_mode) != (0o700 if path.is_dir() else 0o600)
    }
    assert wrong == {}


def test_a_session_and_a_token_revoked_after_the_backup_stay_dead_after_restore(
    lesion_image: LesionImage, clinician: Any, tmp_path: Path
) -> None:
    browser = Client()
    browser.force_login(clinician)
    token_row, token = api_token_create(user=clinician)
    assert browser.get(reverse("patient-list")).status_code == 200
    backup(tmp_path / "backup")
    if connection.vendor == "sqlite":
        dumped = (tmp_path / "backup" / "database.json").read_text()
        assert browser.cookies["sessionid"].value not in dumped and token_row.digest not in dumped
    browser.post(reverse("logout"))
    api_tokens_revoke(user=clinician, token=token_row)

    restore(tmp_path / "backup", "--noinput")

    assert browser.get(reverse("patient-list")).status_code == 302  # to the login page
    response = Client().get(reverse("api-patient-list"), HTTP_AUTHORIZATION=f"Token {token}")
    assert response.status_code == 401
    assert not AuthToken.objects.exists()


def test_a_row_count_wrong_only_in_the_restored_database_rolls_everything_back(
    lesion_image: LesionImage, tmp_path: Path, signing_key: Path, media_root: Path
) -> None:
    backup(tmp_path / "backup")
    manifest = manifest_of(tmp_path / "backup")
    manifest["rows"]["lesions.Patient"] += 1  # signed: only counting the restored rows can find it
    manifest_write(tmp_path / "backup", manifest, signed_with=signing_key)
    Patient.objects.update(first_name="Changed after the backup")
    Path(lesion_image.image.path).unlink()
    files_before = every_file(media_root)  # the thumbnail is left; the photo the backup holds is gone

    with pytest.raises(CommandError, match=r"does not hold the backup's rows .*lesions\.Patient.*rolled back"):
        restore(tmp_path / "backup", "--noinput")

    assert Patient.objects.get().first_name == "Changed after the backup"
    assert LesionImage.objects.count() == 1
    assert every_file(media_root) == files_before  # no file was written either


def test_a_media_folder_that_is_a_link_is_refused(lesion_image: LesionImage, tmp_path: Path) -> None:
    backup(tmp_path / "backup")
    elsewhere = tmp_path / "elsewhere"
    shutil.move(tmp_path / "backup" / "media", elsewhere)  # every file still matches its sum, through the link
    (tmp_path / "backup" / "media").symlink_to(elsewhere, target_is_directory=True)

    with pytest.raises(CommandError, match="holds links or special files, nothing was restored: media"):
        restore(tmp_path / "backup", "--check")


def test_a_file_that_is_a_link_is_refused(lesion_image: LesionImage, tmp_path: Path) -> None:
    backup(tmp_path / "backup")
    stored = tmp_path / "backup" / "media" / lesion_image.image.name
    shutil.move(stored, tmp_path / "photo")
    stored.symlink_to(tmp_path / "photo")

    with pytest.raises(
        CommandError, match=f"links or special files, nothing was restored: media/{lesion_image.image.name}"
    ):
        restore(tmp_path / "backup", "--noinput")


def test_a_manifest_missing_keys_names_each_of_them(lesion_image: LesionImage, tmp_path: Path) -> None:
    backup(tmp_path / "backup")
    manifest = manifest_of(tmp_path / "backup")
    del manifest["rows"], manifest["database"]["sha256"]
    manifest["files"] = "every one"
    manifest_write(tmp_path / "backup", manifest)

    with pytest.raises(CommandError) as refused:
        restore(tmp_path / "backup", "--check")

    message = str(refused.value)
    assert "not a valid backup manifest, nothing was restored" in message
    assert "the manifest: 'rows' is a required property" in message
    assert "database: 'sha256' is a required property" in message
    assert "files: 'every one' is not of type 'object'" in message


def test_a_manifest_that_is_not_an_object_is_refused(db: None, tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text("[1, 2]")

    with pytest.raises(CommandError, match="is not a backup manifest"):
        restore(tmp_path, "--check")


def test_rows_of_a_model_this_code_does_not_know_are_refused(
    lesion_image: LesionImage, tmp_path: Path, signing_key: Path
) -> None:
    backup(tmp_path / "backup")
    manifest = manifest_of(tmp_path / "backup")
    manifest["rows"]["evil.Backdoor"] = 1
    manifest["rows"]["sessions.Session"] = 3
    manifest_write(tmp_path / "backup", manifest, signed_with=signing_key)

    with pytest.raises(CommandError, match=r"models this code does not know or never restores.*evil\.Backdoor"):
        restore(tmp_path / "backup", "--check")


def test_an_encrypted_backup_needs_its_own_key(lesion_image: LesionImage, tmp_path: Path, encryption_key: Path) -> None:
    backup(tmp_path / "backup", "--encrypt-to", str(encryption_key))
    key_new(tmp_path / "other.key")
    Patient.objects.update(first_name="Changed after the backup")

    with pytest.raises(CommandError, match="The backup is encrypted: name its key file with --decrypt-with"):
        restore(tmp_path / "backup", "--noinput")
    with pytest.raises(CommandError, match="not encrypted with the key in"):
        restore(tmp_path / "backup", "--noinput", "--decrypt-with", str(tmp_path / "other.key"))
    assert Patient.objects.get().first_name == "Changed after the backup"

    assert "intact and signed, encrypted" in restore(tmp_path / "backup", "--check")


def test_a_file_moved_to_another_name_does_not_decrypt(
    lesion_image: LesionImage, tmp_path: Path, encryption_key: Path, settings: Any
) -> None:
    settings.BACKUP_ENCRYPTION_KEY = str(encryption_key)  # every backup encrypted, and restored with it
    backup(tmp_path / "backup")
    stored = tmp_path / "backup" / "media" / lesion_image.image.name
    shutil.copy(
        tmp_path / "backup" / "database.json"
        if connection.vendor == "sqlite"
        else tmp_path / "backup" / "database.pgdump",
        stored,
    )
    reseal(tmp_path / "backup", f"media/{lesion_image.image.name}")

    with pytest.raises(CommandError):
        restore(tmp_path / "backup", "--noinput")


def test_backup_key_writes_a_private_key_and_never_overwrites_one(tmp_path: Path, umask_022: None) -> None:
    out = StringIO()
    call_command("backup_key", str(tmp_path / "new.key"), stdout=out)
    assert f"Wrote a new backup key into {tmp_path / 'new.key'}" in out.getvalue()

    assert stat.S_IMODE((tmp_path / "new.key").stat().st_mode) == 0o600
    with pytest.raises(CommandError, match="already exists: a key is never overwritten"):
        call_command("backup_key", str(tmp_path / "new.key"))


@on_postgresql
def test_a_dump_holding_a_function_and_a_trigger_is_refused(lesion_image: LesionImage, tmp_path: Path) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION dermatrack_evil() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN UPDATE auth_user SET is_superuser = true; RETURN NEW; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER dermatrack_evil AFTER INSERT ON lesions_patient "
            "FOR EACH ROW EXECUTE FUNCTION dermatrack_evil()"
        )
    try:
        backup(tmp_path / "backup")  # signed as it is: what a key holder, or a re-sealed dump, could carry
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP FUNCTION dermatrack_evil() CASCADE")

    with pytest.raises(
        CommandError, match=r"objects the app's migrations do not create.*FUNCTION public dermatrack_evil"
    ):
        restore(tmp_path / "backup", "--noinput")

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_proc WHERE proname = 'dermatrack_evil'")
        assert cursor.fetchone() == (0,)


@on_postgresql
def test_a_role_that_cannot_restore_rolls_the_restore_back(lesion_image: LesionImage, tmp_path: Path) -> None:
    backup(tmp_path / "backup")
    Patient.objects.update(first_name="Changed after the backup")

    with pytest.raises(CommandError, match=r"psql failed: .*dermatrack_no_such_role.* The restore was rolled back"):
        restore(tmp_path / "backup", "--noinput", "--role", "dermatrack_no_such_role")

    assert Patient.objects.get().first_name == "Changed after the backup"
