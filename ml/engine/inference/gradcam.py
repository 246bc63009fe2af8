"""Grad-CAM (Selvaraju et al. 2017) from the same forward pass that gives the probabilities.

One ``GradCAM`` is built per model and reused: its single forward hook is registered in
``__init__`` and removed by ``close()`` (or by leaving the ``with`` block). During a
Grad-CAM pass the hook swaps the target layer's output for a fresh leaf tensor, so the
autograd graph starts at the target layer: nothing before it is recorded, and
``torch.autograd.grad(score, activation)`` walks back only through the head, computing no
parameter gradients. Outside a Grad-CAM pass the hook returns at once.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ml.engine.inference.runtime import Closing


@dataclass
class GradCAMResult:
    """Logits of a batch and, per image, the normalised Grad-CAM at feature-map resolution."""

    logits: torch.Tensor  # (N, classes), detached
    cams: np.ndarray  # float32 (N, h, w) in [0, 1]
    target_classes: list[int]


class GradCAM(Closing):
    """Grad-CAM on one layer of one model; reuse it for every image, ``close()`` it at the end."""

    def __init__(self, model: nn.Module, target_layer: nn.Module) -> None:
        if not any(module is target_layer for module in model.modules()):
            raise ValueError("the target layer is not a submodule of the model")
        self.model = model
        self.target_layer = target_layer
        # Per thread, so a Grad-CAM pass never picks up another thread's plain forward.
        self._state = threading.local()
        self._handle: Any = target_layer.register_forward_hook(self._on_forward)

    # -- hook ------------------------------------------------------------------
    def _on_forward(self, module: nn.Module, inputs: Any, output: Any) -> Any:
        if not getattr(self._state, "capturing", False):
            return None
        if not isinstance(output, torch.Tensor) or output.dim() != 4:
            raise TypeError("Grad-CAM needs a target layer whose output is an (N, C, H, W) tensor")
        activation = output.detach().requires_grad_(True)
        self._state.activation = activation
        # A clone, so in-place ops after the layer cannot touch the kept activation.
        return activation.clone()

    # -- passes ----------------------------------------------------------------
    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Run the model keeping the target layer's activation; the logits' graph reaches back to it only."""
        if self._handle is None:
            raise RuntimeError("this GradCAM has been closed")
        self._state.activation = None
        self._state.capturing = True
        try:
            with torch.inference_mode(False), torch.enable_grad():
                logits: torch.Tensor = self.model(inputs)
        finally:
            self._state.capturing = False
        if self._state.activation is None:
            raise RuntimeError("the target layer did not run during the forward pass")
        return logits

    def cams(self, logits: torch.Tensor, target_classes: Sequence[int]) -> np.ndarray:
        """Grad-CAM maps (N, h, w) in [0, 1] for the given class per image, from ``forward``'s logits."""
        activation: torch.Tensor | None = getattr(self._state, "activation", None)
        self._state.activation = None  # never keep a graph alive between calls
        if activation is None:
            raise RuntimeError("call forward() before cams()")
        if len(target_classes) != logits.shape[0]:
            raise ValueError(f"need one target class per image ({logits.shape[0]}), got {len(target_classes)}")
        # Images in a batch are independent in eval mode, so one gradient of the summed
        # scores gives every image's own gradient. (Grad mode is forced on, so a caller's
        # ``inference_mode`` or ``no_grad`` block does not get in the way.)
        with torch.inference_mode(False), torch.enable_grad():
            index = torch.as_tensor(list(target_classes), dtype=torch.long, device=logits.device)
            score = logits.gather(1, index.view(-1, 1)).sum()
            (gradients,) = torch.autograd.grad(score, activation)
        with torch.no_grad():
            cam = normalise_cams(grad_cam_maps(activation, gradients))
        return cam.float().cpu().numpy()

    def take_activation(self) -> torch.Tensor:
        """The target layer's activation kept by ``forward`` (for a score built outside this model).

        An ensemble differentiates one fused score with respect to every member's activation
        at once; it takes each member's activation here and calls ``grad_cam_maps`` itself.
        """
        activation: torch.Tensor | None = getattr(self._state, "activation", None)
        self._state.activation = None
        if activation is None:
            raise RuntimeError("call forward() before take_activation()")
        return activation

    def __call__(self, inputs: torch.Tensor, target_classes: Sequence[int] | int | None = None) -> GradCAMResult:
        """One forward pass: logits for the batch and the Grad-CAM of each target (top class by default)."""
        logits = self.forward(inputs)
        if target_classes is None:
            targets = logits.detach().argmax(dim=1).tolist()
        elif isinstance(target_classes, int):
            targets = [target_classes] * logits.shape[0]
        else:
            targets = [int(t) for t in target_classes]
        cams = self.cams(logits, targets)
        return GradCAMResult(logits=logits.detach(), cams=cams, target_classes=targets)

    def reset(self) -> None:
        """Drop an activation kept by a ``forward`` whose ``cams`` was never asked for."""
        self._state.activation = None

    # -- lifetime ----------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """Whether ``close()`` has removed the hook."""
        return self._handle is None

    def close(self) -> None:
        """Remove the hook; the object cannot be used afterwards."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self._state = threading.local()


def grad_cam_maps(activation: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """ReLU of the activation channels weighted by their mean gradient: (N, C, h, w) -> (N, h, w), unnormalised."""
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * activation).sum(dim=1))


def normalise_cams(cams: torch.Tensor) -> torch.Tensor:
    """Scale each (h, w) map of an (N, h, w) batch so its maximum is 1; all-zero maps stay zero."""
    peak = cams.amax(dim=(1, 2), keepdim=True)
    safe = torch.where(peak > 0, peak, torch.ones_like(peak))
    return torch.where(peak > 0, cams / safe, torch.zeros_like(cams)).clamp_(0.0, 1.0)


__all__ = ["GradCAM", "GradCAMResult", "grad_cam_maps", "normalise_cams"]
