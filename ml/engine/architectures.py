"""Architectures: the timm factory and the Grad-CAM layer of a timm CNN (the class tables are ``labels``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:  # torch is imported by whoever builds a model, not by reading a name
    from timm.models import FeatureInfo
    from torch import nn

from ml.engine.labels import HAM10000_CLASSES

# Grad-CAM hooks the last feature map before global pooling. timm's ``feature_info`` names it
# for every CNN; these families differ: their ``forward_features`` ends with a 1x1 head conv
# (``conv_head``) after the last stage that ``feature_info`` lists.
TARGET_LAYER_OVERRIDES: dict[str, str] = {
    "efficientnet": "conv_head",
    "tf_efficientnet": "conv_head",
}


class UnknownArchitectureError(ValueError):
    """The architecture is not a timm CNN whose last feature map Grad-CAM can use."""


def _family_override(name: str) -> str | None:
    matches = [family for family in TARGET_LAYER_OVERRIDES if name.startswith(family)]
    return TARGET_LAYER_OVERRIDES[max(matches, key=len)] if matches else None


def target_layer_name(model: nn.Module, name: str) -> str:
    """Dotted path of the Grad-CAM layer: the family's override, else timm's last ``feature_info`` module."""
    if hasattr(model, "patch_embed"):
        raise UnknownArchitectureError(
            f"{name!r} is a vision transformer; DermaTrack's Grad-CAM needs a convolutional network"
        )
    override = _family_override(name)
    if override is not None:
        return override
    # timm: a FeatureInfo on ``features_only`` models, a plain list of dicts on the others.
    info: FeatureInfo | list[dict[str, Any]] | None = getattr(model, "feature_info", None)
    entries = list(cast("FeatureInfo", info).info if hasattr(info, "info") else info or [])
    if not entries or "module" not in entries[-1]:
        raise UnknownArchitectureError(f"timm declares no feature maps for {name!r} ({type(model).__name__})")
    return str(entries[-1]["module"])


def create_classifier_model(name: str, num_classes: int = len(HAM10000_CLASSES)) -> nn.Module:
    """Build a timm model by name with random weights (nothing is downloaded)."""
    import timm

    if not timm.is_model(name):
        raise UnknownArchitectureError(f"timm has no architecture named {name!r}")
    model = timm.create_model(name, pretrained=False, num_classes=num_classes)
    target_layer(model, name)  # refuse architectures without a Grad-CAM layer early
    return model


def model_flops(model: nn.Module, input_size: Sequence[int]) -> int:
    """FLOPs of one forward pass at batch 1, as torch counts them: 2 x multiply-adds of conv/matmul."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(torch.zeros(1, *input_size))
    return int(counter.get_total_flops())


def target_layer(model: nn.Module, name: str) -> nn.Module:
    """Return the module Grad-CAM hooks for the given architecture name."""
    path = target_layer_name(model, name)
    try:
        module = model.get_submodule(path)
    except AttributeError:
        raise UnknownArchitectureError(
            f"{name!r} ({type(model).__name__}) has no module {path!r} for Grad-CAM"
        ) from None
    return module


__all__ = [
    "TARGET_LAYER_OVERRIDES",
    "UnknownArchitectureError",
    "create_classifier_model",
    "model_flops",
    "target_layer",
    "target_layer_name",
]
