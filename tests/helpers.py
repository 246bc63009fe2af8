"""Helpers shared by test modules: sample photos, API clients and uploads, tiny models, outlines, follow-up rows.

Fixtures live in the conftest modules; plain functions and constants that tests import live
here (a conftest module is pytest's to load, not a module to import from).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from base64 import b64encode
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urlencode

import torch
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient
from torch import nn

from clinic.auth import api_token_create
from integrations.models import IntegrationClient
from integrations.services import integration_client_create
from lesions.models import Lesion
from ml.models import ModelVersion
from tests.factories import LesionImageFactory, PredictionFactory, VisitFactory, visit_form_data

# The committed real HAM10000 dermoscopy photos (lesions/fixtures/ham10000_sample/images/).
SAMPLE_PHOTOS_DIR = Path(__file__).resolve().parent.parent / "lesions" / "fixtures" / "ham10000_sample" / "images"

# --- photos through the pages --------------------------------------------------------------


def sample_photo(name: str = "photo.jpg") -> SimpleUploadedFile:
    """The first committed sample photo as an upload."""
    path = sorted(SAMPLE_PHOTOS_DIR.glob("*.jpg"))[0]
    return SimpleUploadedFile(name, path.read_bytes(), content_type="image/jpeg")


def upload_visit(client: Client, lesion: Lesion, photo: SimpleUploadedFile) -> Any:
    """POST the new-visit form with one photo of ``lesion``."""
    return client.post(
        reverse("visit-create", args=[lesion.patient.uuid]),
        visit_form_data({"lesion": str(lesion.uuid), "photo": photo}, date="2026-11-01"),
    )


# --- the API -------------------------------------------------------------------------------

CALLERS = ["clinician", "clinic_admin", "outsider", "anonymous"]


def token_client(user: Any) -> APIClient:
    """A client that authenticates like a phone app: ``Authorization: Token <key>``."""
    client = APIClient()
    if user is not None:
        _, token = api_token_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


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


# --- models on disk ------------------------------------------------------------------------


# Test figures that pass ml.engine.manifest.QUALITY_BAR (a model with them analyses photos by default).
PASSING_TEST_METRICS: dict[str, Any] = {
    "test": {
        "images": 100,
        "metrics": {
            "accuracy": 0.9,
            "balanced_accuracy": 0.8,
            "melanoma": {"sensitivity": 0.7},
            "melanoma_flag": {"threshold": 0.2, "sensitivity": 0.95, "specificity": 0.85},
        },
    }
}


def write_tiny_model(
    folder: Path,
    name: str,
    architecture: str = "tf_efficientnet_lite0",
    seed: int = 0,
    metrics: dict[str, Any] | None = None,
    **options: Any,
) -> Path:
    """The engine tests' tiny random model, with a temperature and metrics like a shipped manifest.

    Its default test figures (accuracy 0.5) fail the quality bar; pass ``PASSING_TEST_METRICS`` for
    a model that analyses photos by default without being the default.
    """
    from tests.ml.engine.synthetic import write_tiny_model as engine_tiny_model

    metrics = {"test": {"accuracy": 0.5}} if metrics is None else metrics
    manifest = engine_tiny_model(folder, name, architecture, seed, temperature=1.5, metrics=metrics, **options)
    return manifest.path


def write_ensemble(
    folder: Path,
    members: Sequence[str],
    name: str = "deployed",
    views: Sequence[str] = ("identity", "hflip"),
    **options: Any,
) -> Path:
    """An ensemble manifest over the member models already in ``folder`` (by name), written beside them."""
    from ml.engine.inference.ensemble_manifest import EnsembleManifest
    from ml.engine.manifest import Manifest

    manifests = [Manifest.load(folder / f"{member}.json") for member in members]
    ensemble = EnsembleManifest(
        name=name,
        members=[{"name": m.name, "manifest": f"{m.name}.json", "weights_sha256": m.weights_sha256} for m in manifests],
        views=list(views),
        input_size=list(manifests[0].input_size),
        **options,
    )
    return ensemble.write(folder / f"{name}.json")


# --- follow-up: photos with finished analyses ----------------------------------------------

NAEVUS = {"akiec": 0.01, "bcc": 0.02, "bkl": 0.05, "df": 0.01, "mel": 0.06, "nv": 0.83, "vasc": 0.02}
MELANOMA = {"akiec": 0.02, "bcc": 0.03, "bkl": 0.05, "df": 0.01, "mel": 0.62, "nv": 0.25, "vasc": 0.02}


def photo_with(lesion: Lesion, day: dt.date, model: ModelVersion, probabilities: dict[str, float] | None) -> Any:
    """A photo of ``lesion`` at the visit of ``day``, analysed by ``model`` (None: not analysed)."""
    visit = lesion.patient.visits.filter(date=day).first() or VisitFactory(patient=lesion.patient, date=day)
    image = LesionImageFactory(lesion=lesion, visit=visit)
    if probabilities is not None:
        image.predictions.filter(model_version=model).delete()  # the pending one queued on upload
        top = max(probabilities, key=probabilities.__getitem__)
        PredictionFactory(
            image=image, model_version=model, probabilities=probabilities, top_class=top, confidence=probabilities[top]
        )
    from followup.flags_sync import lesion_flags_sync

    lesion_flags_sync(lesion=lesion)  # as the worker does once an analysis of the photo is done
    return image


# --- lesion outlines -------------------------------------------------------------------------

SEGMENTER_INPUT = [3, 48, 60]  # the tiny classifier's 4:5 aspect, smaller: its input is resized, not re-made


class DarkSpotNet(nn.Module):
    """A segmentation 'model' whose outline is known: lesion = clearly darker than the photo's mean, not at its rim.

    Inputs normalised with mean = std = 0.5 (so in [-1, 1]); the logits are steep, so the outline
    is the region at least 0.12 below the mean brightness inside the central ellipse. On the
    factories' photos that is exactly the dark ellipse; on the HAM10000 sample it is the lesion.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        brightness = x.mean(dim=1, keepdim=True)
        mean = brightness.mean(dim=(2, 3), keepdim=True)
        height, width = x.shape[-2:]
        ys = torch.linspace(-1, 1, height).view(1, 1, height, 1)
        xs = torch.linspace(-1, 1, width).view(1, 1, 1, width)
        inside = (xs**2 + ys**2) < 0.85**2
        return torch.where(inside, 20 * (mean - brightness - 0.12), torch.full_like(brightness, -10.0))


