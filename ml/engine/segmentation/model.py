"""Lesion segmentation: a U-Net on an ImageNet-initialised EfficientNet-Lite encoder, its manifest and runtime.

``Segmenter.from_manifest(path)`` verifies and loads shipped weights; ``segment(photo)``
returns a ``Segmentation``: the lesion probability over the model input and, from it, a
binary mask at the photo's resolution and aspect ratio (through the same ``CropGeometry``
as the Grad-CAM; outside the crop is "not lesion") and a confidence. ``segment`` also takes
the classifier's ``ModelInput``, so the app decodes and prepares a photo once for both.

The decoder is a small hand-written U-Net (about 60 lines): a library such as
segmentation-models-pytorch would add a dependency for little more than these blocks, and
the encoder initialisation from the packaged ImageNet weights is ours either way.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

if TYPE_CHECKING:
    from timm.models import FeatureInfo

from ml.engine.inference import overlay
from ml.engine.inference.classifier import configure_torch_threads
from ml.engine.inference.preprocess import CropGeometry, ModelInput, PreprocessConfig, prepare_model_input
from ml.engine.inference.runtime import ready_for_inference
from ml.engine.inference.views import apply_view, check_views, undo_view
from ml.engine.manifest import ManifestError, WeightsFile, file_sha256, read_manifest_json, write_weights
from ml.engine.pretrained import PRETRAINED_CHOICES, PretrainedReport, load_pretrained
from ml.engine.segmentation.measurements import LesionMeasurements, measure_lesion

SEGMENTATION_KIND = "segmentation"
DEFAULT_ENCODER = "tf_efficientnet_lite0"
# Decoder widths at strides 16, 8, 4 and 2 of the input; the logits come at stride 2 and are
# upsampled bilinearly to the input.
DEFAULT_DECODER_CHANNELS: tuple[int, ...] = (96, 64, 32, 16)
DEFAULT_THRESHOLD = 0.5
MEASURE_MAX_SIDE = 1024  # masks are measured at most this large: the model's input is 256 wide


# -- the network ---------------------------------------------------------------------------------
class DecoderBlock(nn.Module):
    """Upsample to the skip connection's size, concatenate, two 3x3 conv-BN-ReLU."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = _conv_bn_relu(in_channels + skip_channels, out_channels)
        self.conv2 = _conv_bn_relu(out_channels, out_channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        # Upsample to the skip's exact size, so inputs need not be multiples of 32.
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        out: torch.Tensor = self.conv2(self.conv1(torch.cat([x, skip], dim=1)))
        return out


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class LesionUNet(nn.Module):
    """U-Net: a timm ``features_only`` encoder (5 levels) and a decoder over its skip connections."""

    def __init__(self, encoder: str = DEFAULT_ENCODER, decoder_channels: Sequence[int] = DEFAULT_DECODER_CHANNELS):
        super().__init__()
        import timm

        self.encoder = timm.create_model(encoder, features_only=True, pretrained=False)
        # A ``features_only`` timm model describes its levels in a FeatureInfo.
        channels: list[int] = list(cast("FeatureInfo", self.encoder.feature_info).channels())
        # One decoder block per width, deepest skip first: 4 widths end at stride 2, 3 at stride 4.
        skips = channels[-2::-1][: len(decoder_channels)]
        if not 1 <= len(decoder_channels) <= len(channels) - 1:
            raise ValueError(f"{encoder} has {len(channels) - 1} skip levels, not {len(decoder_channels)}")
        blocks = []
        previous = channels[-1]
        for skip, width in zip(skips, decoder_channels, strict=True):
            blocks.append(DecoderBlock(previous, skip, width))
            previous = width
        self.decoder = nn.ModuleList(blocks)
        self.head = nn.Conv2d(previous, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Lesion logits (N, 1, H, W) at the input's resolution."""
        features = self.encoder(x)
        y = features[-1]
        for block, skip in zip(self.decoder, features[-2::-1], strict=False):
            y = block(y, skip)
        return F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)


def create_segmentation_model(
    encoder: str = DEFAULT_ENCODER,
    decoder_channels: Sequence[int] = DEFAULT_DECODER_CHANNELS,
    pretrained: str = "none",
) -> tuple[LesionUNet, PretrainedReport]:
    """A ``LesionUNet``; with ``pretrained="imagenet-package"`` its encoder starts from our packaged ImageNet weights.

    The packaged weights are loaded into the full timm classifier (``load_pretrained``, strict) and
    every encoder tensor is copied from it by name; nothing is downloaded.
    """
    from ml.engine.architectures import create_classifier_model

    model = LesionUNet(encoder, decoder_channels)
    if pretrained == "none":
        return model, PretrainedReport(source="none", matched_keys=0, reinitialised_keys=())
    if pretrained not in PRETRAINED_CHOICES:
        raise ValueError(f"unknown pretrained source {pretrained!r}; choose one of {PRETRAINED_CHOICES}")
    classifier = create_classifier_model(encoder)
    report = load_pretrained(classifier, encoder, pretrained)
    source = classifier.state_dict()
    target = model.encoder.state_dict()
    missing = [k for k in target if k not in source or source[k].shape != target[k].shape]
    if missing:
        raise ManifestError(f"{len(missing)} encoder tensors have no ImageNet counterpart (first: {missing[0]})")
    model.encoder.load_state_dict({k: source[k] for k in target}, strict=True)
    return model, PretrainedReport(source=report.source, matched_keys=len(target), reinitialised_keys=())


# -- the manifest --------------------------------------------------------------------------------
@dataclass
class SegmentationManifest(WeightsFile):
    """What the engine needs to rebuild, verify and describe a shipped segmentation model."""

    name: str
    encoder: str
    weights_file: str  # relative to the manifest's folder
    weights_sha256: str
    kind: str = SEGMENTATION_KIND
    decoder: str = "unet"
    decoder_channels: list[int] = field(default_factory=lambda: list(DEFAULT_DECODER_CHANNELS))
    input_size: list[int] = field(default_factory=lambda: [3, 192, 256])  # C, H, W
    mean: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    std: list[float] = field(default_factory=lambda: [0.5, 0.5, 0.5])
    interpolation: str = "bicubic"
    threshold: float = DEFAULT_THRESHOLD  # on the lesion probability, after mapping onto the photo
    weights_dtype: str = "float32"
    metrics: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    split_file: str | None = None  # relative to the manifest's folder
    split_sha256: str | None = None
    description: str = ""
    created_at: str = ""
    version: int = 1
    path: Path | None = field(default=None, compare=False, repr=False)

    def preprocess_config(self, allow_rotation: bool = True) -> PreprocessConfig:
        """The preprocessing the model was trained with."""
        mean, std = self.mean, self.std
        return PreprocessConfig(
            height=self.height,
            width=self.width,
            mean=(float(mean[0]), float(mean[1]), float(mean[2])),
            std=(float(std[0]), float(std[1]), float(std[2])),
            interpolation=self.interpolation,
            allow_rotation=allow_rotation,
        )

    @classmethod
    def load(cls, path: Path | str) -> SegmentationManifest:
        """Read and validate a segmentation manifest (the weights are checked by ``verify``)."""
        path = Path(path)
        data = read_manifest_json(path)
        if data.get("kind") != SEGMENTATION_KIND:
            raise ManifestError(f"{path} is not a segmentation manifest (kind {SEGMENTATION_KIND!r})")
        required = {"name", "encoder", "weights_file", "weights_sha256"}
        manifest: SegmentationManifest = cls.from_json(data, path, required)
        return manifest

    def validate(self) -> None:
        """Check the manifest's own consistency."""
        if self.decoder != "unet":
            raise ManifestError(f"manifest {self.name!r}: unknown decoder {self.decoder!r}")
        if len(self.input_size) != 3 or self.input_size[0] != 3 or min(self.input_size) < 1:
            raise ManifestError(f"manifest {self.name!r}: input_size must be [3, H, W]")
        if len(self.mean) != 3 or len(self.std) != 3:
            raise ManifestError(f"manifest {self.name!r}: mean and std need 3 values")
        if not 0.0 < self.threshold < 1.0:
            raise ManifestError(f"manifest {self.name!r}: threshold must lie in (0, 1)")

    def build_model(self) -> LesionUNet:
        """Verify the weights, build the network and load them (float32, eval mode)."""
        self.verify()
        try:
            model, _ = create_segmentation_model(self.encoder, self.decoder_channels)
        except (RuntimeError, ValueError) as exc:
            raise ManifestError(f"manifest {self.name!r}: cannot build encoder {self.encoder!r}: {exc}") from exc
        return self.load_weights_into(model, "the network")


def save_segmentation_model(
    model: LesionUNet, manifest_path: Path | str, *, dtype: torch.dtype = torch.float32, **fields: Any
) -> SegmentationManifest:
    """Write ``<stem>.safetensors`` beside ``manifest_path`` and the manifest (``fields``: its other values)."""
    weights_path = write_weights(
        model, manifest_path, dtype, {"kind": SEGMENTATION_KIND, "name": str(fields.get("name", ""))}
    )
    manifest = SegmentationManifest(
        weights_file=weights_path.name,
        weights_sha256=file_sha256(weights_path),
        weights_dtype=str(dtype).removeprefix("torch."),
        **fields,
    )
    manifest.validate()
    manifest.write(manifest_path)
    return manifest


def find_segmentation_manifests(folder: Path | str) -> list[Path]:
    """Segmentation manifests in a weights folder, by file name."""
    from ml.engine.manifest import find_manifests

    return find_manifests(folder, kind=SEGMENTATION_KIND)


# -- results -------------------------------------------------------------------------------------
def clean_mask(mask: np.ndarray) -> np.ndarray:
    """Keep the largest connected lesion region and fill its holes (one lesion per photo, as ISIC annotates)."""
    binary = np.ascontiguousarray(mask, dtype=np.uint8)
    contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return np.zeros(binary.shape, dtype=bool)
    largest = max(contours, key=lambda c: (cv2.contourArea(c), len(c)))
    out = np.zeros(binary.shape, dtype=np.uint8)
    cv2.drawContours(out, [largest], -1, 1, thickness=cv2.FILLED)
    return out.astype(bool)


def segmentation_confidence(probabilities: np.ndarray, mask: np.ndarray) -> float:
    """How sure the model is of its outline: the soft Dice of the probabilities with the mask.

    2·Σ(p·m) / (Σp + Σm) over the model input: 1 when every pixel is certain (p = 0 or 1) and
    the outline is exactly the p ≥ threshold region; lower when the border is blurred or
    probability lies outside the outline. Without a lesion it is the mean of 1 - p (certainty
    that there is none).
    """
    p = np.asarray(probabilities, dtype=np.float64)
    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return float(1.0 - p.mean()) if p.size else 1.0
    return float(2.0 * p[m].sum() / (p.sum() + m.sum()))


@dataclass
class Segmentation:
    """The lesion outline of one photo."""

    probabilities: np.ndarray = field(repr=False)  # float32 (h, w) lesion probability over the model input
    geometry: CropGeometry = field(repr=False)  # where that input lies on the photo
    threshold: float
    confidence: float  # see ``segmentation_confidence``
    lesion_fraction: float  # share of the photo inside the outline (at the model's resolution)
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds
    _mask: np.ndarray | None = field(default=None, init=False, compare=False, repr=False)
    _masks: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, init=False, compare=False, repr=False)

    @property
    def found(self) -> bool:
        """Whether the model outlined any lesion."""
        return self.lesion_fraction > 0

    @property
    def mask(self) -> np.ndarray:
        """Boolean (H, W) mask at the oriented photo's full resolution; False outside the crop. Made on first use."""
        if self._mask is None:
            self._mask = self.mask_at(None)
        return self._mask

    def mask_at(self, size: tuple[int, int] | None) -> np.ndarray:
        """The mask as a boolean (height, width) raster aligned with the photo (full size when None).

        Masks of a given size are kept, so the PNG, the measurements and the outline made at one
        size share one raster (do not modify it).
        """
        if size is None:
            photo_map = self.geometry.map_to_photo(self.probabilities, size)
            return clean_mask(photo_map >= self.threshold)
        key = (int(size[0]), int(size[1]))
        if key not in self._masks:
            photo_map = self.geometry.map_to_photo(self.probabilities, key)
            self._masks[key] = clean_mask(photo_map >= self.threshold)
        return self._masks[key]

    def outline_points(
        self, max_side: int | None = overlay.OVERLAY_MAX_SIDE, tolerance: float = 1.0
    ) -> list[tuple[int, int]]:
        """The outline as a closed polygon of (x, y) full-resolution photo pixels, [] without a lesion.

        Traced on the mask at most ``max_side`` long and simplified by Douglas-Peucker with
        ``tolerance`` pixels of that mask, so a page can draw it over the photo at any size.
        """
        width, height = overlay.fit_size(self.geometry.photo_width, self.geometry.photo_height, max_side)
        mask = self.mask_at((height, width)).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        if not contours:
            return []
        largest = max(contours, key=cv2.contourArea)
        simplified = cv2.approxPolyDP(largest, tolerance, True).reshape(-1, 2).astype(np.float64)
        # Pixel centres: mask pixel i covers photo pixels [i * scale, (i + 1) * scale).
        scale_x = self.geometry.photo_width / width
        scale_y = self.geometry.photo_height / height
        return [(round((x + 0.5) * scale_x), round((y + 0.5) * scale_y)) for x, y in simplified]

    def mask_png(self, max_side: int | None = overlay.OVERLAY_MAX_SIDE) -> bytes:
        """The mask as an 8-bit grayscale PNG (255 = lesion) at the photo's aspect ratio."""
        width, height = overlay.fit_size(self.geometry.photo_width, self.geometry.photo_height, max_side)
        return overlay.encode_png(self.mask_at((height, width)).astype(np.uint8) * 255, compression=6)

    def measure(
        self,
        photo: Image.Image | np.ndarray | None = None,
        *,
        mm_per_pixel: float | None = None,
        max_side: int | None = MEASURE_MAX_SIDE,
    ) -> LesionMeasurements:
        """Measurements of the outline (``segmentation.measurements``), made on a mask at most ``max_side`` long.

        ``photo`` (the oriented photo, any size, e.g. ``ModelInput.photo``) gives the colours;
        ``mm_per_pixel`` is millimetres per pixel of the full-resolution photo. Raises
        ``EmptyMaskError`` when no lesion was found.
        """
        width, height = overlay.fit_size(self.geometry.photo_width, self.geometry.photo_height, max_side)
        rgb = None
        if photo is not None:
            image = photo if isinstance(photo, Image.Image) else Image.fromarray(np.asarray(photo, dtype=np.uint8))
            rgb = np.asarray(image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR))
        scale = self.geometry.photo_width / width
        return measure_lesion(self.mask_at((height, width)), rgb, mm_per_pixel=mm_per_pixel, scale=scale)


