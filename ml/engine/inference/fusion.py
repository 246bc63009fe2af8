"""The fusion head: one small multinomial logistic regression over the members' logits and the patient context.

It turns the view-averaged logits of every member (standardised) and, optionally, the
patient-context features (``ml.engine.inference.context``) into the analysis's 7 logits. It is fitted
on the validation split with scikit-learn (the members never saw those images); its strength
(``C``) is chosen by cross-validation grouped by lesion, and the out-of-fold predictions are
what the decision rule and the melanoma threshold are then chosen on. Context fields are
dropped at random in the rows it is fitted on, so a missing field is an input it knows.

At run time it is a linear layer in torch, so the Grad-CAM of the fused decision reaches back
through it to every member's feature maps.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, TypedDict

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    import torch

from ml.engine.inference.context import CONTEXT_FEATURES

if TYPE_CHECKING:

    class _TensorLike(TypedDict):
        """The dtype and device of the members' logits, for every tensor the head makes."""

        dtype: torch.dtype
        device: torch.device


@dataclass
class FusionHead:
    """Weights of the fitted head (JSON-serialisable, stored in the ensemble manifest)."""

    members: int
    classes: int
    use_context: bool
    logit_mean: list[float]  # per member x class, for standardising
    logit_scale: list[float]
    weight: list[list[float]]  # (classes, features)
    bias: list[float]
    C: float = 1.0
    context_features: list[str] = field(default_factory=lambda: list(CONTEXT_FEATURES))

    @property
    def feature_count(self) -> int:
        return self.members * self.classes + (len(self.context_features) if self.use_context else 0)

    def validate(self) -> None:
        if len(self.logit_mean) != self.members * self.classes or len(self.logit_scale) != len(self.logit_mean):
            raise ValueError("fusion head: logit_mean/logit_scale need one value per member and class")
        if self.use_context and list(self.context_features) != list(CONTEXT_FEATURES):
            raise ValueError(
                f"fusion head was fitted on context features {self.context_features}; "
                f"this engine encodes {list(CONTEXT_FEATURES)}"
            )
        if len(self.weight) != self.classes or any(len(row) != self.feature_count for row in self.weight):
            raise ValueError(f"fusion head: weight must be {self.classes} x {self.feature_count}")
        if len(self.bias) != self.classes:
            raise ValueError("fusion head: bias needs one value per class")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FusionHead:
        head = cls(**data)
        head.validate()
        return head

    # -- applying it ----------------------------------------------------------------
    def features(self, member_logits: np.ndarray, context: np.ndarray | None) -> npt.NDArray[np.float64]:
        """(N, members, classes) logits and (N, context features) -> (N, features)."""
        n = member_logits.shape[0]
        mean, scale = np.asarray(self.logit_mean), np.asarray(self.logit_scale)
        flat: npt.NDArray[np.float64] = (member_logits.reshape(n, -1) - mean) / scale
        if not self.use_context:
            return flat
        if context is None:
            context = np.zeros((n, len(self.context_features)), dtype=np.float64)
        return np.concatenate([flat, context], axis=1)

    def logits(self, member_logits: np.ndarray, context: np.ndarray | None = None) -> npt.NDArray[np.float64]:
        weight, bias = np.asarray(self.weight), np.asarray(self.bias)
        logits: npt.NDArray[np.float64] = self.features(member_logits, context) @ weight.T + bias
        return logits

    def torch_logits(self, member_logits: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """The same map in torch (differentiable), for the run-time analysis and its Grad-CAM."""
        import torch

        n = member_logits.shape[0]
        kw: _TensorLike = {"dtype": member_logits.dtype, "device": member_logits.device}
        flat = (member_logits.reshape(n, -1) - torch.tensor(self.logit_mean, **kw)) / torch.tensor(
            self.logit_scale, **kw
        )
        if self.use_context:
            if context is None:
                context = torch.zeros((n, len(self.context_features)), **kw)
            flat = torch.cat([flat, context.to(**kw)], dim=1)
        return flat @ torch.tensor(self.weight, **kw).T + torch.tensor(self.bias, **kw)


__all__ = ["FusionHead"]
