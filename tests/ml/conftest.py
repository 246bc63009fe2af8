"""Fixtures for the Django side of the analysis: tiny random-initialised models on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ml.engine.architectures import create_classifier_model
from ml.engine.manifest import save_model

TINY_INPUT = (3, 64, 80)


def write_tiny_model(folder: Path, name: str, architecture: str = "tf_efficientnet_lite0", seed: int = 0) -> Path:
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
        temperature=1.5,
        metrics={"test": {"accuracy": 0.5}},
        description="random weights for tests",
    ).path


@pytest.fixture(scope="session")
def tiny_models_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("weights-source")
    write_tiny_model(folder, "tiny_effnet")
    return folder


@pytest.fixture
def tiny_weights_dir(tiny_models_source: Path, tmp_path: Path, settings, db) -> Path:
    """A weights folder with one tiny EfficientNet, registered as the active default model."""
    import shutil

    from ml.services import classifiers_clear, model_versions_sync

    folder = tmp_path / "weights"
    shutil.copytree(tiny_models_source, folder)
    settings.ML_WEIGHTS_DIR = folder
    settings.ML_DEFAULT_MODEL = ""
    classifiers_clear()
    model_versions_sync(weights_dir=folder)
    yield folder
    classifiers_clear()
