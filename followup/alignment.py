"""Aligning the photos of a lesion: which photo is each one's baseline and previous, and the job that registers them.

Each photo is aligned with two references of the same lesion and the same kind (dermoscopic with
dermoscopic): its **baseline**, the lesion's first such photo, and its **previous** such photo.
The job (``photo_alignment_run``, in the worker) registers the photo onto the reference from the
skin around the lesion (``ml.engine.change.registration``), keeps the transform and its quality,
and outlines the photo again after warping it into the reference's frame, so the two outlines
compare pixel for pixel. A photo is the baseline of itself ("not needed"). Only photos whose
outlines are finished are aligned: the later of the two outlines to finish queues the pair.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from followup.models import PhotoAlignment
from lesions.models import Lesion, LesionImage
from ml.models import LesionOutline

logger = logging.getLogger(__name__)

# Photos are registered and outlined again at most this large (the segmenter's input is 256 wide).
WORK_SIDE = 1024


@dataclass(frozen=True)
class References:
    """A photo's baseline and previous photo of the same kind (each None when the photo is the first)."""

    baseline: LesionImage | None
    previous: LesionImage | None


def photo_order(image: LesionImage) -> tuple[Any, ...]:
    """The one order of a lesion's photos: by visit date, then as they were stored."""
    return (image.visit.date, image.visit.created_at, image.created_at, image.pk)


def references_of(image: LesionImage, photos: list[LesionImage]) -> References:
    """``image``'s baseline and previous photo among ``photos`` (the lesion's, any order)."""
    same_kind = sorted((p for p in photos if p.image_type == image.image_type), key=photo_order)
    earlier = [p for p in same_kind if photo_order(p) < photo_order(image)]
    return References(baseline=earlier[0] if earlier else None, previous=earlier[-1] if earlier else None)


def _outline_finished(image: LesionImage) -> bool:
    outline = getattr(image, "outline", None)
    return outline is not None and outline.status in LesionOutline.FINISHED


def alignments_ensure(*, lesion: Lesion) -> list[int]:
    """Create the missing alignments of a lesion's photos (both outlines finished); their ids, to be queued."""
    photos = list(LesionImage.objects.filter(lesion=lesion).select_related("visit", "outline").order_by("created_at"))
    existing = set(PhotoAlignment.objects.filter(photo__lesion=lesion).values_list("photo_id", "reference_id"))
    created: list[int] = []
    for photo in photos:
        refs = references_of(photo, photos)
        wanted = {r for r in (refs.baseline, refs.previous) if r is not None}
        if not wanted and (photo.pk, photo.pk) not in existing:
            row, made = PhotoAlignment.objects.get_or_create(
                photo=photo, reference=photo, defaults={"status": PhotoAlignment.Status.NOT_NEEDED, "quality": 1.0}
            )
            existing.add((photo.pk, photo.pk))
            continue
        for reference in wanted:
            if (photo.pk, reference.pk) in existing or not (_outline_finished(photo) and _outline_finished(reference)):
                continue
            row, made = PhotoAlignment.objects.get_or_create(photo=photo, reference=reference)
            existing.add((photo.pk, reference.pk))
            if made:
                created.append(row.pk)
    return created


# --- the job -----------------------------------------------------------------------------------


class AlignmentError(Exception):
    """An alignment that cannot succeed by retrying (a photo or its outline is missing)."""


def photo_alignment_run(*, alignment_id: int) -> PhotoAlignment | None:
    """Claim and make one alignment (the worker); the row when this call did the work, else None."""
    if not PhotoAlignment.claim(alignment_id):
        return None
    alignment = PhotoAlignment.objects.select_related("photo__outline", "reference__outline").get(pk=alignment_id)
    try:
        values = _align(alignment)
    except AlignmentError as exc:
        PhotoAlignment.fail(alignment_id, str(exc))
    else:
        PhotoAlignment.objects.filter(pk=alignment_id, status=PhotoAlignment.Status.RUNNING).update(**values)
    alignment.refresh_from_db()
    return alignment


