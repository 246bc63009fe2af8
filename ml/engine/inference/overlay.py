"""Heatmap post-processing as pure numpy/OpenCV functions: colour, blend, encode.

Arrays are RGB ``uint8`` (H, W, 3) photos and float (H, W) maps in [0, 1]; OpenCV's BGR
order stays inside this module.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

DEFAULT_COLORMAP = cv2.COLORMAP_JET
DEFAULT_ALPHA = 0.4  # weight of the heatmap over the photo
OUTSIDE_BRIGHTNESS = 0.5  # photo regions the model did not see are shown dimmed, untinted
OVERLAY_MAX_SIDE = 1024
CAM_PNG_MAX_SIDE = 256
CAM_PNG_COMPRESSION = 6  # small grayscale maps: compress well, cost nothing
# Overlays are photo-sized RGB: after PNG's SUB filter, Huffman coding alone packs them about
# as small as zlib level 3 with LZ77 did (2-3% bigger), in a third of the time (README, Performance).
OVERLAY_PNG_PARAMS = (
    cv2.IMWRITE_PNG_STRATEGY,
    cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY,
    cv2.IMWRITE_PNG_FILTER,
    cv2.IMWRITE_PNG_FILTER_SUB,
)


def fit_size(width: int, height: int, max_side: int | None) -> tuple[int, int]:
    """(width, height) scaled down, aspect kept, so the long side is at most ``max_side``."""
    if max_side is None or max(width, height) <= max_side:
        return (width, height)
    scale = max_side / max(width, height)
    return (max(1, round(width * scale)), max(1, round(height * scale)))


def cam_to_uint8(cam: np.ndarray) -> np.ndarray:
    """A [0, 1] map as 0-255 ``uint8`` (NaN and out-of-range values clipped)."""
    cam = np.nan_to_num(np.asarray(cam, dtype=np.float32), nan=0.0)
    return np.clip(np.rint(cam * 255.0), 0, 255).astype(np.uint8)


def colorize(cam: np.ndarray, colormap: int = DEFAULT_COLORMAP) -> np.ndarray:
    """An OpenCV colormap of a [0, 1] map, as RGB ``uint8`` (H, W, 3)."""
    bgr = cv2.applyColorMap(cam_to_uint8(cam), colormap)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def blend(
    photo: np.ndarray,
    cam: np.ndarray,
    *,
    alpha: float = DEFAULT_ALPHA,
    colormap: int = DEFAULT_COLORMAP,
    seen: np.ndarray | None = None,
) -> np.ndarray:
    """The colormapped ``cam`` alpha-blended over an RGB ``photo`` of the same (H, W).

    Where the boolean mask ``seen`` is False (outside the model's crop) the photo is
    dimmed instead of tinted, so "not analysed" never reads as "no evidence".
    """
    photo = np.asarray(photo)
    if photo.ndim != 3 or photo.shape[2] != 3 or photo.dtype != np.uint8:
        raise ValueError("photo must be an RGB uint8 array (H, W, 3)")
    if cam.shape != photo.shape[:2]:
        raise ValueError(f"cam shape {cam.shape} does not match photo {photo.shape[:2]}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be within [0, 1]")
    heat = colorize(cam, colormap)
    mixed = cv2.addWeighted(photo, 1.0 - alpha, heat, alpha, 0.0)
    if seen is not None and not seen.all():
        dimmed = cv2.convertScaleAbs(photo, alpha=OUTSIDE_BRIGHTNESS)
        mixed = np.where(seen[:, :, None], mixed, dimmed)
    return mixed


def encode_png(image: np.ndarray, compression: int = 3, params: Sequence[int] = ()) -> bytes:
    """PNG bytes of an RGB (H, W, 3) or grayscale (H, W) ``uint8`` array.

    ``params`` are further OpenCV ``IMWRITE_PNG_*`` flag/value pairs (strategy, filter).
    """
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError("PNG encoding expects uint8")
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    ok, buffer = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, compression, *params])
    if not ok:
        raise ValueError("OpenCV could not encode the PNG")
    return buffer.tobytes()


def overlay_png(
    photo: np.ndarray,
    cam: np.ndarray,
    *,
    alpha: float = DEFAULT_ALPHA,
    colormap: int = DEFAULT_COLORMAP,
    seen: np.ndarray | None = None,
) -> bytes:
    """PNG of the heatmap blended over the photo (both already at the output size)."""
    return encode_png(blend(photo, cam, alpha=alpha, colormap=colormap, seen=seen), params=OVERLAY_PNG_PARAMS)


__all__ = [
    "CAM_PNG_COMPRESSION",
    "CAM_PNG_MAX_SIDE",
    "DEFAULT_ALPHA",
    "DEFAULT_COLORMAP",
    "OVERLAY_MAX_SIDE",
    "OVERLAY_PNG_PARAMS",
    "blend",
    "cam_to_uint8",
    "colorize",
    "encode_png",
    "fit_size",
    "overlay_png",
]
