"""Training helpers: class weights, layer freezing, weight EMA, thread tuning, LR schedule, validation."""

from __future__ import annotations

import copy
import math
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.engine.architectures import HAM10000_CLASSES
from ml.engine.augment import normalise, resize_batch, to_float
from ml.engine.pretrained import PretrainedReport


def class_weights(counts: np.ndarray, power: float) -> torch.Tensor:
    """(1 / frequency) ** power, scaled so the sample-weighted mean is 1."""
    counts = np.maximum(counts.astype(np.float64), 1.0)
    weights = (counts.sum() / counts) ** power
    weights = weights / (weights * counts).sum() * counts.sum()
    return torch.tensor(weights, dtype=torch.float32)


def freeze_early_layers(model: nn.Module, blocks: int) -> list[str]:
    """Freeze the stem and the first ``blocks`` stages of an EfficientNet-style model.

    The early, high-resolution stages cost most of the backward pass on a CPU and their
    ImageNet edge/texture filters transfer as they are.
    """
    if blocks <= 0 or not hasattr(model, "blocks") or not hasattr(model, "conv_stem"):
        return []
    frozen = []
    modules = [("conv_stem", model.conv_stem), ("bn1", model.bn1)]
    modules += [(f"blocks.{i}", model.blocks[i]) for i in range(min(blocks, len(model.blocks)))]
    for name, module in modules:
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        frozen.append(name)
    return frozen


class ModelEma:
    """Exponential moving average of weights and buffers (with a short warm-up)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.module = copy.deepcopy(model).eval()
        for parameter in self.module.parameters():
            parameter.requires_grad_(False)
        self.decay = decay
        self.updates = 0

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for ema_value, value in zip(self.module.state_dict().values(), model.state_dict().values(), strict=True):
            if ema_value.is_floating_point():
                ema_value.mul_(decay).add_(value.detach(), alpha=1 - decay)
            else:
                ema_value.copy_(value)


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


def lr_at(step: int, total: int, warmup: int, peak: float, time_progress: float = 0.0) -> float:
    """Linear warm-up, then cosine decay to 1% of the peak over steps (or time, if further along)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = max((step - warmup) / max(1, total - warmup), time_progress)
    return peak * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


@torch.inference_mode()
def predict_tensor_logits(
    model: nn.Module,
    images: np.ndarray,
    height: int,
    width: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    device: torch.device,
    batch_size: int = 64,
) -> np.ndarray:
    """Logits of uint8 images (N x 3 x h x w, same aspect as height x width) for validation."""
    model.eval()
    out = []
    for start in range(0, len(images), batch_size):
        batch = resize_batch(to_float(torch.from_numpy(images[start : start + batch_size])), height, width)
        batch = normalise(batch, mean, std).to(device).contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
            logits = model(batch)
        out.append(logits.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, len(HAM10000_CLASSES)), dtype=np.float32)


def quick_metrics(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Validation numbers logged every epoch."""
    from ml.engine.metrics import classification_metrics

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
    "ModelEma",
    "ThreadTuner",
    "class_weights",
    "earlier_stages_of",
    "freeze_early_layers",
    "hardware_description",
    "init_from_model",
    "lr_at",
    "predict_tensor_logits",
    "quick_metrics",
    "selection_score",
]
