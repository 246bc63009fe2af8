"""Fixtures for the engine tests: tiny models saved with ``save_model`` and generated photos.

Nothing here reads ``/work/shared`` or downloads weights.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from ml.engine.architectures import create_classifier_model
from ml.engine.classifier import Classifier
from ml.engine.manifest import Manifest, save_model

TINY_ARCHITECTURE = "tf_efficientnet_lite0"
TINY_INPUT = (3, 64, 80)  # C, H, W: landscape, to exercise non-square inputs
GREY = (128, 128, 128)
RED = (255, 0, 0)
GREEN = (0, 255, 0)

Box = tuple[int, int, int, int]  # left, top, right, bottom in pixels
PhotoFactory = Callable[..., Image.Image]


class RegionNet(nn.Module):
    """A model whose evidence is known: class 0 is "red", class 1 is "green but not red".

    ``features`` (conv 4x4 stride 4 + ReLU, the Grad-CAM layer) has a red detector
    channel and a green detector channel, each 0 on grey. The head is global average
    pooling and a linear layer; class 1 weighs the red channel negatively, so a correct
    Grad-CAM for class 1 must be zero on red patches.
    """

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 2, kernel_size=4, stride=4), nn.ReLU())
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2, 7)
        with torch.no_grad():
            weight = torch.zeros(2, 3, 4, 4)
            weight[0, 0], weight[0, 1], weight[0, 2] = 1.0, -0.5, -0.5  # red minus the rest
            weight[1, 1], weight[1, 0], weight[1, 2] = 1.0, -0.5, -0.5  # green minus the rest
            self.features[0].weight.copy_(weight / 16)
            self.features[0].bias.zero_()
            self.fc.weight.zero_()
            self.fc.bias.zero_()
            self.fc.weight[0, 0] = 10.0
            self.fc.weight[1, 0] = -10.0
            self.fc.weight[1, 1] = 10.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.pool(self.features(x)).flatten(1))


def make_region_manifest() -> Manifest:
    """A manifest for ``RegionNet``: input 64x80, pixels scaled to [0, 1] and not shifted."""
    return Manifest(
        name="region",
        architecture="regionnet",  # not in the table: tests pass the target layer directly
        weights_file="unused.safetensors",
        weights_sha256="0" * 64,
        input_size=list(TINY_INPUT),
        mean=[0.0, 0.0, 0.0],
        std=[1.0, 1.0, 1.0],
        interpolation="bilinear",
    )


def draw_photo(
    width: int,
    height: int,
    patches: Sequence[tuple[Box, tuple[int, int, int]]] = (),
    background: tuple[int, int, int] = GREY,
) -> Image.Image:
    """An RGB photo of one colour with solid rectangular patches."""
    image = Image.new("RGB", (width, height), background)
    for (left, top, right, bottom), colour in patches:
        image.paste(colour, (left, top, right, bottom))
    return image


def jpeg_image(image: Image.Image, orientation: int | None = None, quality: int = 95) -> Image.Image:
    """The image saved as JPEG (with an EXIF orientation tag if given) and reopened lazily."""
    buffer = io.BytesIO()
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    image.save(buffer, "JPEG", quality=quality, exif=exif.tobytes())
    buffer.seek(0)
    return Image.open(buffer)


@pytest.fixture(scope="package", autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from threads, and on a busy 2-core machine threads thrash."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def make_photo() -> PhotoFactory:
    """``make_photo(width, height, patches=[(box, colour)], background=GREY)``."""
    return draw_photo


@pytest.fixture
def make_jpeg() -> Callable[..., Image.Image]:
    """``make_jpeg(image, orientation=None)``: the image as a lazily opened JPEG."""
    return jpeg_image


@pytest.fixture
def region_net() -> RegionNet:
    return RegionNet().eval()


@pytest.fixture
def region_manifest() -> Manifest:
    return make_region_manifest()


@pytest.fixture
def region_classifier(region_net: RegionNet, region_manifest: Manifest) -> Iterator[Classifier]:
    """A Classifier around ``RegionNet`` with its Grad-CAM on ``features``."""
    with Classifier(region_net, region_manifest, target_layer_module=region_net.features) as classifier:
        yield classifier


def write_tiny_model(
    folder: Path,
    name: str = "tiny",
    architecture: str = TINY_ARCHITECTURE,
    seed: int = 0,
    **options: object,
) -> Manifest:
    """A random-initialised timm model saved with ``save_model`` (64x80 input, mean = std = 0.5)."""
    torch.manual_seed(seed)
    model = create_classifier_model(architecture)
    return save_model(
        model,
        folder / f"{name}.json",
        name=name,
        architecture=architecture,
        input_size=TINY_INPUT,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        description="random weights for tests",
        **options,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="session")
def tiny_manifest_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Manifest of a random tf_efficientnet_lite0 at 64x80, written once per session."""
    manifest = write_tiny_model(tmp_path_factory.mktemp("engine-weights"))
    assert manifest.path is not None
    return manifest.path


@pytest.fixture(scope="session")
def tiny_classifier(tiny_manifest_path: Path) -> Iterator[Classifier]:
    """A Classifier loaded from the tiny manifest, shared by the tests that only read from it."""
    with Classifier.from_manifest(tiny_manifest_path) as classifier:
        yield classifier


def count_hooks(model: nn.Module) -> int:
    """Forward, forward-pre, backward and backward-pre hooks on every module of a model."""
    total = 0
    for module in model.modules():
        for attribute in (
            "_forward_hooks",
            "_forward_pre_hooks",
            "_backward_hooks",
            "_backward_pre_hooks",
        ):
            total += len(getattr(module, attribute, {}))
    return total


@pytest.fixture
def hook_count() -> Callable[[nn.Module], int]:
    return count_hooks
