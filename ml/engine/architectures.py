"""Architectures the engine knows: the timm factory and the Grad-CAM layer of each."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

# The order every model, manifest and database row uses.
HAM10000_CLASSES: tuple[str, ...] = ("akiec", "bcc", "bkl", "df", "mel", "nv", "vasc")

CLASS_NAMES: dict[str, str] = {
    "akiec": "Actinic keratosis / intraepithelial carcinoma (Bowen's disease)",
    "bcc": "Basal cell carcinoma",
    "bkl": "Benign keratosis (solar lentigo, seborrhoeic keratosis, lichen planus-like keratosis)",
    "df": "Dermatofibroma",
    "mel": "Melanoma",
    "nv": "Melanocytic naevus",
    "vasc": "Vascular lesion",
}

# Classes counted as malignant or pre-malignant when summing risk.
MALIGNANT_CLASSES: tuple[str, ...] = ("mel", "bcc", "akiec")


@dataclass(frozen=True)
class ArchitectureSpec:
    """How to find the Grad-CAM layer of one timm architecture family."""

    target_layer: str  # dotted module path inside the timm model


# Grad-CAM target layer per architecture: the last convolutional block before global pooling.
# Names are matched exactly first, then by the longest matching prefix, so
# "tf_efficientnet_lite2" falls under "tf_efficientnet_lite".
ARCHITECTURES: dict[str, ArchitectureSpec] = {
    "resnet": ArchitectureSpec(target_layer="layer4"),
    "resnext": ArchitectureSpec(target_layer="layer4"),
    "seresnet": ArchitectureSpec(target_layer="layer4"),
    "efficientnet": ArchitectureSpec(target_layer="conv_head"),
    "tf_efficientnet": ArchitectureSpec(target_layer="conv_head"),
    "tf_efficientnet_lite": ArchitectureSpec(target_layer="conv_head"),
    "mobilenetv3": ArchitectureSpec(target_layer="blocks"),
    "tf_mobilenetv3": ArchitectureSpec(target_layer="blocks"),
    "densenet": ArchitectureSpec(target_layer="features"),
    "convnext": ArchitectureSpec(target_layer="stages"),
    "regnet": ArchitectureSpec(target_layer="final_conv"),
}


class UnknownArchitectureError(ValueError):
    """The architecture is not a timm CNN with a known Grad-CAM layer."""


def architecture_spec(name: str) -> ArchitectureSpec:
    """Return the Grad-CAM spec for a timm architecture name, by exact or longest prefix match."""
    if name in ARCHITECTURES:
        return ARCHITECTURES[name]
    matches = [key for key in ARCHITECTURES if name.startswith(key)]
    if not matches:
        known = ", ".join(sorted(ARCHITECTURES))
        raise UnknownArchitectureError(
            f"no Grad-CAM layer is known for architecture {name!r} (known families: {known})"
        )
    return ARCHITECTURES[max(matches, key=len)]


def create_classifier_model(name: str, num_classes: int = len(HAM10000_CLASSES)) -> nn.Module:
    """Build a timm model by name with random weights (nothing is downloaded)."""
    import timm

    architecture_spec(name)  # refuse architectures without a Grad-CAM layer early
    if not timm.is_model(name):
        raise UnknownArchitectureError(f"timm has no architecture named {name!r}")
    return timm.create_model(name, pretrained=False, num_classes=num_classes)


def target_layer(model: nn.Module, name: str) -> nn.Module:
    """Return the module Grad-CAM hooks for the given architecture name."""
    path = architecture_spec(name).target_layer
    module: nn.Module = model
    for part in path.split("."):
        child = getattr(module, part, None)
        if not isinstance(child, nn.Module):
            # e.g. "resnext26ts" is a timm ByobNet, not a ResNet with a "layer4"
            raise UnknownArchitectureError(f"{name!r} ({type(model).__name__}) has no module {path!r} for Grad-CAM")
        module = child
    if isinstance(module, nn.Sequential | nn.ModuleList) and path in {"blocks", "stages"}:
        module = list(module.children())[-1]
    return module


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of a model."""
    return sum(p.numel() for p in model.parameters())


__all__ = [
    "ARCHITECTURES",
    "CLASS_NAMES",
    "HAM10000_CLASSES",
    "MALIGNANT_CLASSES",
    "ArchitectureSpec",
    "UnknownArchitectureError",
    "architecture_spec",
    "count_parameters",
    "create_classifier_model",
    "target_layer",
]
