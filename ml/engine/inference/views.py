"""Test-time views of a dermoscopic photo: the eight flips and transposes of the square's symmetry group.

A dermoscopic photo has no up or down, so each view is as valid an input as the photo itself.
Each view is a short sequence of self-inverse steps; a map computed on a view (a Grad-CAM) is
put back onto the photo's orientation by undoing the steps in reverse order. Transposed views
swap height and width; the networks pool globally, so they take either.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the names and their check need no torch (a manifest is validated without it)
    import torch

# name -> steps, applied left to right ("t" transpose, "h" horizontal flip, "v" vertical flip)
VIEW_STEPS: dict[str, tuple[str, ...]] = {
    "identity": (),
    "hflip": ("h",),
    "vflip": ("v",),
    "rot180": ("h", "v"),
    "transpose": ("t",),
    "transpose_hflip": ("t", "h"),
    "transpose_vflip": ("t", "v"),
    "transpose_rot180": ("t", "h", "v"),
}
VIEWS: tuple[str, ...] = tuple(VIEW_STEPS)
FLIP_VIEWS: tuple[str, ...] = VIEWS[:4]


def check_views(views: Sequence[str]) -> tuple[str, ...]:
    """The views, checked against the known names (at least one, no repeats)."""
    unknown = [v for v in views if v not in VIEW_STEPS]
    if unknown:
        raise ValueError(f"unknown view(s) {unknown}; known: {', '.join(VIEWS)}")
    if not views or len(set(views)) != len(views):
        raise ValueError("views must name at least one view, each once")
    return tuple(views)


def _step(x: torch.Tensor, step: str) -> torch.Tensor:
    if step == "t":
        return x.transpose(-1, -2)
    return x.flip(-1 if step == "h" else -2)


def apply_view(x: torch.Tensor, view: str) -> torch.Tensor:
    """The view of images or maps (the last two axes are height and width)."""
    for step in VIEW_STEPS[view]:
        x = _step(x, step)
    return x


def undo_view(x: torch.Tensor, view: str) -> torch.Tensor:
    """Back from a view to the original orientation (each step is its own inverse)."""
    for step in reversed(VIEW_STEPS[view]):
        x = _step(x, step)
    return x


def views_by_shape(views: Sequence[str]) -> list[list[int]]:
    """Indices of the views grouped so that each group shares one input shape (one batch each)."""
    plain = [i for i, v in enumerate(views) if "t" not in VIEW_STEPS[v]]
    transposed = [i for i, v in enumerate(views) if "t" in VIEW_STEPS[v]]
    return [group for group in (plain, transposed) if group]


__all__ = ["FLIP_VIEWS", "VIEWS", "VIEW_STEPS", "apply_view", "check_views", "undo_view", "views_by_shape"]
