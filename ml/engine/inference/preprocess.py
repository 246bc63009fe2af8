"""Photo to model input: orientation, cheap decoding, aspect-preserving resize and crop.

The photo is scaled so that it covers the model's input (H, W) and the centre is cropped;
it is never squashed. A portrait photo fed to a landscape model (or the reverse) is
rotated by 90° first, which loses less of the lesion and is harmless for dermoscopy. The
``CropGeometry`` of each image records all of this, so maps computed on the model input
(Grad-CAM) can be put back onto the photo as the clinician sees it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torch import nn

from ml.engine.manifest import Manifest

_EXIF_ORIENTATION = 0x0112
_TRANSPOSED_ORIENTATIONS = {5, 6, 7, 8}  # orientations that swap width and height

INTERPOLATIONS: dict[str, Image.Resampling] = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "box": Image.Resampling.BOX,
    "hamming": Image.Resampling.HAMMING,
    "random": Image.Resampling.BILINEAR,  # timm's training-time choice; bilinear at inference
}


def resample_filter(name: str) -> Image.Resampling:
    """The PIL filter for a timm/manifest interpolation name (``bicubic``, ``bilinear``...)."""
    try:
        return INTERPOLATIONS[name.lower()]
    except KeyError:
        known = ", ".join(sorted(INTERPOLATIONS))
        raise ValueError(f"unknown interpolation {name!r} (known: {known})") from None


@dataclass(frozen=True)
class PreprocessConfig:
    """How photos become model inputs: input size, normalisation and resampling."""

    height: int
    width: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bicubic"
    allow_rotation: bool = True  # rotate portrait photos by 90° for landscape inputs (and back)
    # Decode JPEGs at no less than this multiple of the size the crop needs (PIL's
    # ``thumbnail`` uses the same idea): cheap decoding without visible aliasing.
    reducing_gap: float = 2.0

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1:
            raise ValueError(f"input size must be positive, got {self.height}x{self.width}")
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ValueError("mean and std need 3 values, std positive")
        resample_filter(self.interpolation)

    @classmethod
    def from_manifest(cls, manifest: Manifest, *, allow_rotation: bool = True) -> PreprocessConfig:
        """The preprocessing a manifest's model was trained with."""
        return cls(
            height=manifest.height,
            width=manifest.width,
            mean=_triple(manifest.mean),
            std=_triple(manifest.std),
            interpolation=manifest.interpolation,
            allow_rotation=allow_rotation,
        )

    @classmethod
    def from_model(cls, model: nn.Module, *, allow_rotation: bool = True) -> PreprocessConfig:
        """The preprocessing timm declares for a model (``resolve_model_data_config``)."""
        from timm.data import resolve_model_data_config

        config: dict[str, Any] = resolve_model_data_config(model)  # type: ignore[no-untyped-call]  # timm: unannotated
        _, height, width = config["input_size"]
        return cls(
            height=int(height),
            width=int(width),
            mean=_triple(config["mean"]),
            std=_triple(config["std"]),
            interpolation=str(config.get("interpolation", "bicubic")),
            allow_rotation=allow_rotation,
        )

    @property
    def resample(self) -> Image.Resampling:
        """The PIL filter for ``interpolation``."""
        return resample_filter(self.interpolation)


def _triple(values: Sequence[float]) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in values)
    return (a, b, c)


