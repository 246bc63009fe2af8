"""Grad-CAM layers from timm's feature_info (with the EfficientNet override): the last spatial map before pooling."""

from __future__ import annotations

import pytest
import torch

from ml.engine.architectures import (
    UnknownArchitectureError,
    create_classifier_model,
    target_layer,
    target_layer_name,
)
from ml.engine.inference.gradcam import GradCAM
from ml.engine.labels import CLASS_NAMES, HAM10000_CLASSES, MALIGNANT_CLASSES

# One small timm model per CNN family the project has used or tested.
REPRESENTATIVES = {
    "resnet": "resnet10t",
    "resnext": "resnext50_32x4d",
    "seresnet": "seresnet18",
    "efficientnet": "efficientnet_b0",
    "tf_efficientnet": "tf_efficientnet_b0",
    "tf_efficientnet_lite": "tf_efficientnet_lite0",
    "mobilenetv3": "mobilenetv3_small_050",
    "tf_mobilenetv3": "tf_mobilenetv3_small_minimal_100",
    "densenet": "densenet121",
    "convnext": "convnext_atto",
    "regnet": "regnetx_002",
    "byobnet": "resnext26ts",
}


@pytest.mark.parametrize("name", sorted(REPRESENTATIVES.values()))
def test_target_layer_is_the_last_feature_map_and_gives_a_cam(name: str) -> None:
    torch.manual_seed(0)
    model = create_classifier_model(name).eval()
    x = torch.randn(1, 3, 64, 96)
    with torch.inference_mode():
        features = model.forward_features(x)
    with GradCAM(model, target_layer(model, name)) as gradcam:
        result = gradcam(x)
    # Same spatial grid as the features that reach the pooling layer: nothing later, nothing coarser.
    assert result.cams.shape[1:] == features.shape[-2:] == (2, 3)
    assert result.logits.shape == (1, len(HAM10000_CLASSES))
    assert torch.allclose(result.logits, model(x), atol=1e-4)  # the hook changes nothing
    assert result.cams.min() >= 0 and result.cams.max() <= 1


def test_layers_come_from_feature_info_with_the_efficientnet_override() -> None:
    assert target_layer_name(create_classifier_model("resnet18"), "resnet18") == "layer4"
    # feature_info's last stage is blocks.6; the map that reaches pooling comes from conv_head.
    for name in ("tf_efficientnet_lite0", "tf_efficientnet_lite2", "efficientnet_b0"):
        assert target_layer_name(create_classifier_model(name), name) == "conv_head"
    assert target_layer_name(create_classifier_model("densenet121"), "densenet121") == "features.norm5"


def test_unknown_architectures_are_refused() -> None:
    with pytest.raises(UnknownArchitectureError, match="vision transformer"):
        create_classifier_model("vit_tiny_patch16_224")
    with pytest.raises(UnknownArchitectureError, match="timm has no"):
        create_classifier_model("resnet_does_not_exist")


def test_a_model_without_the_named_layer_is_refused_clearly() -> None:
    model = create_classifier_model("resnet18")
    del model.layer4
    with pytest.raises(UnknownArchitectureError, match="layer4"):
        target_layer(model, "resnet18")


def test_models_have_seven_outputs_and_random_weights() -> None:
    torch.manual_seed(0)
    first = create_classifier_model("tf_efficientnet_lite0")
    torch.manual_seed(1)
    second = create_classifier_model("tf_efficientnet_lite0")
    assert first.num_classes == 7
    assert sum(p.numel() for p in first.parameters()) == sum(p.numel() for p in second.parameters()) > 1_000_000
    assert not torch.equal(first.conv_stem.weight, second.conv_stem.weight)


def test_class_tables_agree() -> None:
    assert len(HAM10000_CLASSES) == 7
    assert set(CLASS_NAMES) == set(HAM10000_CLASSES)
    assert set(MALIGNANT_CLASSES) <= set(HAM10000_CLASSES)
