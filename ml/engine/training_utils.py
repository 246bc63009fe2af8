"""Small training helpers: class weights, layer freezing, weight EMA, thread tuning, LR schedule."""

from __future__ import annotations

import copy
import math

import numpy as np
import torch
from torch import nn


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


__all__ = ["ModelEma", "ThreadTuner", "class_weights", "freeze_early_layers", "lr_at"]