@dataclass(frozen=True)
class CropGeometry:
    """Where the model input came from in the photo.

    ``photo_*`` is the full-resolution photo after EXIF orientation (what the clinician sees);
    ``decoded_*`` the same photo as actually decoded (smaller when JPEG draft mode was used);
    ``box`` the crop (left, top, right, bottom) in the decoded photo's pixels, after the
    optional 90° counter-clockwise rotation.
    """

    photo_width: int
    photo_height: int
    decoded_width: int
    decoded_height: int
    rotated: bool
    box: tuple[float, float, float, float]
    input_width: int
    input_height: int

    @property
    def photo_size(self) -> tuple[int, int]:
        """(height, width) of the oriented photo, the shape photo-aligned maps take."""
        return (self.photo_height, self.photo_width)

    def photo_rect(self, size: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
        """The crop as (left, top, right, bottom) pixels of a photo-aligned raster of (height, width) ``size``."""
        height, width = size if size is not None else self.photo_size
        left, top, right, bottom = self.box
        if self.rotated:
            # Undo PIL's ROTATE_90 (counter-clockwise), which sends (x, y) to (y, W - x).
            left, top, right, bottom = (
                self.decoded_width - bottom,
                left,
                self.decoded_width - top,
                right,
            )
        scale_x = width / self.decoded_width
        scale_y = height / self.decoded_height
        x0 = min(max(round(left * scale_x), 0), width - 1)
        y0 = min(max(round(top * scale_y), 0), height - 1)
        x1 = min(max(round(right * scale_x), x0 + 1), width)
        y1 = min(max(round(bottom * scale_y), y0 + 1), height)
        return (x0, y0, x1, y1)

    def map_to_photo(self, crop_map: np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """Put a map over the model input (any resolution, e.g. a Grad-CAM feature map) onto the photo.

        ``size`` is the (height, width) of the photo-aligned result, the full photo by default.
        The map is rotated back if the photo was rotated, upsampled bilinearly onto the crop
        and pasted there; outside the crop the result is exactly zero. Returns float32.
        """
        height, width = size if size is not None else self.photo_size
        crop_map = np.asarray(crop_map, dtype=np.float32)
        if crop_map.ndim != 2:
            raise ValueError(f"expected a 2-D map, got shape {crop_map.shape}")
        if self.rotated:
            crop_map = np.rot90(crop_map, k=-1)  # clockwise, undoing the counter-clockwise turn
        x0, y0, x1, y1 = self.photo_rect((height, width))
        photo_map = np.zeros((height, width), dtype=np.float32)
        photo_map[y0:y1, x0:x1] = cv2.resize(
            np.ascontiguousarray(crop_map), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR
        )
        return photo_map

    def crop_mask(self, size: tuple[int, int] | None = None) -> np.ndarray:
        """Boolean (height, width) mask of the photo pixels the model saw."""
        height, width = size if size is not None else self.photo_size
        x0, y0, x1, y1 = self.photo_rect((height, width))
        mask = np.zeros((height, width), dtype=bool)
        mask[y0:y1, x0:x1] = True
        return mask


@dataclass
class ModelInput:
    """One photo ready for the model: the normalised input and how to map back onto the photo."""

    tensor: torch.Tensor  # float32 (3, H, W), normalised
    geometry: CropGeometry
    photo: Image.Image  # RGB, oriented, as decoded (possibly reduced by draft)
    # The preprocessing that made ``tensor`` (None: unknown), so a second model can tell whether
    # the input is normalised as it expects.
    config: PreprocessConfig | None = None


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation tag (1 to 8), 1 when absent or unreadable."""
    try:
        value = int(image.getexif().get(_EXIF_ORIENTATION, 1))
    except (AttributeError, TypeError, ValueError, OSError, SyntaxError):
        return 1
    return value if 1 <= value <= 8 else 1


def should_rotate(width: int, height: int, config: PreprocessConfig) -> bool:
    """Whether a photo of this size is rotated by 90° to match the input's orientation."""
    if not config.allow_rotation:
        return False
    return (height > width and config.width > config.height) or (width > height and config.height > config.width)


def cover_box(width: int, height: int, target_width: int, target_height: int) -> tuple[float, float, float, float]:
    """The centred region of a (width, height) image with the target's aspect ratio, as floats."""
    if width * target_height > height * target_width:  # image is wider than the target
        box_width = height * target_width / target_height
        left = (width - box_width) / 2
        return (left, 0.0, left + box_width, float(height))
    box_height = width * target_height / target_width
    top = (height - box_height) / 2
    return (0.0, top, float(width), top + box_height)


def open_oriented(image: Image.Image, config: PreprocessConfig) -> tuple[Image.Image, int, int]:
    """Decode an image upright and in RGB, using JPEG draft mode when it only needs to be small.

    Like ``Image.thumbnail``, a not-yet-loaded JPEG is decoded in place at a reduced scale
    (1/2, 1/4 or 1/8), so the caller's object shrinks. Returns the RGB image and the
    full-resolution oriented (width, height).
    """
    orientation = exif_orientation(image)
    raw_width, raw_height = image.size
    width, height = (raw_height, raw_width) if orientation in _TRANSPOSED_ORIENTATIONS else image.size
    if getattr(image, "tile", None) and image.format == "JPEG":
        target_w, target_h = config.width, config.height
        if should_rotate(width, height, config):
            target_w, target_h = target_h, target_w
        scale = max(target_w / width, target_h / height) * config.reducing_gap
        if scale < 1.0:
            request = (
                min(raw_width, math.ceil(raw_width * scale)),
                min(raw_height, math.ceil(raw_height * scale)),
            )
            image.draft("RGB", request)
    if orientation != 1:
        image = ImageOps.exif_transpose(image)
    if image.mode != "RGB":
        image = image.convert("RGB")
    else:
        image.load()
    return image, width, height


def fit_to_input(photo: Image.Image, config: PreprocessConfig) -> tuple[Image.Image, bool, tuple[float, ...]]:
    """Rotate if needed, then resize-to-cover and centre-crop an RGB photo to the input size.

    Returns the (width, height) = input-size crop, whether it was rotated, and the crop box.
    """
    rotated = should_rotate(photo.width, photo.height, config)
    source = photo.transpose(Image.Transpose.ROTATE_90) if rotated else photo
    box = cover_box(source.width, source.height, config.width, config.height)
    # One resampling pass straight from the crop box: no intermediate resized copy. For
    # large reductions PIL first box-reduces by an integer factor (``reducing_gap``), which
    # keeps big non-JPEG photos cheap; at under 2x the result is unchanged.
    crop = source.resize((config.width, config.height), config.resample, box=box, reducing_gap=config.reducing_gap)
    return crop, rotated, box


def to_tensor(crop: Image.Image, config: PreprocessConfig) -> torch.Tensor:
    """Normalised float32 (3, H, W) tensor from an RGB crop."""
    array = torch.from_numpy(np.asarray(crop, dtype=np.uint8).copy())
    tensor = array.permute(2, 0, 1).to(torch.float32).div_(255.0)
    mean = torch.tensor(config.mean, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(config.std, dtype=torch.float32).view(3, 1, 1)
    return tensor.sub_(mean).div_(std)


def prepare_model_input(image: Image.Image, config: PreprocessConfig) -> ModelInput:
    """Turn a photo into the model's normalised input and the geometry to map results back."""
    photo, photo_width, photo_height = open_oriented(image, config)
    crop, rotated, box = fit_to_input(photo, config)
    geometry = CropGeometry(
        photo_width=photo_width,
        photo_height=photo_height,
        decoded_width=photo.width,
        decoded_height=photo.height,
        rotated=rotated,
        box=(float(box[0]), float(box[1]), float(box[2]), float(box[3])),
        input_width=config.width,
        input_height=config.height,
    )
    return ModelInput(tensor=to_tensor(crop, config), geometry=geometry, photo=photo, config=config)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 N x 3 x H x W -> float in [0, 1]."""
    return images.float().div_(255.0)


def resize_batch(images: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Resize a float batch (no crop; the caller keeps the aspect ratio)."""
    if images.shape[-2:] == (height, width):
        return images
    return F.interpolate(images, size=(height, width), mode="bicubic", align_corners=False).clamp_(0, 1)


def normalise(images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> torch.Tensor:
    """(x - mean) / std per channel on a float batch in [0, 1]."""
    m = torch.tensor(mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
    return (images - m) / s


__all__ = [
    "INTERPOLATIONS",
    "CropGeometry",
    "ModelInput",
    "PreprocessConfig",
    "cover_box",
    "exif_orientation",
    "fit_to_input",
    "normalise",
    "open_oriented",
    "prepare_model_input",
    "resample_filter",
    "resize_batch",
    "should_rotate",
    "to_float",
    "to_tensor",
]
