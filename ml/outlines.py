"""Lesion outlines, as the worker makes them: the segmenter, the claim, the stored outline and measurements.

One outline per photo, whichever classifiers analyse it. The photo's first analysis task
claims the pending outline with a conditional update (``outline_claim``) and segments the photo
it already decoded (``Analysis.model_input``); the other tasks of the photo find it taken. A
photo without an analysis task (no classifier installed, or a backfill by ``manage.py reanalyse
--outlines``) is outlined by ``outline_run_task``, which decodes the photo itself. A failed
outline records why and never touches the classification.

When an outline and a prediction's heatmap are both stored, ``cam_shares_update`` records the
share of the heatmap that lies on the lesion; it runs after either and locks the outline row, so
whichever of two concurrent tasks finishes last sees the other's result.
"""

from __future__ import annotations

import logging
import time
from io import BytesIO
from pathlib import Path
from typing import TYPE_CHECKING, Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from clinic.files import atomic_with_files, track_file
from lesions.models import LesionImage
from ml.engine.manifest import ManifestError, find_manifests
from ml.loaded import LoadedOnce
from ml.models import LesionOutline, Prediction
from ml.signals import photo_analysed_send

if TYPE_CHECKING:
    from ml.engine.inference.preprocess import ModelInput
    from ml.engine.segmentation.model import Segmentation, Segmenter

logger = logging.getLogger(__name__)

SEGMENTATION_KIND = "segmentation"  # ml.engine.segmentation.model.SEGMENTATION_KIND, without importing torch
OUTLINE_OFF = "none"


class OutlineError(Exception):
    """An outline that cannot be made by retrying (no or broken segmenter, unreadable photo)."""


# --- the segmenter, loaded once per process -------------------------------------------------


def segmenter_manifest_path() -> Path | None:
    """The installed segmentation manifest: ``ML_SEGMENTATION_MODEL`` by name, else the first one; None if none."""
    wanted = settings.ML_SEGMENTATION_MODEL.strip()
    if wanted.lower() == OUTLINE_OFF:
        return None
    paths = find_manifests(Path(settings.ML_WEIGHTS_DIR), kind=SEGMENTATION_KIND)
    if not wanted:
        return paths[0] if paths else None
    for path in paths:
        if path.stem == wanted or _manifest_name(path) == wanted:
            return path
    logger.error("ML_SEGMENTATION_MODEL=%r names no segmentation manifest in %s", wanted, settings.ML_WEIGHTS_DIR)
    return None


def _manifest_name(path: Path) -> str | None:
    import json

    try:
        name: str | None = json.loads(path.read_text()).get("name")
        return name
    except (OSError, ValueError, AttributeError):
        return None


_segmenters: LoadedOnce[Segmenter] = LoadedOnce(single=True)  # one segmenter in use at a time


def segmenter_build(path: Path) -> Segmenter:
    """Load and verify a segmentation model from its manifest (tests replace this with a known one)."""
    from ml.engine.segmentation.model import Segmenter  # torch is loaded by the worker, not by every web process

    return Segmenter.from_manifest(path)


def segmenter_loaded(path: Path) -> Segmenter:
    """The segmenter of a manifest, loaded on first use and kept until the manifest file changes."""
    try:
        key = (str(path), path.stat().st_mtime_ns)
    except OSError as exc:
        raise OutlineError(f"The segmentation model's manifest is missing: {path.name}") from exc

    def load() -> Segmenter:
        try:
            return segmenter_build(path)
        except ManifestError as exc:
            raise OutlineError(f"The segmentation model {path.stem} could not be loaded: {exc}") from exc

    return _segmenters.get(key, load)


def segmenters_clear() -> None:
    _segmenters.clear()


# --- rows: create, claim, fail -----------------------------------------------------------------


def outline_create_for_image(*, image: LesionImage) -> LesionOutline | None:
    """A pending outline for a new photo when a segmentation model is installed (None otherwise)."""
    if segmenter_manifest_path() is None:
        return None
    outline, _ = LesionOutline.objects.get_or_create(image=image)
    return outline


# --- one outline ---------------------------------------------------------------------------


def outline_run_for_image(*, image_id: int, model_input: ModelInput | None = None) -> LesionOutline | None:
    """Outline a photo if its outline is waiting: on ``model_input`` (the photo the caller decoded) if given.

    Returns the outline when this call did the work, else None (none waiting, or taken). Never
    raises for a failed outline: it is recorded as failed with the reason.
    """
    outline_id = (
        LesionOutline.objects.filter(image_id=image_id, status=LesionOutline.Status.PENDING)
        .values_list("pk", flat=True)
        .first()
    )
    if outline_id is None or not LesionOutline.claim(outline_id):
        return None
    return _outline_claimed(outline_id, model_input)


def outline_run(*, outline_id: int) -> LesionOutline | None:
    """Claim and make one outline, decoding the photo (the task for photos without an analysis task)."""
    if not LesionOutline.claim(outline_id):
        return None
    return _outline_claimed(outline_id, None)