def write_test_segmenter(folder: Path, name: str = "dark_spot") -> Path:
    """A segmentation manifest the app finds in ``folder``; ``dark_spot_segmenter`` is what it loads in tests."""
    from ml.engine.segmentation.model import SegmentationManifest

    weights = folder / f"{name}.safetensors"
    weights.write_bytes(b"stands in for the weights: tests load DarkSpotNet instead")
    manifest = SegmentationManifest(
        name=name,
        encoder="dark_spot",
        weights_file=weights.name,
        weights_sha256=hashlib.sha256(weights.read_bytes()).hexdigest(),
        input_size=list(SEGMENTER_INPUT),
        interpolation="bilinear",
        description="deterministic test segmenter",
    )
    return manifest.write(folder / f"{name}.json")


def dark_spot_segmenter(path: Path) -> Any:
    """The segmenter behind ``write_test_segmenter``'s manifest: what ``ml.outlines.segmenter_build`` gives in tests."""
    from ml.engine.segmentation.model import SegmentationManifest, Segmenter

    return Segmenter(DarkSpotNet(), SegmentationManifest.load(path), channels_last=False)


def write_random_segmenter(folder: Path, name: str = "random_unet") -> Path:
    """A real LesionUNet with random weights saved like a shipped one (loaded and verified by the engine)."""
    from ml.engine.segmentation.model import LesionUNet, save_segmentation_model

    torch.manual_seed(0)
    model = LesionUNet(decoder_channels=(8, 8, 8, 8)).eval()
    manifest = save_segmentation_model(
        model,
        folder / f"{name}.json",
        dtype=torch.float16,
        name=name,
        encoder="tf_efficientnet_lite0",
        decoder_channels=[8, 8, 8, 8],
        input_size=list(SEGMENTER_INPUT),
    )
    assert manifest.path is not None
    return manifest.path


