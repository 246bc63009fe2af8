"""clinic.files: files written inside atomic_with_files() disappear if the block fails."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from clinic.files import atomic_with_files, track_file
from clinic.models import Clinic

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def _write(name: str) -> str:
    stored = default_storage.save(name, ContentFile(b"data"))
    track_file(stored)
    return stored


def test_it_keeps_files_and_rows_when_the_block_succeeds(media_files: Any) -> None:
    with atomic_with_files():
        name = _write("kept.bin")
        Clinic.objects.create(name="Kept")

    assert default_storage.exists(name)
    assert Clinic.objects.filter(name="Kept").exists()


def test_it_removes_files_and_rows_when_the_block_fails(media_files: Any) -> None:
    with pytest.raises(Boom), atomic_with_files():
        _write("a.bin")
        _write("b.bin")
        Clinic.objects.create(name="Rolled back")
        raise Boom

    assert media_files() == []
    assert not Clinic.objects.filter(name="Rolled back").exists()


def test_an_outer_failure_removes_files_of_an_inner_block_that_succeeded(media_files: Any) -> None:
    with pytest.raises(Boom), atomic_with_files():
        with atomic_with_files():
            _write("inner.bin")
        _write("outer.bin")
        raise Boom

    assert media_files() == []


def test_an_inner_failure_caught_by_the_outer_block_keeps_the_outer_files(media_files: Any) -> None:
    with atomic_with_files():
        outer = _write("outer.bin")
        with pytest.raises(Boom), atomic_with_files():
            _write("inner.bin")
            raise Boom

    assert [path.name for path in media_files()] == [outer]


def test_it_refuses_to_track_outside_a_block() -> None:
    with pytest.raises(RuntimeError):
        track_file("loose.bin")


def test_behind_the_front_proxy_the_file_answer_says_no_store_too(client: Any, prediction: Any, settings: Any) -> None:
    from django.urls import reverse

    settings.PROTECTED_MEDIA_REDIRECT_PREFIX = "/protected-media/"
    client.force_login(prediction.image.uploaded_by)

    response = client.get(reverse("lesion-image-file", args=[prediction.image.uuid]))

    assert response["X-Accel-Redirect"] == f"/protected-media/{prediction.image.image.name}"
    assert "no-store" in response["Cache-Control"]
