"""A lesion's change against its baseline and its previous photo: the follow-up state pages, API and flags read.

Pure functions over rows already loaded (photos with their visits, outlines and predictions;
the lesion's alignments). For the latest photo of the lesion, against each reference:

- sizes (area, longest diameter) compared in one frame: the latest photo outlined again in the
  reference's frame when it was aligned, else in mm when both photos have a pixel size, else not
  comparable, with the reason (``ml.engine.change.compare``);
- asymmetry and colours (new colours present now and clearly absent then);
- the melanoma probability's change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from followup.alignment import photo_order, references_of
from followup.models import PhotoAlignment
from followup.numerals import signed
from followup.timeline import usable_prediction
from ml.engine.change.compare import Change, compare
from ml.engine.change.registration import ALIGNED, FAILED, NOT_NEEDED, Matrix, Registration
from ml.models import COLOUR_NAMES, Measured, measured_from, outline_of

PENDING = "pending"
_ENGINE_STATUS: dict[str, str] = {"aligned": ALIGNED, "not_needed": NOT_NEEDED}


def matrix_of(stored: Any) -> Matrix | None:
    """A stored 2 x 3 matrix (JSON lists) as the engine's tuples."""
    if not stored:
        return None
    (a, b, c), (d, e, f) = stored
    return (float(a), float(b), float(c)), (float(d), float(e), float(f))


@dataclass(frozen=True)
class PhotoChange:
    """How the latest photo differs from one reference photo (the baseline or the previous one)."""

    role: str  # "baseline" or "previous"
    photo: Any  # the newer photo (LesionImage)
    reference: Any  # the reference photo
    alignment: PhotoAlignment | None
    change: Change
    mel_before: float | None
    mel_after: float | None
    before: Measured | None
    after: Measured | None

    @property
    def comparable(self) -> bool:
        return self.change.comparable

    @property
    def reason(self) -> str:
        return self.change.reason

    @property
    def mel_probability_delta(self) -> float | None:
        if self.mel_before is None or self.mel_after is None:
            return None
        return round(self.mel_after - self.mel_before, 6) + 0.0

    @property
    def area_change_percent(self) -> float | None:
        change = self.change.area_change
        return None if change is None else round(100 * change, 1) + 0.0

    @property
    def diameter_change_percent(self) -> float | None:
        ratio = self.change.diameter_ratio
        return None if ratio is None else round(100 * (ratio - 1), 1) + 0.0

    @property
    def new_colour_names(self) -> list[str]:
        return [COLOUR_NAMES.get(c, c) for c in self.change.new_colours]

    def grew(self) -> bool:
        return self.change.grew(float(settings.FOLLOWUP_GROWTH_THRESHOLD))

    def summary(self) -> str:
        """One line for a report: "against the baseline of 2024-01-10: area +12%, ..." (or why sizes do not compare)."""
        parts = []
        if self.comparable and self.area_change_percent is not None:
            parts.append(f"area {signed(self.area_change_percent, 0, '%')}")
            if self.diameter_change_percent is not None:
                parts.append(f"longest diameter {signed(self.diameter_change_percent, 0, '%')}")
        elif self.before is not None or self.after is not None:
            parts.append(f"sizes not compared ({self.reason})")
        if self.change.asymmetry_delta is not None and self.before is not None and self.after is not None:
            parts.append(f"asymmetry {signed(self.change.asymmetry_delta, 2)}")
        if self.new_colour_names:
            parts.append(f"new colours: {', '.join(self.new_colour_names)}")
        if self.mel_probability_delta is not None:
            parts.append(f"P(mel) {signed(100 * self.mel_probability_delta, 1)} points")
        what = "; ".join(parts) if parts else "nothing to compare (not outlined or analysed on both photos)"
        return f"against the {self.role} photo of {self.reference.visit.date:%Y-%m-%d}: {what}"

    def to_api(self) -> dict[str, Any]:
        return {
            "reference": str(self.reference.uuid),
            "area_ratio": None if self.change.area_ratio is None else round(self.change.area_ratio, 4),
            "diameter_ratio": None if self.change.diameter_ratio is None else round(self.change.diameter_ratio, 4),
            "asymmetry_delta": self.change.asymmetry_delta,
            "new_colours": list(self.change.new_colours),
            "mel_probability_delta": self.mel_probability_delta,
            "comparable": self.comparable,
            "reason": self.reason or None,
            "basis": self.change.basis or None,
        }


def alignment_status(alignment: PhotoAlignment | None) -> str:
    """The API's words: aligned / failed / not_needed (or pending while the worker is at it)."""
    if alignment is None or alignment.status in (PhotoAlignment.Status.PENDING, PhotoAlignment.Status.RUNNING):
        return PENDING
    return _ENGINE_STATUS.get(str(alignment.status), FAILED)


