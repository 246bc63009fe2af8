"""API clients for the four callers, and helpers to upload photos through the API.

The callers and records come from tests/conftest.py: ``clinician`` and ``clinic_admin`` of
``clinic``, ``outsider`` of ``other_clinic``, and anonymous.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from io import BytesIO
from typing import Any

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from lesions.models import Lesion
from ml.models import ModelVersion
from tests.factories import ModelVersionFactory

CALLERS = ["clinician", "clinic_admin", "outsider", "anonymous"]


@pytest.fixture(autouse=True)
def fresh_throttle_counts() -> Iterator[None]:
    """Throttle counters live in the cache: each test starts with none."""
    cache.clear()
    yield
    cache.clear()


def token_client(user: Any) -> APIClient:
    """A client that authenticates like a phone app: ``Authorization: Token <key>``."""
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def api_as(request: pytest.FixtureRequest) -> Callable[[str], APIClient]:
    """``api_as("clinician")``: a token client for a caller of CALLERS (anonymous: none)."""

    def make(caller: str) -> APIClient:
        return token_client(None if caller == "anonymous" else request.getfixturevalue(caller))

    return make


@pytest.fixture
def api(clinician: Any) -> APIClient:
    """The clinician's token client."""
    return token_client(clinician)


@pytest.fixture
def active_model(db: None) -> ModelVersion:
    """An active model version: every upload gets a pending prediction (never run in tests,
    whose transaction never commits)."""
    return ModelVersionFactory(is_default=True)


def photo_upload(content: bytes, name: str = "photo.jpg", content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


def upload(client: APIClient, lesion: Lesion | str, photo: Any = None, **fields: Any) -> Any:
    """POST a photo to a lesion through the API (multipart); ``photo`` bytes or an upload."""
    lesion_id = lesion.uuid if isinstance(lesion, Lesion) else lesion
    data: dict[str, Any] = {"image_type": "dermoscopic", **fields}
    if photo is not None:
        data["photo"] = photo_upload(photo) if isinstance(photo, bytes) else photo
    headers = {}
    if "idempotency_key" in data:
        headers["HTTP_IDEMPOTENCY_KEY"] = data.pop("idempotency_key")
    data = {k: v for k, v in data.items() if v is not None}
    return client.post(reverse("api-lesion-images", args=[lesion_id]), data, format="multipart", **headers)


def streamed(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def image_from(response: Any) -> Any:
    from PIL import Image

    return Image.open(BytesIO(streamed(response)))