def _decoded(image: LesionImage) -> tuple[Any, float]:
    """The stored photo as RGB uint8 at most ``WORK_SIDE`` long, and working pixels per stored pixel."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with image.image.open("rb") as handle, Image.open(handle) as photo:
            photo.draft("RGB", (WORK_SIDE, WORK_SIDE))
            rgb = photo.convert("RGB")
    except FileNotFoundError as exc:
        raise AlignmentError("A photo file is missing from storage.") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise AlignmentError(f"A photo could not be read: {exc}") from exc
    factor = min(1.0, WORK_SIDE / max(image.width, image.height))
    size = (max(1, round(image.width * factor)), max(1, round(image.height * factor)))
    if rgb.size != size:
        rgb = rgb.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(rgb), size[0] / image.width


def _mask(outline: LesionOutline | None, size: tuple[int, int]) -> Any:
    """The outline's mask as a boolean raster of ``size`` (width, height); None without one."""
    import cv2
    import numpy as np
    from PIL import Image

    if outline is None or outline.status != LesionOutline.Status.DONE or not outline.mask:
        return None
    with outline.mask.open("rb") as handle, Image.open(handle) as picture:
        raster = np.asarray(picture.convert("L"))
    return cv2.resize(raster, size, interpolation=cv2.INTER_NEAREST) > 127


def _align(alignment: PhotoAlignment) -> dict[str, Any]:
    """Register the photo onto its reference and outline it in the reference's frame; the row's new values."""
    from django.utils import timezone

    from ml.engine.change.registration import register, warp_to_reference
    from ml.engine.segmentation.measurements import EmptyMaskError
    from ml.outlines import segmenter_loaded, segmenter_manifest_path

    photo, reference = alignment.photo, alignment.reference
    moving, moving_factor = _decoded(photo)
    fixed, fixed_factor = _decoded(reference)
    registration = register(
        moving,
        fixed,
        moving_mask=_mask(getattr(photo, "outline", None), (moving.shape[1], moving.shape[0])),
        reference_mask=_mask(getattr(reference, "outline", None), (fixed.shape[1], fixed.shape[0])),
    )
    values: dict[str, Any] = {
        "quality": round(registration.quality, 4),
        "inliers": registration.inliers,
        "timings": {k: round(v, 1) for k, v in registration.timings.items()},
        "finished_at": timezone.now(),
    }
    matrix = None
    if registration.matrix is not None:
        import numpy as np

        # Working pixels -> stored pixels: reference = S_r^-1 . M . S_m.
        m = np.asarray(registration.matrix, dtype=np.float64).copy()
        m[:, :2] *= moving_factor / fixed_factor
        m[:, 2] /= fixed_factor
        matrix = [[round(float(v), 6) for v in row] for row in m]
        values.update(matrix=matrix, scale=registration.scale, rotation_deg=round(registration.rotation_deg or 0.0, 2))
    if not registration.aligned:
        values.update(status=PhotoAlignment.Status.FAILED, failure_reason=f"Could not align: {registration.reason}.")
        return values
    measurements: dict[str, Any] = {}
    path = segmenter_manifest_path()
    if path is not None:
        from PIL import Image

        warped = warp_to_reference(moving, registration, (fixed.shape[1], fixed.shape[0]), fill=fixed)
        segmenter = segmenter_loaded(path)
        segmentation = segmenter.segment(Image.fromarray(warped))
        try:
            measured = segmentation.measure(warped) if segmentation.found else None
        except EmptyMaskError:
            measured = None
        if measured is not None:
            measurements = _in_reference_pixels(measured.to_dict(), 1 / fixed_factor)
    values.update(status=PhotoAlignment.Status.ALIGNED, failure_reason="", measurements=measurements)
    return values


_LENGTHS = ("diameter_px", "width_px", "perimeter_px")
_NOT_STORED = {"area_mm2", "diameter_mm", "width_mm", "mm_per_pixel", "sizes_are_relative"}


def _in_reference_pixels(measured: dict[str, Any], scale: float) -> dict[str, Any]:
    """Measurements made at the working size, in the reference photo's stored pixels (sizes in mm follow on read)."""
    out = {k: v for k, v in measured.items() if k not in _NOT_STORED}
    out["area_px"] = round(float(measured["area_px"]) * scale * scale, 2)
    for key in _LENGTHS:
        out[key] = round(float(measured[key]) * scale, 3)
    return out


__all__ = [
    "AlignmentError",
    "References",
    "alignments_ensure",
    "photo_alignment_run",
    "photo_order",
    "references_of",
]