# -- the runtime ---------------------------------------------------------------------------------
class Segmenter:
    """A loaded segmentation model with its manifest and preprocessing (inference only)."""

    def __init__(
        self,
        model: nn.Module,
        manifest: SegmentationManifest,
        *,
        device: str | torch.device | None = None,
        channels_last: bool = True,
        allow_rotation: bool = True,
        clean: bool = True,
        views: Sequence[str] = ("identity",),
    ) -> None:
        configure_torch_threads()
        manifest.validate()
        self.manifest = manifest
        self.device = ready_for_inference(model, device, channels_last)
        self.channels_last = channels_last
        self.model = model
        self.preprocess_config = manifest.preprocess_config(allow_rotation=allow_rotation)
        self.threshold = float(manifest.threshold)
        self.clean = clean
        self.views = check_views(views)
        if any(view.startswith("transpose") for view in self.views):
            raise ValueError("the segmenter takes flips only (identity, hflip, vflip, rot180): they keep its shape")

    @classmethod
    def from_manifest(cls, path: Path | str, **options: Any) -> Segmenter:
        """Load a manifest, verify its weights (sha256, shapes) and build the segmenter."""
        manifest = SegmentationManifest.load(path)
        return cls(manifest.build_model(), manifest, **options)

    def prepare(self, image: Image.Image | ModelInput) -> ModelInput:
        """The model input for a photo, or a ``ModelInput`` made for another model brought to this one's size.

        A ``ModelInput`` normalised with this model's mean and std (every ``tf_`` EfficientNet-Lite
        uses 0.5 and 0.5) of the same size is used as is; of the same aspect ratio it is resized
        (the crop is the same); otherwise the decoded photo is
        prepared again; so is one normalised with another mean and std (its ``config`` says).
        """
        if isinstance(image, Image.Image):
            return prepare_model_input(image, self.preprocess_config)
        height, width = self.preprocess_config.height, self.preprocess_config.width
        in_height, in_width = image.tensor.shape[-2:]
        made = image.config
        same_normalisation = made is None or (made.mean, made.std) == (
            self.preprocess_config.mean,
            self.preprocess_config.std,
        )
        if same_normalisation and (in_height, in_width) == (height, width):
            return image
        if same_normalisation and in_height * width == in_width * height:
            tensor = F.interpolate(
                image.tensor[None], size=(height, width), mode="bilinear", antialias=True, align_corners=False
            )[0]
            geometry = dataclasses.replace(image.geometry, input_width=width, input_height=height)
            return ModelInput(tensor=tensor, geometry=geometry, photo=image.photo, config=self.preprocess_config)
        # Another aspect ratio or another normalisation (e.g. an ImageNet-normalised ResNet input):
        # the already decoded photo is prepared again, the file is not read twice.
        again = prepare_model_input(image.photo, self.preprocess_config)
        # The decoded photo may be smaller than the original: keep the original's size for mapping.
        geometry = dataclasses.replace(
            again.geometry, photo_width=image.geometry.photo_width, photo_height=image.geometry.photo_height
        )
        return ModelInput(tensor=again.tensor, geometry=geometry, photo=again.photo, config=self.preprocess_config)

    @torch.inference_mode()
    def probabilities(self, batch: torch.Tensor) -> torch.Tensor:
        """Lesion probabilities (N, H, W) of a normalised (N, 3, H, W) batch, float32 on the CPU.

        With several ``views`` (flips), the probabilities of every view, turned back, are averaged.
        """
        batch = batch.to(self.device)
        n = batch.shape[0]
        stacked = torch.cat([apply_view(batch, view) for view in self.views])
        if self.channels_last:
            stacked = stacked.contiguous(memory_format=torch.channels_last)
        maps = torch.sigmoid(self.model(stacked).float())
        turned = [undo_view(maps[i * n : (i + 1) * n], view) for i, view in enumerate(self.views)]
        return torch.stack(turned).mean(dim=0)[:, 0].cpu()

    def segment(self, image: Image.Image | ModelInput) -> Segmentation:
        """The lesion outline of one photo (a PIL image, or a ``ModelInput`` the classifier already made)."""
        return self.segment_batch([image])[0]

    def segment_batch(self, images: Sequence[Image.Image | ModelInput], batch_size: int = 16) -> list[Segmentation]:
        """``segment`` for many photos, ``batch_size`` at a time through the model."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        results: list[Segmentation] = []
        for start in range(0, len(images), batch_size):
            started = time.perf_counter()
            items = [self.prepare(image) for image in images[start : start + batch_size]]
            prepared = time.perf_counter()
            maps = self.probabilities(torch.stack([item.tensor for item in items])).numpy()
            forward_ms = (time.perf_counter() - prepared) * 1000 / len(items)
            preprocess_ms = (prepared - started) * 1000 / len(items)
            for item, probability in zip(items, maps, strict=True):
                results.append(self._result(item, probability, preprocess_ms, forward_ms))
        return results

    def _result(
        self, item: ModelInput, probability: np.ndarray, preprocess_ms: float, forward_ms: float
    ) -> Segmentation:
        started = time.perf_counter()
        binary = probability >= self.threshold
        mask = clean_mask(binary) if self.clean else binary
        x0, y0, x1, y1 = item.geometry.photo_rect()
        crop_share = (x1 - x0) * (y1 - y0) / (item.geometry.photo_width * item.geometry.photo_height)
        result = Segmentation(
            probabilities=probability.astype(np.float32, copy=False),
            geometry=item.geometry,
            threshold=self.threshold,
            confidence=segmentation_confidence(probability, mask),
            lesion_fraction=float(mask.mean()) * crop_share,
        )
        result.timings = {
            "preprocess": preprocess_ms,
            "forward": forward_ms,
            "postprocess": (time.perf_counter() - started) * 1000,
        }
        return result

    def __repr__(self) -> str:
        return f"Segmenter({self.manifest.name!r}, {self.manifest.encoder}, {self.device})"


__all__ = [
    "DEFAULT_DECODER_CHANNELS",
    "DEFAULT_ENCODER",
    "SEGMENTATION_KIND",
    "DecoderBlock",
    "LesionUNet",
    "Segmentation",
    "SegmentationManifest",
    "Segmenter",
    "clean_mask",
    "create_segmentation_model",
    "find_segmentation_manifests",
    "save_segmentation_model",
    "segmentation_confidence",
]
