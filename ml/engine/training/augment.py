"""Dermoscopy augmentations as batched tensor ops (the CPU's time goes to convolutions, not PIL).

Dermoscopic images have no up or down, so every rotation and both flips are label-preserving;
scale, small stretch, translation and colour jitter imitate other dermatoscopes and framings.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ml.engine.inference.preprocess import to_float


@dataclass(frozen=True)
class AugmentConfig:
    """Strength of each augmentation (zeros switch it off)."""

    rotate: bool = True  # any angle
    flip: bool = True
    zoom: tuple[float, float] = (0.75, 1.15)  # linear scale of the sampled window (1 = whole image)
    stretch: float = 0.1  # relative change of aspect ratio
    translate: float = 0.1  # fraction of the half-size
    brightness: float = 0.2
    contrast: float = 0.2
    saturation: float = 0.2
    hue: float = 0.03  # fraction of a full turn


def random_affine(
    images: torch.Tensor, height: int, width: int, config: AugmentConfig, generator: torch.Generator
) -> torch.Tensor:
    """Rotate, flip, zoom, stretch and shift a float batch in one ``grid_sample`` to height x width."""
    n = images.shape[0]
    in_h, in_w = images.shape[-2:]

    def uniform(low: float, high: float) -> torch.Tensor:
        return torch.rand(n, generator=generator) * (high - low) + low

    angle = uniform(0, 2 * math.pi) if config.rotate else torch.zeros(n)
    zoom = uniform(*config.zoom)
    stretch = torch.exp(uniform(-config.stretch, config.stretch))
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0) if config.flip else torch.ones(n)
    # Work in input pixels (centre at 0): p_in = zoom * R * S * F * D * n_out, n_in = D^-1 p_in.
    half_w, half_h = in_w / 2.0, in_h / 2.0
    cos, sin = torch.cos(angle), torch.sin(angle)
    sx, sy = zoom * stretch.sqrt() * flip, zoom / stretch.sqrt()
    # R @ diag(sx, sy) @ D, then divide rows by D.
    a00 = cos * sx * half_w / half_w
    a01 = -sin * sy * half_h / half_w
    a10 = sin * sx * half_w / half_h
    a11 = cos * sy * half_h / half_h
    tx = uniform(-config.translate, config.translate)
    ty = uniform(-config.translate, config.translate)
    theta = torch.stack([torch.stack([a00, a01, tx], dim=1), torch.stack([a10, a11, ty], dim=1)], dim=1).to(images)
    grid = F.affine_grid(theta, [n, images.shape[1], height, width], align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def colour_jitter(images: torch.Tensor, config: AugmentConfig, generator: torch.Generator) -> torch.Tensor:
    """Per-sample brightness, contrast, saturation and a small hue turn on a float batch in [0, 1]."""
    n = images.shape[0]

    def factor(strength: float) -> torch.Tensor:
        values = 1.0 + (torch.rand(n, generator=generator) * 2 - 1) * strength
        return values.view(n, 1, 1, 1).to(images)

    images = images * factor(config.brightness)
    grey = (0.299 * images[:, 0:1] + 0.587 * images[:, 1:2] + 0.114 * images[:, 2:3]).clamp(0, 1)
    mean = grey.mean(dim=(2, 3), keepdim=True)
    images = (images - mean) * factor(config.contrast) + mean
    grey = 0.299 * images[:, 0:1] + 0.587 * images[:, 1:2] + 0.114 * images[:, 2:3]
    images = (images - grey) * factor(config.saturation) + grey
    if config.hue > 0:
        # Rotate chroma around the grey axis (YIQ), cheaper than an HSV round trip.
        turn = ((torch.rand(n, generator=generator) * 2 - 1) * config.hue * 2 * math.pi).to(images)
        y = 0.299 * images[:, 0] + 0.587 * images[:, 1] + 0.114 * images[:, 2]
        i = 0.596 * images[:, 0] - 0.274 * images[:, 1] - 0.322 * images[:, 2]
        q = 0.211 * images[:, 0] - 0.523 * images[:, 1] + 0.312 * images[:, 2]
        c, s = torch.cos(turn).view(n, 1, 1), torch.sin(turn).view(n, 1, 1)
        i, q = i * c - q * s, i * s + q * c
        images = torch.stack([y + 0.956 * i + 0.621 * q, y - 0.272 * i - 0.647 * q, y - 1.106 * i + 1.703 * q], dim=1)
    return images.clamp_(0, 1)


def augment_batch(
    images: torch.Tensor,
    height: int,
    width: int,
    config: AugmentConfig,
    generator: torch.Generator,
) -> torch.Tensor:
    """uint8 batch -> augmented float batch in [0, 1] of size height x width."""
    batch = to_float(images)
    batch = random_affine(batch, height, width, config, generator)
    return colour_jitter(batch, config, generator)


__all__ = [
    "AugmentConfig",
    "augment_batch",
    "colour_jitter",
    "random_affine",
]
