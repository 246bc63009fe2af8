"""The architecture table: every family's Grad-CAM layer is the last spatial block before pooling."""

from __future__ import annotations

import pytest
import torch

from ml.engine.architectures import (
    ARCHITECTURES,
    CLASS_NAMES,
    HAM10000_CLASSES,
    MALIGNANT_CLASSES,
    UnknownArchitectureError,
    architecture_spec,
    count_parameters,
    create_classifier_model,
    target_layer,
)
from ml.engine.gradcam import GradCAM

# One small timm model per family in the table.
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
}


def test_every_family_has_a_representative() -> None:
    assert set(REPRESENTATIVES) == set(ARCHITECTURES)


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


def test_names_match_exactly_then_by_longest_prefix() -> None:
    assert architecture_spec("resnet50").target_layer == "layer4"
    assert architecture_spec("tf_efficientnet_lite2") is ARCHITECTURES["tf_efficientnet_lite"]
    assert architecture_spec("tf_efficientnet_b3") is ARCHITECTURES["tf_efficientnet"]
    assert architecture_spec("efficientnet_b0") is ARCHITECTURES["efficientnet"]


def test_unknown_architectures_are_refused() -> None:
    with pytest.raises(UnknownArchitectureError, match="known families"):
        architecture_spec("vit_base_patch16_224")
    with pytest.raises(UnknownArchitectureError, match="timm has no"):
        create_classifier_model("resnet_does_not_exist")


def test_a_model_without_the_tabled_layer_is_refused_clearly() -> None:
    # "resnext26ts" matches the "resnext" prefix but is a ByobNet without "layer4".
    model = create_classifier_model("resnext26ts")
    with pytest.raises(UnknownArchitectureError, match="layer4"):
        target_layer(model, "resnext26ts")


def test_models_have_seven_outputs_and_random_weights() -> None:
    torch.manual_seed(0)
    first = create_classifier_model("tf_efficientnet_lite0")
    torch.manual_seed(1)
    second = create_classifier_model("tf_efficientnet_lite0")
    assert first.num_classes == 7
    assert count_parameters(first) == count_parameters(second) > 1_000_000
    assert not torch.equal(first.conv_stem.weight, second.conv_stem.weight)


def test_class_tables_agree() -> None:
    assert len(HAM10000_CLASSES) == 7
    assert set(CLASS_NAMES) == set(HAM10000_CLASSES)
    assert set(MALIGNANT_CLASSES) <= set(HAM10000_CLASSES)