def registration_of(alignment: PhotoAlignment | None) -> Registration | None:
    if alignment is None or alignment.status not in PhotoAlignment.FINISHED:
        return None
    matrix = alignment.matrix
    return Registration(
        status=_ENGINE_STATUS.get(str(alignment.status), FAILED),
        matrix=matrix_of(matrix),
        quality=alignment.quality,
        inliers=alignment.inliers,
        reason=alignment.failure_reason.removeprefix("Could not align: ").rstrip("."),
    )


def _mel(image: Any) -> float | None:
    prediction = usable_prediction(image.predictions.all())
    if prediction is None:
        return None
    return float(prediction.probabilities.get("mel", 0.0))


def photo_change(role: str, photo: Any, reference: Any, alignment: PhotoAlignment | None) -> PhotoChange:
    """The change from ``reference`` to ``photo`` (see the module docstring)."""
    before_outline, after_outline = outline_of(reference), outline_of(photo)
    before = before_outline.measured if before_outline is not None else None
    after = after_outline.measured if after_outline is not None else None
    registration = registration_of(alignment)
    same_kind = photo.image_type == reference.image_type
    in_frame = bool(
        alignment is not None and alignment.status == PhotoAlignment.Status.ALIGNED and alignment.measurements
    )
    compared_after = measured_from(alignment.measurements, reference) if in_frame and alignment is not None else after
    if before is None or compared_after is None:
        why = "no outline of the lesion on both photos"
        if registration is None and same_kind:
            why = "the photos are still being aligned" if before and after else why
        change = Change(comparable=False, reason=why, colours_comparable=False)
    else:
        change = compare(
            before,
            compared_after,
            registration=registration,
            same_kind=same_kind,
            before_mm_per_pixel=reference.pixel_size_mm,
            after_mm_per_pixel=photo.pixel_size_mm,
            new_colour_min_share=float(settings.FOLLOWUP_NEW_COLOUR_MIN_SHARE),
            after_in_reference_frame=in_frame,
        )
    return PhotoChange(
        role=role,
        photo=photo,
        reference=reference,
        alignment=alignment,
        change=change,
        mel_before=_mel(reference),
        mel_after=_mel(photo),
        before=before,
        after=compared_after,
    )


@dataclass(frozen=True)
class FollowUpState:
    """The latest photo of a lesion against its baseline and previous photo."""

    baseline: Any | None  # the latest photo's baseline (itself when it is the first of its kind)
    latest: Any | None
    from_baseline: PhotoChange | None
    from_previous: PhotoChange | None
    baseline_alignment: PhotoAlignment | None

    @property
    def changes(self) -> list[PhotoChange]:
        """Against the baseline, then the previous photo (one entry when they are the same photo)."""
        found = [c for c in (self.from_baseline, self.from_previous) if c is not None]
        if len(found) == 2 and found[0].reference.pk == found[1].reference.pk:
            return found[:1]
        return found

    @property
    def alignment(self) -> dict[str, Any]:
        """The latest photo's alignment with its baseline, for the API."""
        row = self.baseline_alignment
        if self.latest is not None and self.baseline is not None and self.latest.pk == self.baseline.pk:
            return {"status": NOT_NEEDED, "quality": 1.0, "scale": 1.0, "rotation_deg": 0.0, "reason": None}
        return {
            "status": alignment_status(row),
            "quality": None if row is None else round(row.quality, 4),
            "scale": None if row is None or row.scale is None else round(row.scale, 5),
            "rotation_deg": None if row is None else row.rotation_deg,
            "reason": (row.reason or None) if row is not None else None,
        }


def latest_photo(photos: list[Any]) -> Any | None:
    """The photo that speaks for the lesion's latest visit (one with a finished analysis, else any)."""
    if not photos:
        return None
    ordered = sorted(photos, key=photo_order)
    last_visit = ordered[-1].visit_id
    candidates = [p for p in ordered if p.visit_id == last_visit]
    analysed = [p for p in candidates if usable_prediction(p.predictions.all()) is not None]
    return (analysed or candidates)[-1]


def followup_state(photos: list[Any], alignments: list[PhotoAlignment]) -> FollowUpState:
    """The lesion's follow-up state from its photos (visits, outlines, predictions loaded) and alignments."""
    latest = latest_photo(photos)
    if latest is None:
        return FollowUpState(None, None, None, None, None)
    by_pair = {(a.photo_id, a.reference_id): a for a in alignments}
    refs = references_of(latest, photos)
    baseline = refs.baseline or latest
    from_baseline = from_previous = None
    if refs.baseline is not None:
        from_baseline = photo_change("baseline", latest, refs.baseline, by_pair.get((latest.pk, refs.baseline.pk)))
    if refs.previous is not None:
        from_previous = photo_change("previous", latest, refs.previous, by_pair.get((latest.pk, refs.previous.pk)))
    return FollowUpState(
        baseline=baseline,
        latest=latest,
        from_baseline=from_baseline,
        from_previous=from_previous,
        baseline_alignment=by_pair.get((latest.pk, baseline.pk)),
    )


__all__ = ["FollowUpState", "PhotoChange", "alignment_status", "followup_state", "latest_photo", "photo_change"]
