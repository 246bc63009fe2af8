"""Lesion photo analysis: calibrated class probabilities and a Grad-CAM heatmap from one pass.

``Classifier.from_manifest(path)`` verifies and loads shipped weights; ``analyse(photo)``
returns an ``Analysis`` with the probabilities of the 7 HAM10000 classes and, by default,
the Grad-CAM of the top class as a photo-aligned map and a PNG overlay.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, Unpack

import numpy as np
import numpy.typing as npt
import torch
from PIL import Image
from torch import nn

from ml.engine.architectures import UnknownArchitectureError, target_layer
from ml.engine.inference import overlay
from ml.engine.inference.context import PatientContext
from ml.engine.inference.gradcam import GradCAM
from ml.engine.inference.preprocess import CropGeometry, ModelInput, PreprocessConfig, prepare_model_input
from ml.engine.inference.runtime import Closing, ms_since, ready_for_inference
from ml.engine.manifest import Manifest, ManifestError

if TYPE_CHECKING:
    from ml.engine.inference.ensemble_manifest import EnsembleManifest

TIMING_KEYS = ("preprocess", "forward", "gradcam", "overlay", "total")
_THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TORCH_NUM_THREADS")
_threads_configured = False


@dataclass
class Analysis:
    """What the engine says about one photo."""

    probabilities: dict[str, float]  # class code -> calibrated probability, all classes, sums to 1
    top_class: str
    confidence: float  # probability of top_class
    overlay_png: bytes | None = field(default=None, repr=False)  # heatmap over the photo, photo's aspect
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds
    cam_class: str | None = None  # the class the heatmap explains
    # The melanoma triage decision, kept apart from the top class: P(mel) >= the threshold chosen
    # on validation for high sensitivity (None when the model has no threshold).
    melanoma_flag: bool | None = None
    melanoma_threshold: float | None = None
    context: dict[str, Any] | None = None  # the patient context the analysis used (ensembles with context)
    # The middle half (25th-75th percentile) of the P(mel) readings of the members on the views (an
    # ensemble): the uncertainty of the melanoma decision. None for a single reading.
    melanoma_range: tuple[float, float] | None = None
    # The Grad-CAM as computed, float32 (h, w) in [0, 1] over the model input at feature-map
    # resolution, and where that input lies on the photo. Photo-sized maps are made from these.
    feature_cam: np.ndarray | None = field(default=None, compare=False, repr=False)
    geometry: CropGeometry | None = field(default=None, compare=False, repr=False)
    # The decoded, prepared photo the analysis ran on: a segmenter reuses it instead of decoding again.
    model_input: ModelInput | None = field(default=None, compare=False, repr=False)
    _photo_cam: np.ndarray | None = field(default=None, init=False, compare=False, repr=False)

    @property
    def cam(self) -> np.ndarray | None:
        """The heatmap as float32 (H, W) of the oriented photo, in [0, 1], 0 outside the crop.

        Made on first use: for a 12-megapixel photo it is a 48 MB array that neither the
        overlay nor ``cam_png`` needs.
        """
        if self._photo_cam is None and self.feature_cam is not None and self.geometry is not None:
            self._photo_cam = self.geometry.map_to_photo(self.feature_cam)
        return self._photo_cam

    def cam_uint8(self, max_side: int | None = overlay.CAM_PNG_MAX_SIDE) -> np.ndarray | None:
        """The raw heatmap as a small 8-bit map at the photo's aspect ratio (None without one): ``cam_png``'s pixels."""
        if self.feature_cam is None or self.geometry is None:
            return None
        width, height = overlay.fit_size(self.geometry.photo_width, self.geometry.photo_height, max_side)
        # Mapped straight at the PNG's size, never through the full-resolution map.
        return overlay.cam_to_uint8(self.geometry.map_to_photo(self.feature_cam, (height, width)))

    def cam_png(self, max_side: int | None = overlay.CAM_PNG_MAX_SIDE) -> bytes | None:
        """The raw heatmap as a small 8-bit grayscale PNG at the photo's aspect ratio (None without one)."""
        small = self.cam_uint8(max_side)
        return None if small is None else overlay.encode_png(small, compression=overlay.CAM_PNG_COMPRESSION)


