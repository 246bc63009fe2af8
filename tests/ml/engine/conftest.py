"""Fixtures for the engine tests (the material itself is in ``tests.ml.engine.synthetic``).

One thread (torch, BLAS, OpenMP), for these and every other test, is set by tests/__init__.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from PIL import Image
from torch import nn

from ml.engine.inference.classifier import Classifier
from ml.engine.manifest import Manifest
from tests.ml.engine.synthetic import (
    PhotoFactory,
    RegionNet,
    count_hooks,
    draw_photo,
    jpeg_image,
    make_region_manifest,
    write_tiny_model,
)


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


@pytest.fixture
def hook_count() -> Callable[[nn.Module], int]:
    return count_hooks
