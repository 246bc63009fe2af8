"""Weights manifests: what is refused, what round-trips, and calibration applied from the manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from ml.engine.architectures import create_classifier_model
from ml.engine.inference.classifier import Classifier, calibrated_probabilities
from ml.engine.inference.preprocess import PreprocessConfig, prepare_model_input
from ml.engine.labels import HAM10000_CLASSES
from ml.engine.manifest import Manifest, ManifestError, file_sha256, find_manifests, save_model

INPUT = (3, 64, 80)


def save(model: torch.nn.Module, path: Path, architecture: str = "tf_efficientnet_lite0", **options) -> Manifest:
    return save_model(
        model,
        path,
        name=path.stem,
        architecture=architecture,
        input_size=INPUT,
        mean=(0.5, 0.5, 0.5),
        std=(0.5, 0.5, 0.5),
        **options,
    )


def edit_manifest(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    manifest = save(create_classifier_model("tf_efficientnet_lite0"), tmp_path / "lite.json")
    assert manifest.path is not None
    return manifest.path


@pytest.mark.parametrize("architecture", ["tf_efficientnet_lite0", "resnet18"])
def test_round_trip_gives_identical_logits(tmp_path: Path, architecture: str) -> None:
    torch.manual_seed(1)
    model = create_classifier_model(architecture).eval()
    # Non-trivial running statistics, so BatchNorm buffers must round-trip too.
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    manifest = save(model, tmp_path / "m.json", architecture=architecture)
    x = torch.randn(2, *INPUT)

    loaded = Manifest.load(tmp_path / "m.json").build_model()
    with torch.inference_mode():
        assert torch.equal(model(x), loaded(x))

    with Classifier.from_manifest(manifest.path) as classifier, torch.inference_mode():
        logits = classifier.model(x.contiguous(memory_format=torch.channels_last))
        torch.testing.assert_close(logits, model(x), rtol=1e-4, atol=1e-4)  # other conv kernels


def test_wrong_sha256_is_refused(saved: Path) -> None:
    edit_manifest(saved, weights_sha256="f" * 64)
    with pytest.raises(ManifestError, match="does not match"):
        Classifier.from_manifest(saved)


def test_weights_changed_after_release_are_refused(saved: Path) -> None:
    weights = saved.with_suffix(".safetensors")
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="does not match"):
        Classifier.from_manifest(saved)


def test_wrong_classes_are_refused(saved: Path) -> None:
    edit_manifest(saved, classes=list(reversed(HAM10000_CLASSES)))
    with pytest.raises(ManifestError, match="classes"):
        Classifier.from_manifest(saved)


def test_missing_files_are_refused(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="not found"):
        Classifier.from_manifest(tmp_path / "nothing.json")
    saved.with_suffix(".safetensors").unlink()
    with pytest.raises(ManifestError, match="not found"):
        Classifier.from_manifest(saved)


def test_corrupt_weights_with_a_matching_hash_are_refused(saved: Path) -> None:
    weights = saved.with_suffix(".safetensors")
    weights.write_bytes(b"\x00\x01garbage" * 100)
    edit_manifest(saved, weights_sha256=file_sha256(weights))
    with pytest.raises(ManifestError, match="safetensors"):
        Classifier.from_manifest(saved)


def test_weights_of_another_architecture_are_refused(saved: Path, tmp_path: Path) -> None:
    other = save(create_classifier_model("resnet18"), tmp_path / "other.json", architecture="resnet18")
    edit_manifest(saved, weights_file=other.weights_file, weights_sha256=other.weights_sha256)
    with pytest.raises(ManifestError, match="does not fit"):
        Classifier.from_manifest(saved)


def test_unknown_architecture_is_a_manifest_error(saved: Path) -> None:
    edit_manifest(saved, architecture="vit_tiny_patch16_224")
    with pytest.raises(ManifestError, match="vit_tiny"):
        Classifier.from_manifest(saved)


def test_bad_logit_bias_and_temperature_are_refused(saved: Path) -> None:
    edit_manifest(saved, logit_bias=[0.0, 1.0])
    with pytest.raises(ManifestError, match="logit_bias"):
        Manifest.load(saved)
    edit_manifest(saved, logit_bias=None, temperature=0)
    with pytest.raises(ManifestError, match="temperature"):
        Manifest.load(saved)


def test_temperature_and_logit_bias_are_applied(tmp_path: Path) -> None:
    torch.manual_seed(2)
    model = create_classifier_model("tf_efficientnet_lite0").eval()
    bias = [0.0, 0.5, -0.5, 1.0, 0.0, -1.0, 0.25]
    manifest = save(model, tmp_path / "cal.json", temperature=2.5, logit_bias=bias)
    photo = Image.new("RGB", (120, 90), (180, 120, 100))

    prepared = prepare_model_input(photo.copy(), PreprocessConfig.from_manifest(manifest))
    with torch.inference_mode():
        logits = model(prepared.tensor[None])[0]
    expected = torch.softmax((logits + torch.tensor(bias)) / 2.5, dim=0)
    plain = torch.softmax(logits, dim=0)

    with Classifier.from_manifest(manifest.path) as classifier:
        got = classifier.analyse(photo, gradcam=False).probabilities
    got_tensor = torch.tensor([got[c] for c in HAM10000_CLASSES])
    torch.testing.assert_close(got_tensor, expected, rtol=0, atol=1e-5)
    assert not torch.allclose(got_tensor, plain, atol=1e-3)


def test_logit_bias_can_change_the_top_class(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = create_classifier_model("tf_efficientnet_lite0")
    bias = [0.0] * 7
    bias[HAM10000_CLASSES.index("df")] = 50.0
    manifest = save(model, tmp_path / "biased.json", logit_bias=bias)
    with Classifier.from_manifest(manifest.path) as classifier:
        analysis = classifier.analyse(Image.new("RGB", (100, 80), (90, 60, 50)))
    assert analysis.top_class == "df" == analysis.cam_class
    assert analysis.confidence > 0.99


def test_calibrated_probabilities() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    assert torch.allclose(calibrated_probabilities(logits), torch.softmax(logits, 1))
    flatter = calibrated_probabilities(logits, temperature=4.0)
    assert flatter.max() < torch.softmax(logits, 1).max()
    shifted = calibrated_probabilities(logits, logit_bias=[0.0, 3.0, 0.0])
    assert int(shifted.argmax()) == 1
    assert torch.allclose(shifted.sum(), torch.tensor(1.0))


def test_find_manifests_lists_only_manifests(saved: Path) -> None:
    (saved.parent / "notes.json").write_text(json.dumps({"hello": 1}))
    (saved.parent / "broken.json").write_text("{")
    assert find_manifests(saved.parent) == [saved]
