"""What every loaded network of the app shares at run time: made ready for inference, timed, closed.

Used by the analysers (``classifier``, ``ensemble``) and the segmenter, so that each makes its
model ready the same way.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    import torch
    from torch import nn


def model_device(model: nn.Module) -> torch.device:
    """Where a model's parameters live (the CPU for a model without any)."""
    import torch

    for parameter in model.parameters():
        return parameter.device
    return torch.device("cpu")


def ready_for_inference(model: nn.Module, device: str | torch.device | None, channels_last: bool) -> torch.device:
    """Eval mode, frozen parameters, on ``device`` (else where it already is), channels_last if asked; the device."""
    import torch

    target = torch.device(device) if device is not None else model_device(model)
    model.eval()
    model.requires_grad_(False)
    model.to(target)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    return target


def ms_since(started: float) -> float:
    """Milliseconds since a ``time.perf_counter()`` reading."""
    return (time.perf_counter() - started) * 1000.0


class Closing:
    """A context manager that calls ``close()`` on the way out (hooks are released, never leaked)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["Closing", "model_device", "ms_since", "ready_for_inference"]
