"""Every kind of bad upload, through the web form and the API: a clear refusal, nothing stored."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from io import BytesIO

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from lesions.models import Lesion, LesionImage, Visit
from tests.factories import PATIENT_TEXT, make_jpeg, make_jpeg_with_text, visit_form_data
from tests.helpers import jpeg_segments, token_client, upload


def text_renamed_jpg() -> bytes:
    return b"Patient notes, definitely not a photo.\n" * 20


def truncated_jpeg() -> bytes:
    data = make_jpeg()
    return data[: len(data) // 2]


def decompression_bomb() -> bytes:
    """A tiny PNG whose header claims 40,000 x 40,000 pixels (1.6 gigapixels)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 40_000, 40_000, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )


def animated_png() -> bytes:
    frames = [Image.new("RGB", (64, 48), colour) for colour in ((200, 0, 0), (0, 200, 0))]
    out = BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


def oversize_jpeg() -> bytes:
    return make_jpeg()  # over the limit once UPLOAD_MAX_BYTES is lowered in the test


BAD_UPLOADS: dict[str, tuple[Callable[[], bytes], str]] = {
    "text file named .jpg": (text_renamed_jpg, "not a readable image"),
    "truncated jpeg": (truncated_jpeg, "damaged or incomplete"),
    "decompression bomb": (decompression_bomb, "megapixels"),
    "animated png": (animated_png, "multi-frame"),
    "over the size limit": (oversize_jpeg, "the limit is"),
}


@pytest.fixture
def small_limit(settings) -> None:
    settings.UPLOAD_MAX_BYTES = 1024


@pytest.fixture(params=list(BAD_UPLOADS))
def bad_upload(request: pytest.FixtureRequest) -> tuple[bytes, str]:
    """Each of BAD_UPLOADS: (the file, the message that refuses it); the size limit lowered for the large one."""
    make, message = BAD_UPLOADS[request.param]
    content = make()
    if request.param == "over the size limit":
        request.getfixturevalue("small_limit")
    return content, message


def nothing_stored(media_files) -> None:
    assert LesionImage.objects.count() == 0
    assert Visit.objects.count() == 0
    assert media_files() == []


def test_the_web_form_refuses_it_and_stores_nothing(bad_upload, clinician_client, lesion: Lesion, media_files):
    content, message = bad_upload
    response = clinician_client.post(
        reverse("visit-create", args=[lesion.patient.uuid]),
        visit_form_data({"lesion": lesion.uuid, "photo": SimpleUploadedFile("photo.jpg", content, "image/jpeg")}),
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    nothing_stored(media_files)


def test_the_api_refuses_it_with_a_400_and_stores_nothing(bad_upload, clinician, lesion: Lesion, media_files):
    content, message = bad_upload
    response = upload(token_client(clinician), lesion, content, image_type="dermoscopic")
    assert response.status_code == 400
    assert message in " ".join(response.json()["photo"])
    nothing_stored(media_files)


def test_the_stored_file_of_a_web_upload_holds_no_comment_or_metadata(clinician_client, lesion: Lesion) -> None:
    photo = SimpleUploadedFile("photo.jpg", make_jpeg_with_text(), "image/jpeg")
    response = clinician_client.post(
        reverse("visit-create", args=[lesion.patient.uuid]), visit_form_data({"lesion": lesion.uuid, "photo": photo})
    )
    assert response.status_code == 302

    stored = LesionImage.objects.get().image.read()

    assert PATIENT_TEXT.encode() not in stored
    assert [marker for marker, _ in jpeg_segments(stored) if marker == 0xFE or 0xE1 <= marker <= 0xEF] == []


def test_the_stored_file_of_an_api_upload_holds_no_comment_or_metadata(clinician, lesion: Lesion) -> None:
    response = upload(token_client(clinician), lesion, make_jpeg_with_text())
    assert response.status_code == 201

    stored = LesionImage.objects.get().image.read()

    assert PATIENT_TEXT.encode() not in stored
    assert [marker for marker, _ in jpeg_segments(stored) if marker == 0xFE or 0xE1 <= marker <= 0xEF] == []
