"""manage.py backup / restore: a seeded clinic comes back row for row and file for file, signed and
encrypted, on whichever database the suite runs (SQLite with Django's dump, PostgreSQL with pg_dump
in .ci/run); a damaged backup is refused before anything changes. What an attacker could do to a
backup is tested in test_backup_security.py."""

from __future__ import annotations

import shutil
from io import StringIO
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from axes.models import AccessAttempt
from django.contrib.sessions.models import Session
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from knox.models import AuthToken

from clinic.auth import api_token_create
from lesions.models import LesionImage, Patient
from lesions.services import patient_create
from ml.models import Prediction
from tests.operations.backups import backup, every_file, every_row, manifest_of, manifest_write, restore

pytestmark = pytest.mark.django_db(transaction=True)  # pg_dump reads committed rows only


def lose_everything(media_root: Path) -> None:
    call_command("flush", interactive=False, inhibit_post_migrate=True, verbosity=0)
    shutil.rmtree(media_root)
    media_root.mkdir()


@pytest.fixture
def seeded_clinic(tiny_weights_dir: Path, client: Client) -> None:
    """The demo clinics analysed by a model (heatmaps and maps on disk), a token, a failed login, reads."""
    call_command("seed_demo", stdout=StringIO())
    ben = Patient.objects.get(medical_record_number="RD-1001").clinic.members.get(username="dr.ben")
    api_token_create(user=ben)
    client.post(reverse("login"), {"username": "dr.nobody", "password": "wrong"})
    client.force_login(ben)
    client.get(reverse("patient-list"))


@pytest.mark.slow
def test_a_seeded_clinic_comes_back_row_for_row_and_file_for_file(
    seeded_clinic: None, media_root: Path, tmp_path: Path, encryption_key: Path
) -> None:
    assert Prediction.objects.filter(status=Prediction.Status.DONE).exclude(heatmap="").exists()
    assert AuthToken.objects.exists() and AccessAttempt.objects.exists() and Session.objects.exists()
    assert LogEntry.objects.filter(action=LogEntry.Action.ACCESS).exists()
    rows, files = every_row(), every_file(media_root)
    assert len(files) >= 3 * LesionImage.objects.count()  # photos, heatmaps and class maps

    output = backup(tmp_path / "backup", "--encrypt-to", str(encryption_key))
    database = "pg_dump" if connection.vendor == "postgresql" else "django-json"
    assert f"({database}) and {len(files)} files into {tmp_path / 'backup'}, signed and encrypted," in output
    lesion_image = LesionImage.objects.first()
    assert lesion_image is not None
    stored = (tmp_path / "backup" / "media" / lesion_image.image.name).read_bytes()
    assert stored != (media_root / lesion_image.image.name).read_bytes()  # encrypted at rest
    lose_everything(media_root)
    assert not Patient.objects.exists() and every_file(media_root) == {}

    output = restore(tmp_path / "backup", "--noinput", "--decrypt-with", str(encryption_key))

    assert f"Restored {sum(len(r) for r in rows.values())} rows ({database}) and {len(files)} files;" in output
    assert every_row() == rows  # restoring wrote no audit entry, no model registration, nothing else
    assert every_file(media_root) == files
    assert not (AuthToken.objects.exists() or AccessAttempt.objects.exists() or Session.objects.exists())
    patient = patient_create(
        clinic=Patient.objects.first().clinic, medical_record_number="RD-9999", first_name="A", last_name="B"
    )
    assert patient.pk > max(row["id"] for row in rows["lesions.Patient"])  # new rows get new keys


def test_a_restore_over_a_live_database_replaces_its_content(
    lesion_image: LesionImage, media_root: Path, tmp_path: Path
) -> None:
    rows, files = every_row(), every_file(media_root)
    backup(tmp_path / "backup")
    Patient.objects.update(first_name="Changed after the backup")
    (media_root / "stray.txt").write_text("not in the backup")

    output = restore(tmp_path / "backup", "--noinput")

    assert every_row() == rows
    assert every_file(media_root) == {**files, "stray.txt": every_file(media_root)["stray.txt"]}
    assert "1 files in MEDIA_ROOT that the backup does not hold were left in place." in output


