"""Where the analysis looked: how much of its Grad-CAM falls on the lesion masks (HAM10000 segmentations)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ml.engine.data import image_path, mask_path
from ml.engine.inference.context import PatientContext


def gradcam_localisation(
    manifest_path: Path | str,
    images_dir: Path | str,
    masks_dir: Path | str,
    ids: Sequence[str],
    *,
    contexts: Sequence[PatientContext | None] | None = None,
    device: str = "cpu",
    limit: int | None = None,
    batch_size: int = 16,
) -> dict[str, Any] | None:
    """How well the app's Grad-CAM (top class) falls on the lesion masks.

    ``cam_mass_in_lesion``: mean share of the CAM's mass inside the mask (compare with
    ``lesion_area_share``, what a uniform map would score); ``pointing_game``: share of images
    whose CAM maximum lies inside the mask.
    """
    import cv2

    from ml.engine.inference.ensemble import analyser_from_manifest

    context_of = dict(zip(ids, contexts, strict=True)) if contexts is not None else {}
    pairs = [(i, mask_path(masks_dir, i)) for i in ids]
    pairs = [(i, p) for i, p in pairs if p is not None]
    if limit is not None:
        pairs = pairs[:limit]
    if not pairs:
        return None
    mass, area, hits = [], [], []
    with analyser_from_manifest(manifest_path, device=device) as classifier:
        for start in range(0, len(pairs), batch_size):
            chunk = pairs[start : start + batch_size]
            photos = [Image.open(image_path(images_dir, i)) for i, _ in chunk]
            try:
                analyses = classifier.analyse_batch(
                    photos, gradcam=True, batch_size=batch_size, contexts=[context_of.get(i) for i, _ in chunk]
                )
            finally:
                for photo in photos:
                    photo.close()
            for (_, mpath), analysis in zip(chunk, analyses, strict=True):
                cam = analysis.cam
                mask = cv2.imread(str(mpath), cv2.IMREAD_GRAYSCALE)
                if cam is None or mask is None:
                    continue
                if mask.shape != cam.shape:
                    mask = cv2.resize(mask, (cam.shape[1], cam.shape[0]), interpolation=cv2.INTER_NEAREST)
                inside = mask > 127
                total = float(cam.sum())
                mass.append(float(cam[inside].sum()) / total if total > 0 else 0.0)
                area.append(float(inside.mean()))
                hits.append(bool(inside.flat[int(np.argmax(cam))]))
    if not mass:
        return None
    return {
        "images": len(mass),
        "cam_mass_in_lesion": float(np.mean(mass)),
        "lesion_area_share": float(np.mean(area)),
        "pointing_game": float(np.mean(hits)),
        "cam_class": "top predicted class",
    }


__all__ = ["gradcam_localisation"]