def _outline_claimed(outline_id: int, model_input: ModelInput | None) -> LesionOutline:
    outline = LesionOutline.objects.select_related("image").get(pk=outline_id)
    try:
        _outline_make(outline, model_input)
    except OutlineError as exc:
        LesionOutline.fail(outline_id, str(exc))
    except SoftTimeLimitExceeded:
        LesionOutline.fail(outline_id, "Outlining took longer than the analysis may take and was stopped.")
        raise
    except Exception as exc:  # the classification is stored already: record why, never undo it
        logger.exception("outline %s failed", outline_id)
        LesionOutline.fail(outline_id, f"Unexpected error: {exc}")
    else:
        cam_shares_update(image_id=outline.image_id)
    photo_analysed_send(outline.image_id)
    outline.refresh_from_db()
    return outline


def _outline_make(outline: LesionOutline, model_input: ModelInput | None) -> None:
    from ml.engine.segmentation.measurements import EmptyMaskError

    path = segmenter_manifest_path()
    if path is None:
        raise OutlineError("No segmentation model is installed.")
    segmenter = segmenter_loaded(path)
    started = time.perf_counter()
    if model_input is None:
        segmentation, photo = _segment_file(segmenter, outline.image)
    else:
        segmentation, photo = segmenter.segment(model_input), model_input.photo
    measure_started = time.perf_counter()
    try:
        measurements = segmentation.measure(photo) if segmentation.found else None
    except EmptyMaskError:
        measurements = None
    timings = {**segmentation.timings, "measure": (time.perf_counter() - measure_started) * 1000}
    timings["total"] = (time.perf_counter() - started) * 1000
    _outline_store(outline, segmenter, segmentation, measurements, timings)


def _segment_file(segmenter: Segmenter, image: LesionImage) -> tuple[Segmentation, Any]:
    from PIL import Image, UnidentifiedImageError

    try:
        with image.image.open("rb") as handle, Image.open(handle) as photo:
            # no photo.load(): the engine decodes big JPEGs at reduced size (draft mode)
            prepared = segmenter.prepare(photo)
            return segmenter.segment(prepared), prepared.photo
    except FileNotFoundError as exc:
        raise OutlineError("The photo file is missing from storage.") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise OutlineError(f"The photo could not be read: {exc}") from exc


def _outline_store(
    outline: LesionOutline,
    segmenter: Segmenter,
    segmentation: Segmentation,
    measurements: Any,
    timings: dict[str, float],
) -> None:
    now = timezone.now()
    with atomic_with_files():
        locked = LesionOutline.objects.select_for_update().get(pk=outline.pk)
        if locked.status != LesionOutline.Status.RUNNING:
            return  # another attempt finished it meanwhile
        locked.segmenter_name = segmenter.manifest.name[:100]
        locked.segmenter_sha256 = segmenter.manifest.weights_sha256
        locked.confidence = round(float(segmentation.confidence), 6)
        locked.failure_reason = ""
        locked.finished_at = now
        locked.timings = {k: round(float(v), 2) for k, v in timings.items()}
        if measurements is None:
            locked.status = LesionOutline.Status.NO_LESION
            locked.polygon, locked.measurements = [], {}
        else:
            locked.mask.save(f"{locked.uuid}.png", ContentFile(segmentation.mask_png()), save=False)
            track_file(locked.mask.name)
            locked.polygon = [list(point) for point in segmentation.outline_points()]
            locked.measurements = _stored_measurements(measurements)
            locked.status = LesionOutline.Status.DONE
        locked.save()


# Sizes in mm follow from the pixel size in force when read (``LesionOutline.measured``).
_NOT_STORED = {"area_mm2", "diameter_mm", "width_mm", "mm_per_pixel", "sizes_are_relative"}


def _stored_measurements(measurements: Any) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        if isinstance(value, float):
            return round(value, 6)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return {k: plain(v) for k, v in measurements.to_dict().items() if k not in _NOT_STORED}


# --- the share of each heatmap on the lesion --------------------------------------------------


def cam_shares_update(*, image_id: int, known_cams: dict[int, Any] | None = None) -> int:
    """Record, for each finished prediction of the photo without one, the share of its heatmap inside the outline.

    ``known_cams`` maps prediction ids to the 8-bit heatmap the caller has just stored (so it is not
    read back); the others are read from ``Prediction.cam``, the mask from the outline's PNG.
    Returns how many were recorded.
    """
    known = known_cams or {}
    updated = 0
    with transaction.atomic():
        outline = LesionOutline.objects.select_for_update().filter(image_id=image_id).first()
        if outline is None or outline.status != LesionOutline.Status.DONE or not outline.mask:
            return 0
        waiting = Prediction.objects.filter(
            image_id=image_id, status=Prediction.Status.DONE, cam_in_lesion__isnull=True
        ).exclude(cam="")
        if not waiting.exists():
            return 0
        mask = _read_png(outline.mask) > 127
        for prediction in waiting:
            cam = known[prediction.pk] if prediction.pk in known else _read_png(prediction.cam)
            share = cam_share(cam, mask)
            if share is not None:
                Prediction.objects.filter(pk=prediction.pk).update(cam_in_lesion=round(share, 4))
                updated += 1
    return updated


def cam_share(cam: Any, mask: Any) -> float | None:
    """Share of a heatmap's mass (any scale) inside a boolean mask of the same photo (None without mass)."""
    from ml.engine.segmentation.measurements import cam_mass_in_mask

    return cam_mass_in_mask(cam, mask)


def _read_png(field: Any) -> Any:
    import numpy as np
    from PIL import Image

    with field.open("rb") as handle:
        data = handle.read()
    with Image.open(BytesIO(data)) as picture:
        return np.asarray(picture.convert("L"), dtype=np.float32)