def stored_measurements(
    width: int = 200,
    height: int = 150,
    *,
    area_fraction: float = 0.2,
    diameter_fraction: float = 0.5,
    colours: dict[str, float] | None = None,
    asymmetry: tuple[float, float] = (0.05, 0.04),
    compactness: float = 1.1,
) -> dict[str, Any]:
    """An outline's stored measurements (as ``ml.outlines`` writes them) for a photo of width × height."""
    colours = {"dark_brown": 0.7, "light_brown": 0.3} if colours is None else colours
    longer = max(width, height)
    return {
        "area_px": area_fraction * width * height,
        "area_fraction": area_fraction,
        "diameter_px": diameter_fraction * longer,
        "diameter_fraction": diameter_fraction,
        "width_px": 0.8 * diameter_fraction * longer,
        "perimeter_px": 3.3 * diameter_fraction * longer,
        "compactness": compactness,
        "asymmetry_major_axis": asymmetry[0],
        "asymmetry_minor_axis": asymmetry[1],
        "asymmetry": max(asymmetry),
        "colours": [c for c, share in colours.items() if share >= 0.05],
        "colour_shares": colours,
    }


def outline_with(image: Any, **measurements: Any) -> Any:
    """A finished outline of ``image`` with ``stored_measurements(**measurements)``."""
    from tests.factories import LesionOutlineFactory

    return LesionOutlineFactory(
        image=image, measurements=stored_measurements(image.width, image.height, **measurements)
    )


# --- what a stored photo file holds ----------------------------------------------------------


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of each segment of a JPEG before its image data (SOS), in order."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    segments, position = [], 2
    while data[position] == 0xFF and data[position + 1] != 0xDA:
        marker = data[position + 1]
        length = int.from_bytes(data[position + 2 : position + 4], "big")
        segments.append((marker, data[position + 4 : position + 2 + length]))
        position += 2 + length
    return segments


def png_chunks(data: bytes) -> list[bytes]:
    """The chunk types of a PNG, in order."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    kinds, position = [], 8
    while position < len(data):
        length = int.from_bytes(data[position : position + 4], "big")
        kinds.append(data[position + 4 : position + 8])
        position += 12 + length
    return kinds


# --- integrations (OAuth 2.0 client credentials) -------------------------------------------


def integration_client(clinic: Any, scope: str, name: str = "Interface engine") -> tuple[IntegrationClient, str]:
    """A new integration client of ``clinic`` with ``scope``: the row and its secret."""
    return integration_client_create(clinic=clinic, name=name, scope=scope, created_by=None)


def basic_auth(client_id: str, secret: str) -> str:
    """The ``Authorization`` header of client_secret_basic (RFC 6749 2.3.1: each part form-encoded)."""
    return "Basic " + b64encode(f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()).decode()


def token_request(data: dict[str, str], **headers: Any) -> Any:
    """A form-encoded POST to the token endpoint, as OAuth clients send it."""
    return Client().post(
        reverse("oauth-token"), urlencode(data), content_type="application/x-www-form-urlencoded", **headers
    )


def client_token(client_id: str, secret: str, scope: str | None = None, **headers: Any) -> Any:
    """The token endpoint's answer to a client-credentials request with HTTP Basic."""
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope is not None else {})}
    return token_request(data, HTTP_AUTHORIZATION=basic_auth(client_id, secret), **headers)


def bearer_client(clinic: Any, scope: str) -> APIClient:
    """An API client carrying a Bearer token of a new integration client of ``clinic`` with ``scope``."""
    client, secret = integration_client(clinic, scope)
    response = client_token(client.client_id, secret)
    assert response.status_code == 200, response.content
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['access_token']}")
    return api
