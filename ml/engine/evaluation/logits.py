"""Batched logits of a model over many images, per test-time view: the one loop that evaluation,
training's validation and the ensemble builder share.

Two sources feed it: photos read from a folder through the app's own preprocessing
(``file_batches``), and images already decoded into memory (``array_batches``, training).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ml.engine.data import image_path
from ml.engine.inference.preprocess import PreprocessConfig, normalise, prepare_model_input, resize_batch, to_float
from ml.engine.inference.views import apply_view, check_views, views_by_shape


def file_batches(
    images_dir: Path | str, ids: Sequence[str], config: PreprocessConfig, batch_size: int = 32
) -> Iterator[torch.Tensor]:
    """Normalised (B, 3, H, W) batches of the photos, prepared exactly as the app prepares an upload."""
    for start in range(0, len(ids), batch_size):
        tensors = []
        for image_id in ids[start : start + batch_size]:
            with Image.open(image_path(images_dir, image_id)) as photo:
                tensors.append(prepare_model_input(photo, config).tensor)
        yield torch.stack(tensors)


def array_batches(
    images: np.ndarray,
    height: int,
    width: int,
    mean: Sequence[float],
    std: Sequence[float],
    batch_size: int = 64,
) -> Iterator[torch.Tensor]:
    """Normalised batches of uint8 (N, 3, h, w) images (same aspect as height x width) held in memory."""
    for start in range(0, len(images), batch_size):
        batch = resize_batch(to_float(torch.from_numpy(images[start : start + batch_size])), height, width)
        yield normalise(batch, tuple(mean), tuple(std))


@torch.inference_mode()
def batched_logits(
    model: nn.Module,
    batches: Iterable[torch.Tensor],
    *,
    views: Sequence[str] = ("identity",),
    device: torch.device | str = "cpu",
    classes: int = 7,
    progress: bool = False,
    total: int | None = None,
) -> np.ndarray:
    """Logits (N, views, classes) as float32; the views of a batch that share a shape go through together."""
    from tqdm import tqdm

    views = check_views(views)
    groups = views_by_shape(views)
    device = torch.device(device)
    model = model.eval().to(device).to(memory_format=torch.channels_last)
    out: list[np.ndarray] = []
    for batch in tqdm(batches, total=total, desc="logits", disable=not progress, file=sys.stderr, mininterval=10):
        batch = batch.to(device)
        n = batch.shape[0]
        result = torch.empty((n, len(views), classes), dtype=torch.float32)
        for group in groups:
            stacked = torch.cat([apply_view(batch, views[i]) for i in group])
            with torch.autocast(device.type, dtype=torch.float16, enabled=device.type == "cuda"):
                logits = model(stacked.contiguous(memory_format=torch.channels_last)).float().cpu()
            for j, i in enumerate(group):
                result[:, i] = logits[j * n : (j + 1) * n]
        out.append(result.numpy())
    return np.concatenate(out) if out else np.zeros((0, len(views), classes), dtype=np.float32)


__all__ = ["array_batches", "batched_logits", "file_batches"]
