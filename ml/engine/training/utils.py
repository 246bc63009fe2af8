"""Training helpers: class weights, layer freezing, thread tuning, validation numbers, checkpoints, stages."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.engine.pretrained import PretrainedReport


def class_weights(counts: np.ndarray, power: float) -> torch.Tensor:
    """(1 / frequency) ** power, scaled so the sample-weighted mean is 1."""
    counts = np.maximum(counts.astype(np.float64), 1.0)
    weights = (counts.sum() / counts) ** power
    weights = weights / (weights * counts).sum() * counts.sum()
    return torch.tensor(weights, dtype=torch.float32)


class _EfficientNetStages(Protocol):
    """The parts of timm's EfficientNet that freezing touches (``nn.Module`` declares none of them)."""

    conv_stem: nn.Module
    bn1: nn.Module
    blocks: nn.Sequential


def freeze_early_layers(model: nn.Module, blocks: int) -> list[str]:
    """Freeze the stem and the first ``blocks`` stages of an EfficientNet-style model.

    The early, high-resolution stages cost most of the backward pass on a CPU and their
    ImageNet edge/texture filters transfer as they are.
    """
    if blocks <= 0 or not hasattr(model, "blocks") or not hasattr(model, "conv_stem"):
        return []
    net = cast(_EfficientNetStages, model)
    frozen = []
    modules = [("conv_stem", net.conv_stem), ("bn1", net.bn1)]
    modules += [(f"blocks.{i}", net.blocks[i]) for i in range(min(blocks, len(net.blocks)))]
    for name, module in modules:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        frozen.append(name)
    return frozen


class ThreadTuner:
    """Switch between 1 and N torch threads by measured step time.

    On a shared machine two threads that must meet at every operator's barrier can be slower
    than one when another process holds a core; the faster setting is re-probed every
    ``every`` steps for ``probe`` steps.
    """

    def __init__(self, max_threads: int, every: int = 60, probe: int = 6) -> None:
        self.max_threads = max(1, max_threads)
        self.every, self.probe = every, probe
        self.current = self.max_threads
        self.recent: list[float] = []
        self.probing: list[float] | None = None
        self.steps = 0
        torch.set_num_threads(self.current)

    def record(self, seconds: float) -> None:
        if self.max_threads == 1:
            return
        self.steps += 1
        if self.probing is not None:
            self.probing.append(seconds)
            if len(self.probing) > self.probe:
                probe_time = float(np.median(self.probing[1:]))  # the first step after a switch is slow
                base_time = float(np.median(self.recent[-self.probe :])) if self.recent else float("inf")
                if probe_time >= base_time:
                    self.current = self._other()
                    torch.set_num_threads(self.current)
                self.probing, self.recent = None, []
            return
        self.recent.append(seconds)
        if self.steps % self.every == 0:
            self.current = self._other()
            torch.set_num_threads(self.current)
            self.probing = []

    def _other(self) -> int:
        return 1 if self.current == self.max_threads else self.max_threads


def quick_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Validation numbers logged every epoch (scikit-learn's, through ``classification_metrics``)."""
    from ml.engine.evaluation.metrics import classification_metrics

    log_probs = torch.log_softmax(torch.from_numpy(logits), dim=1)
    loss = float(F.nll_loss(log_probs, torch.from_numpy(labels)).item()) if len(labels) else float("nan")
    m = classification_metrics(labels, log_probs.exp().numpy())
    return {
        "val_loss": loss,
        "val_accuracy": m["accuracy"],
        "val_balanced_accuracy": m["balanced_accuracy"],
        "val_mel_sensitivity": m["melanoma"]["sensitivity"],
        "val_auc_macro": m["auc_macro"],
    }


def weighted_soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Cross-entropy against soft targets (label smoothing, mixup, distillation), class-weighted.

    Each sample's loss is weighted by its target's class weight and the batch mean is divided by
    the mean weight, so with hard targets this equals ``nn.CrossEntropyLoss(weight=weights)``.
    """
    per_sample = -(targets * F.log_softmax(logits.float(), dim=1)).sum(dim=1)
    sample_weights = targets @ weights
    return (per_sample * sample_weights).sum() / sample_weights.sum()


def smooth_one_hot(labels: torch.Tensor, classes: int, smoothing: float) -> torch.Tensor:
    """One-hot targets with ``smoothing`` spread evenly over all classes (as ``label_smoothing`` does)."""
    off = smoothing / classes
    return F.one_hot(labels, classes).float() * (1.0 - smoothing) + off


def hardware_description(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {
        "device": str(device),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if device.type == "cuda":
        info["gpu"] = torch.cuda.get_device_name(device)
    return info


def selection_score(entry: dict[str, Any], select: str) -> float:
    """The validation number that picks the best epoch."""
    if select == "balanced_accuracy":
        return float(entry["val_balanced_accuracy"])
    if select == "mean":
        return (float(entry["val_accuracy"]) + float(entry["val_balanced_accuracy"])) / 2
    raise ValueError(f"unknown selection metric {select!r}; choose balanced_accuracy or mean")


def init_from_model(model: nn.Module, architecture: str, path: str) -> PretrainedReport:
    """Load an earlier model's weights (manifest .json or .safetensors) into ``model``."""
    from safetensors.torch import load_file

    from ml.engine.manifest import Manifest

    source = Path(path)
    if source.suffix == ".json":
        manifest = Manifest.load(source)
        if manifest.architecture != architecture:
            raise ValueError(f"{source} is a {manifest.architecture!r} model, not {architecture!r}")
        state = manifest.build_model().state_dict()
    else:
        state = {k: v.float() if v.is_floating_point() else v for k, v in load_file(str(source)).items()}
    model.load_state_dict(state, strict=True)
    return PretrainedReport(source=f"init-from {source.name}", matched_keys=len(state), reinitialised_keys=())


def earlier_stages_of(path: str) -> list[dict[str, Any]]:
    """What trained the model a second stage starts from (its own earlier stages first)."""
    from ml.engine.manifest import Manifest

    if Path(path).suffix != ".json":
        return [{"name": Path(path).stem, "weights_file": str(path)}]
    manifest = Manifest.load(path)
    training = manifest.training or {}
    keys = ("command", "resumed_with", "training_seconds", "epochs_run", "best_epoch", "started_at", "finished_at")
    return [
        *training.get("earlier_stages", []),
        {
            "name": manifest.name,
            "weights_sha256": manifest.weights_sha256,
            **{key: training.get(key) for key in keys},
            "hardware": training.get("hardware"),
        },
    ]


__all__ = [
    "ThreadTuner",
    "class_weights",
    "earlier_stages_of",
    "freeze_early_layers",
    "hardware_description",
    "init_from_model",
    "quick_metrics",
    "selection_score",
    "smooth_one_hot",
    "weighted_soft_cross_entropy",
]
