"""Idempotency-Key: a retried upload stores one photo and answers exactly as the first time."""

from __future__ import annotations

import datetime as dt
import io
import threading
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone
from rest_framework.test import APIClient

from lesions import idempotency, services
from lesions.models import IdempotencyKey, Lesion, LesionImage, Visit
from lesions.tasks import purge_idempotency_keys_task
from ml.models import ModelVersion, Prediction
from tests.factories import LesionFactory, make_jpeg
from tests.helpers import token_client, upload


def test_a_retry_with_the_same_key_stores_one_photo_and_replays_the_response(
    api: APIClient, lesion: Lesion, active_model: ModelVersion
) -> None:
    photo = make_jpeg()

    first = upload(api, lesion, photo, idempotency_key="upload-1")
    retry = upload(api, lesion, photo, idempotency_key="upload-1")

    assert first.status_code == retry.status_code == 201
    assert retry.content == first.content
    assert retry["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert LesionImage.objects.count() == 1
    assert Visit.objects.count() == 1
    assert Prediction.objects.count() == 1


def test_different_keys_store_different_photos(api: APIClient, lesion: Lesion) -> None:
    photo = make_jpeg()

    upload(api, lesion, photo, idempotency_key="a")
    upload(api, lesion, photo, idempotency_key="b")

    assert LesionImage.objects.count() == 2


def test_without_a_key_every_request_stores_a_photo(api: APIClient, lesion: Lesion) -> None:
    upload(api, lesion, make_jpeg())
    upload(api, lesion, make_jpeg())

    assert LesionImage.objects.count() == 2


@pytest.mark.parametrize("change", ["photo", "image_type", "lesion"])
def test_the_same_key_for_a_different_request_is_refused(api: APIClient, lesion: Lesion, change: str) -> None:
    upload(api, lesion, make_jpeg(), idempotency_key="k-1")
    target = LesionFactory(patient=lesion.patient) if change == "lesion" else lesion
    photo = make_jpeg(300, 200) if change == "photo" else make_jpeg()
    image_type = "clinical_overview" if change == "image_type" else "dermoscopic"

    response = upload(api, target, photo, image_type=image_type, idempotency_key="k-1")

    assert response.status_code == 422
    assert "already used for a different request" in response.json()["detail"]
    assert LesionImage.objects.count() == 1


def test_keys_belong_to_one_user(api: APIClient, clinic_admin: Any, lesion: Lesion) -> None:
    photo = make_jpeg()

    mine = upload(api, lesion, photo, idempotency_key="shared")
    theirs = upload(token_client(clinic_admin), lesion, photo, idempotency_key="shared")

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert IdempotencyKey.objects.count() == 2


def test_a_failed_request_does_not_use_up_the_key(api: APIClient, lesion: Lesion) -> None:
    refused = upload(api, lesion, b"not a photo", idempotency_key="retry-me")
    accepted = upload(api, lesion, make_jpeg(), idempotency_key="retry-me")

    assert refused.status_code == 400
    assert accepted.status_code == 201
    assert LesionImage.objects.count() == 1


def test_a_failure_while_storing_leaves_no_key_no_row_and_no_file(
    api: APIClient, lesion: Lesion, media_files: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_queue(*, image: Any) -> None:
        raise RuntimeError("broker exploded")

    monkeypatch.setattr("ml.services.predictions_create_for_image", broken_queue)

    with pytest.raises(RuntimeError):
        upload(api, lesion, make_jpeg(), idempotency_key="k")

    assert not IdempotencyKey.objects.exists()
    assert not LesionImage.objects.exists()
    assert not Visit.objects.exists()
    assert media_files() == []


@pytest.mark.parametrize("key", ["", "   ", "x" * 256])
def test_an_empty_or_overlong_key_is_refused(api: APIClient, lesion: Lesion, key: str) -> None:
    response = upload(api, lesion, make_jpeg(), idempotency_key=key)

    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()
    assert not LesionImage.objects.exists()


def test_a_retry_that_lost_the_race_replays_the_winner(
    api: APIClient, lesion: Lesion, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two retries both found the key unused; the second one's claim hits the unique index."""
    photo = make_jpeg()
    first = upload(api, lesion, photo, idempotency_key="race")
    monkeypatch.setattr(idempotency, "idempotency_replay", lambda **kwargs: None)  # looked too early

    second = upload(api, lesion, photo, idempotency_key="race")

    assert second.status_code == 201
    assert second.content == first.content
    assert LesionImage.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_retries_store_one_photo(clinician: Any, lesion: Lesion, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real concurrency needs row locks: PostgreSQL (the CI runs the suite on it too)."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite has no concurrent writers to race")
    monkeypatch.setattr(idempotency, "idempotency_replay", lambda **kwargs: None)  # both look before either commits
    real_upload = services.lesion_image_upload
    inside = threading.Event()

    def slow_upload(**kwargs: Any) -> LesionImage:
        inside.set()
        threading.Event().wait(0.5)  # hold the claimed key while the other request arrives
        return real_upload(**kwargs)

    monkeypatch.setattr(services, "lesion_image_upload", slow_upload)
    photo = make_jpeg()
    clients = [token_client(clinician), token_client(clinician)]  # the phone and its retry
    responses: list[Any] = []

    def send(client: APIClient, wait: bool) -> None:
        try:
            if wait:
                inside.wait(5)
            responses.append(upload(client, lesion, photo, idempotency_key="concurrent"))
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=send, args=(client, wait)) for client, wait in zip(clients, (False, True), strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert [r.status_code for r in responses] == [201, 201]
    assert responses[0].content == responses[1].content
    assert LesionImage.objects.count() == 1


def test_keys_older_than_the_ttl_are_purged_and_the_key_then_counts_as_new(
    api: APIClient, lesion: Lesion, active_model: ModelVersion, settings: Any
) -> None:
    settings.IDEMPOTENCY_KEY_TTL_HOURS = 48
    photo = make_jpeg()
    upload(api, lesion, photo, idempotency_key="old")
    upload(api, lesion, make_jpeg(width=210), idempotency_key="recent")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - dt.timedelta(hours=49))
    IdempotencyKey.objects.filter(key="recent").update(created_at=timezone.now() - dt.timedelta(hours=47))

    assert purge_idempotency_keys_task() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["recent"]

    again = upload(api, lesion, photo, idempotency_key="old")
    assert again.status_code == 201 and not again.has_header("Idempotent-Replayed")
    assert LesionImage.objects.count() == 3

    out = io.StringIO()
    call_command("purge_idempotency_keys", "--hours", "0", stdout=out)
    assert "Deleted 2 idempotency key(s) older than 0 hours." in out.getvalue()
    assert not IdempotencyKey.objects.exists()