class AnalyserOptions(TypedDict, total=False):
    """How an analyser runs (every analyser takes them as keyword arguments)."""

    device: str | torch.device | None  # default: where the model is (a classifier), the CPU (an ensemble)
    channels_last: bool  # default True
    allow_rotation: bool  # default True: a portrait photo is turned to the model's landscape input
    overlay_max_side: int  # longest side of the heatmap overlay PNG
    colormap: int  # OpenCV colormap of the overlay
    alpha: float  # weight of the heatmap in the overlay


@dataclass
class ChunkResult:
    """What one pass over a chunk of photos produced, before it is turned into ``Analysis`` objects."""

    prepared: list[ModelInput]
    preprocess_ms: list[float]
    probabilities: torch.Tensor  # (N, classes), calibrated, on the CPU
    forward_ms: float  # per photo
    top: list[int]
    targets: list[int]  # the class each heatmap explains
    feature_cams: np.ndarray | None = None
    gradcam_ms: float = 0.0  # per photo
    readings: np.ndarray | None = None  # (N, readings) P(mel) of each member on each view


def available_cpus() -> int:
    """CPUs this process may run on: affinity mask and cgroup quota, whichever is smaller."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def configure_torch_threads() -> int:
    """Once per process, cap torch's intra-op threads at the CPUs we may use; one inter-op thread.

    Left alone when a thread-count environment variable is set or torch already uses fewer
    threads (the caller chose); in containers torch otherwise counts the host's cores.
    """
    global _threads_configured
    if not _threads_configured:
        _threads_configured = True
        if not any(os.environ.get(name) for name in _THREAD_ENV_VARS):
            cpus = available_cpus()
            if torch.get_num_threads() > cpus:
                torch.set_num_threads(cpus)
        # One request runs one model call at a time: inter-op parallelism only adds threads
        # competing for the same cores. Torch allows setting it only before its first use.
        if torch.get_num_interop_threads() > 1:
            with contextlib.suppress(RuntimeError):
                torch.set_num_interop_threads(1)
    return torch.get_num_threads()


def calibrated_probabilities(
    logits: torch.Tensor, temperature: float = 1.0, logit_bias: Sequence[float] | None = None
) -> torch.Tensor:
    """softmax((logits + logit_bias) / temperature) along the class axis, in float32."""
    logits = logits.detach().float()
    if logit_bias is not None:
        logits = logits + torch.as_tensor(list(logit_bias), dtype=torch.float32, device=logits.device)
    return torch.softmax(logits / float(temperature), dim=-1)


class Analyser(Closing):
    """The one interface of everything that analyses a photo: a ``Classifier`` (one model) or an ``Ensemble``.

    Both prepare the photos, run their model(s) in ``_analyse_chunk`` and hand the numbers to
    ``_results``, which makes the ``Analysis`` of each photo the same way; callers use ``analyse``
    and ``analyse_batch`` and get ``Analysis`` objects whatever stands behind them.
    """

    classes: tuple[str, ...]
    manifest: Manifest | EnsembleManifest
    preprocess_config: PreprocessConfig
    device: torch.device
    temperature: float
    logit_bias: tuple[float, ...] | None
    melanoma_threshold: float | None
    overlay_max_side: int
    colormap: int
    alpha: float

    def _take_options(self, manifest: Any, options: AnalyserOptions) -> None:
        """What every analyser keeps of its manifest and options (the device is each one's own)."""
        configure_torch_threads()
        manifest.validate()
        self.classes = tuple(manifest.classes)
        self.channels_last = options.get("channels_last", True)
        self.allow_rotation = options.get("allow_rotation", True)
        self.overlay_max_side = options.get("overlay_max_side", overlay.OVERLAY_MAX_SIDE)
        self.colormap = options.get("colormap", overlay.DEFAULT_COLORMAP)
        self.alpha = options.get("alpha", overlay.DEFAULT_ALPHA)
        self.temperature = float(manifest.temperature)
        bias = manifest.logit_bias
        self.logit_bias = tuple(float(b) for b in bias) if bias is not None else None
        self.melanoma_threshold = manifest.melanoma_threshold

    @property
    def uses_context(self) -> bool:
        """Whether the patient context changes the answer (an ensemble with a context fusion head)."""
        return False

    def class_index(self, target_class: str | int) -> int:
        """Index of a class given by code (``"mel"``) or position."""
        if isinstance(target_class, str):
            try:
                return self.classes.index(target_class)
            except ValueError:
                raise ValueError(f"unknown class {target_class!r}; classes are {list(self.classes)}") from None
        index = int(target_class)
        if not 0 <= index < len(self.classes):
            raise ValueError(f"class index {index} out of range for {len(self.classes)} classes")
        return index

    def analyse(
        self,
        image: Image.Image,
        gradcam: bool = True,
        target_class: str | int | None = None,
        context: PatientContext | None = None,
    ) -> Analysis:
        """Probabilities, both decisions and, with ``gradcam``, the heatmap of ``target_class`` (top class by default).

        ``context`` (age, sex, body site) is read only by analysers that use it (``uses_context``).
        A lazily opened JPEG is decoded in draft mode (in place, like ``Image.thumbnail``), so do
        not ``load()`` big photos first: decoding errors surface from this call.
        """
        return self._analyse_chunk([image], gradcam=gradcam, target_class=target_class, contexts=[context])[0]

    def analyse_batch(
        self,
        images: Sequence[Image.Image],
        gradcam: bool = False,
        batch_size: int = 16,
        target_class: str | int | None = None,
        contexts: Sequence[PatientContext | None] | None = None,
    ) -> list[Analysis]:
        """``analyse`` for many photos, at most ``batch_size`` model inputs per forward pass.

        The forward and Grad-CAM timings of a chunk are shared equally among its photos; the
        photos of a chunk are decoded in parallel, so their preprocess timings overlap.
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        every = list(contexts) if contexts is not None else [None] * len(images)
        if len(every) != len(images):
            raise ValueError(f"need one context per photo ({len(images)}), got {len(every)}")
        step = self._photos_per_chunk(batch_size)
        results: list[Analysis] = []
        for start in range(0, len(images), step):
            chunk = images[start : start + step]
            results.extend(
                self._analyse_chunk(
                    chunk, gradcam=gradcam, target_class=target_class, contexts=every[start : start + step]
                )
            )
        return results

    def _photos_per_chunk(self, batch_size: int) -> int:
        return batch_size

    def _analyse_chunk(
        self,
        images: Sequence[Image.Image],
        *,
        gradcam: bool,
        target_class: str | int | None,
        contexts: Sequence[PatientContext | None],
    ) -> list[Analysis]:
        """Prepare the photos, one forward pass (kept for the Grad-CAM when asked), both decisions, the maps."""
        fixed_target = None if target_class is None else self.class_index(target_class)
        prepared, preprocess_ms = prepare_photos(images, self.preprocess_config)
        count = len(prepared)
        started = time.perf_counter()
        inputs = torch.stack([p.tensor for p in prepared]).to(self.device)
        kept: Any = None
        feature_cams: np.ndarray | None = None
        gradcam_ms = 0.0
        try:
            logits, kept, readings = self._forward(inputs, contexts, gradcam)
            probabilities = calibrated_probabilities(logits, self.temperature, self.logit_bias).cpu()
            forward_ms = ms_since(started) / count
            top = probabilities.argmax(dim=1).tolist()
            targets = top if fixed_target is None else [fixed_target] * count
            if gradcam:
                started = time.perf_counter()
                feature_cams = self._cams(logits, kept, targets)
                gradcam_ms = ms_since(started) / count
        finally:
            self._release(kept)  # never keep a graph alive after a failed call
        chunk = ChunkResult(
            prepared, preprocess_ms, probabilities, forward_ms, top, targets, feature_cams, gradcam_ms, readings
        )
        return self._results(chunk, contexts)

    def _forward(
        self, inputs: torch.Tensor, contexts: Sequence[PatientContext | None], gradcam: bool
    ) -> tuple[torch.Tensor, Any, np.ndarray | None]:
        """(N, classes) raw logits of prepared inputs, what ``_cams`` needs of the pass (with ``gradcam``), and the
        (N, readings) melanoma readings whose spread is the uncertainty of P(mel) (None: a single reading)."""
        raise NotImplementedError

    def _cams(self, logits: torch.Tensor, kept: Any, targets: list[int]) -> np.ndarray:
        """(N, h, w) Grad-CAMs in [0, 1] of each photo's target class, from the kept pass."""
        raise NotImplementedError

    def _release(self, kept: Any) -> None:
        """Drop whatever the pass kept for the Grad-CAM."""

    def _results(self, chunk: ChunkResult, contexts: Sequence[PatientContext | None]) -> list[Analysis]:
        """One ``Analysis`` per photo of an analysed chunk: probabilities, decisions, overlay, timings."""
        results = []
        for i, item in enumerate(chunk.prepared):
            timings = dict.fromkeys(TIMING_KEYS, 0.0)
            timings["preprocess"] = chunk.preprocess_ms[i]
            timings["forward"] = chunk.forward_ms
            feature_cam = overlay_bytes = None
            if chunk.feature_cams is not None:
                feature_cam = chunk.feature_cams[i]
                timings["gradcam"] = chunk.gradcam_ms
                started = time.perf_counter()
                overlay_bytes = render_overlay(item, feature_cam, self.overlay_max_side, self.alpha, self.colormap)
                timings["overlay"] = ms_since(started)
            timings["total"] = sum(timings[key] for key in TIMING_KEYS[:-1])
            row = chunk.probabilities[i].tolist()
            top = chunk.top[i]
            context = contexts[i] if i < len(contexts) else None
            results.append(
                Analysis(
                    probabilities=dict(zip(self.classes, row, strict=True)),
                    top_class=self.classes[top],
                    confidence=float(row[top]),
                    overlay_png=overlay_bytes,
                    timings=timings,
                    cam_class=self.classes[chunk.targets[i]] if feature_cam is not None else None,
                    melanoma_flag=melanoma_flag(row, self.classes, self.melanoma_threshold),
                    melanoma_threshold=self.melanoma_threshold,
                    context=context.describe() if (context is not None and self.uses_context) else None,
                    melanoma_range=_reading_range(chunk.readings, i),
                    feature_cam=feature_cam,
                    geometry=item.geometry if feature_cam is not None else None,
                    model_input=item,
                )
            )
        return results

    def close(self) -> None:
        """Remove the Grad-CAM hooks."""
        raise NotImplementedError


class Classifier(Analyser):
    """A loaded model with its manifest, preprocessing and a reusable Grad-CAM.

    The model is put in eval mode with frozen parameters (inference only). Close the
    classifier (or use it as a context manager) to remove its Grad-CAM hook.
    """

    def __init__(
        self,
        model: nn.Module,
        manifest: Manifest,
        *,
        target_layer_module: nn.Module | None = None,
        **options: Unpack[AnalyserOptions],
    ) -> None:
        self._take_options(manifest, options)
        self.manifest = manifest
        self.device = ready_for_inference(model, options.get("device"), self.channels_last)
        self.model = model
        self.preprocess_config = PreprocessConfig.from_manifest(manifest, allow_rotation=self.allow_rotation)
        if target_layer_module is None:
            try:
                target_layer_module = target_layer(model, manifest.architecture)
            except (UnknownArchitectureError, AttributeError) as exc:
                raise ManifestError(f"no Grad-CAM layer for architecture {manifest.architecture!r}: {exc}") from exc
        self.gradcam = GradCAM(model, target_layer_module)

    @classmethod
    def from_manifest(cls, path: Path | str, **options: Unpack[AnalyserOptions]) -> Classifier:
        """Load a manifest, verify its weights (sha256, classes, shapes) and build the classifier.

        ``options`` go to the constructor (``device``, ``channels_last``, ``allow_rotation``...).
        """
        manifest = Manifest.load(path)
        model = manifest.build_model()
        return cls(model, manifest, **options)

    # -- analysis ----------------------------------------------------------------
    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """Calibrated probabilities (temperature and logit bias of the manifest) from raw logits."""
        return calibrated_probabilities(logits, self.temperature, self.logit_bias)

    def _forward(
        self, inputs: torch.Tensor, contexts: Sequence[PatientContext | None], gradcam: bool
    ) -> tuple[torch.Tensor, Any, npt.NDArray[np.float32] | None]:
        if self.channels_last:
            inputs = inputs.contiguous(memory_format=torch.channels_last)
        if gradcam:
            logits = self.gradcam.forward(inputs)
        else:
            with torch.inference_mode():
                logits = self.model(inputs)
        self._check_logits(logits)
        return logits, None, None

    def _cams(self, logits: torch.Tensor, kept: Any, targets: list[int]) -> np.ndarray:
        return self.gradcam.cams(logits, targets)

    def _release(self, kept: Any) -> None:
        self.gradcam.reset()

    def _check_logits(self, logits: torch.Tensor) -> None:
        if logits.dim() != 2 or logits.shape[1] != len(self.classes):
            raise ManifestError(
                f"model {self.manifest.name!r} returns logits of shape {tuple(logits.shape)}; "
                f"its manifest lists {len(self.classes)} classes"
            )

    # -- lifetime ------------------------------------------------------------------
    def close(self) -> None:
        """Remove the Grad-CAM hook from the model."""
        self.gradcam.close()

    def __repr__(self) -> str:
        return f"Classifier({self.manifest.name!r}, {self.manifest.architecture}, {self.device})"


def _reading_range(readings: np.ndarray | None, row: int) -> tuple[float, float] | None:
    """The middle half (25th to 75th percentile) of a photo's readings: how far P(mel) moves with the view.

    The full range of 16 readings is dominated by one odd view (on the seeded demo a 1.6% score
    had readings from 0.0 to 8.7%); the middle half says how settled the score is.
    """
    if readings is None or readings.shape[1] < 2:
        return None
    low, high = np.percentile(readings[row], [25, 75])
    return float(low), float(high)


def melanoma_flag(probabilities: Sequence[float], classes: Sequence[str], threshold: float | None) -> bool | None:
    """Whether P(mel) reaches the melanoma threshold (None without a threshold or a "mel" class)."""
    if threshold is None or "mel" not in classes:
        return None
    return bool(probabilities[list(classes).index("mel")] >= threshold)


def prepare_photos(images: Sequence[Image.Image], config: PreprocessConfig) -> tuple[list[ModelInput], list[float]]:
    """Decode and preprocess photos, with the timing of each in ms.

    A batch is spread over the worker's threads: PIL releases the GIL while it decodes
    and resizes, so on 2 cores two photos are prepared at once.
    """

    def prepare(image: Image.Image) -> tuple[ModelInput, float]:
        started = time.perf_counter()
        return prepare_model_input(image, config), ms_since(started)

    workers = min(len(images), torch.get_num_threads())
    if workers > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            done = list(pool.map(prepare, images))
    else:
        done = [prepare(image) for image in images]
    return [item for item, _ in done], [ms for _, ms in done]


def render_overlay(item: ModelInput, feature_cam: np.ndarray, max_side: int, alpha: float, colormap: int) -> bytes:
    """The heatmap over the photo as a PNG at the photo's aspect ratio."""
    geometry = item.geometry
    # The photo's own aspect ratio, no larger than what was decoded nor than the cap.
    long_side = min(max_side, max(geometry.decoded_width, geometry.decoded_height))
    width, height = overlay.fit_size(geometry.photo_width, geometry.photo_height, long_side)
    photo = item.photo
    if photo.size != (width, height):
        photo = photo.resize((width, height), Image.Resampling.BILINEAR, reducing_gap=2.0)
    cam = geometry.map_to_photo(feature_cam, (height, width))
    seen = geometry.crop_mask((height, width))
    return overlay.overlay_png(np.asarray(photo), cam, alpha=alpha, colormap=colormap, seen=seen)


__all__ = [
    "TIMING_KEYS",
    "Analyser",
    "Analysis",
    "ChunkResult",
    "Classifier",
    "available_cpus",
    "calibrated_probabilities",
    "configure_torch_threads",
    "melanoma_flag",
    "prepare_photos",
    "render_overlay",
]