def test_a_damaged_file_is_found_before_anything_changes(
    lesion_image: LesionImage, media_root: Path, tmp_path: Path
) -> None:
    backup(tmp_path / "backup")
    stored = tmp_path / "backup" / "media" / lesion_image.image.name
    stored.write_bytes(stored.read_bytes()[:-10])
    Patient.objects.update(first_name="Changed after the backup")

    with pytest.raises(CommandError, match=f"media/{lesion_image.image.name} is missing or does not match"):
        restore(tmp_path / "backup", "--noinput")
    with pytest.raises(CommandError, match="damaged"):
        restore(tmp_path / "backup", "--check")

    assert Patient.objects.get().first_name == "Changed after the backup"


def test_a_damaged_database_dump_is_refused(lesion_image: LesionImage, tmp_path: Path) -> None:
    backup(tmp_path / "backup")
    manifest = manifest_of(tmp_path / "backup")
    dump = tmp_path / "backup" / manifest["database"]["file"]
    content = bytearray(dump.read_bytes())
    content[len(content) // 2] ^= 0xFF  # one flipped byte (the pg_dump file is compressed)
    dump.write_bytes(bytes(content))

    with pytest.raises(CommandError, match=r"the database dump \S+ is missing or does not match its sha256"):
        restore(tmp_path / "backup", "--noinput")


@pytest.mark.parametrize("name", ["../../escaped.txt", "/etc/escaped.txt", "lesion_images/../../escaped.txt"])
def test_a_manifest_naming_a_file_outside_the_media_folder_is_refused(
    lesion_image: LesionImage, media_root: Path, tmp_path: Path, name: str, signing_key: Path
) -> None:
    backup(tmp_path / "backup")
    manifest = manifest_of(tmp_path / "backup")
    manifest["files"][name] = {"sha256": "0" * 64, "bytes": 1}
    manifest_write(tmp_path / "backup", manifest, signed_with=signing_key)  # signed: the check is not the signature

    with pytest.raises(CommandError, match="outside the media folder"):
        restore(tmp_path / "backup", "--noinput")
    assert not (media_root.parent / "escaped.txt").exists()


def test_a_backup_of_a_newer_version_is_refused(lesion_image: LesionImage, tmp_path: Path, signing_key: Path) -> None:
    backup(tmp_path / "backup")
    manifest = manifest_of(tmp_path / "backup")
    manifest["migrations"].append("lesions.9999_from_the_future")
    manifest_write(tmp_path / "backup", manifest, signed_with=signing_key)

    with pytest.raises(CommandError, match="newer version of DermaTrack"):
        restore(tmp_path / "backup", "--noinput")


def test_a_folder_without_a_manifest_is_not_a_backup(db: None, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match=r"holds no manifest\.json"):
        restore(tmp_path, "--check")


def test_it_backs_up_into_a_new_folder_only(db: None, tmp_path: Path) -> None:
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "manifest.json").write_text("{}")

    with pytest.raises(CommandError, match="not an empty folder"):
        backup(tmp_path / "old")


def test_a_photo_already_missing_from_storage_is_reported(lesion_image: LesionImage, tmp_path: Path) -> None:
    Path(lesion_image.image.path).unlink()

    output = backup(tmp_path / "backup")

    assert f"warning: {lesion_image.image.name} is named by a record but was already missing" in output
    manifest = manifest_of(tmp_path / "backup")
    assert manifest["missing_files"] == [lesion_image.image.name]


def test_the_restore_asks_before_replacing(
    lesion_image: LesionImage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup(tmp_path / "backup")
    Patient.objects.update(first_name="Changed after the backup")
    monkeypatch.setattr("builtins.input", lambda prompt: "no")

    with pytest.raises(CommandError, match="cancelled"):
        restore(tmp_path / "backup")

    assert Patient.objects.get().first_name == "Changed after the backup"
