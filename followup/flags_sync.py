"""The one write path of follow-up flags: raise what the latest photo shows, retire what it no longer does.

``current_flags`` decides (pure): for the latest photo of a lesion,

- **melanoma**: its melanoma reading raises the flag (flagged, high, or borderline: the range of
  the readings straddles the threshold; ``followup.melanoma``);
- **malignant rise**: mel + bcc + akiec rose by more than ``FOLLOWUP_MALIGNANT_RISE_THRESHOLD``
  between the two latest analysed visits (``followup.flags``);
- **growth**: the area grew by more than ``FOLLOWUP_GROWTH_THRESHOLD`` against the baseline or the
  previous photo, with sizes compared in one frame (``followup.changes``); photos that do not
  compare (another kind, no alignment and no pixel size) never raise it;
- **new colour**: an ABCD colour covering at least ``FOLLOWUP_NEW_COLOUR_MIN_SHARE`` of the lesion
  now, clearly absent from the baseline or the previous photo.

A lesion that is excised or resolved, or whose diagnosis is confirmed benign by histopathology,
raises none: its open flags are retired with that reason, its history keeps them all.
``lesion_flags_sync`` writes the decision: a flag is raised once per photo and code, so a
reviewed flag is not raised again by the same photo; open flags the latest photo no longer
raises are retired. ``flag_review`` records who reviewed an open flag, when and why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from followup.changes import FollowUpState, followup_state
from followup.flags import MALIGNANT_ROSE, lesion_change_flags
from followup.melanoma import melanoma_reading
from followup.models import LesionFlag, PhotoAlignment
from followup.timeline import lesion_timeline, usable_prediction
from lesions.models import Lesion, LesionImage
from ml.models import COLOUR_NAMES

BENIGN_DIAGNOSES = ("nv", "bkl", "df", "vasc")


@dataclass(frozen=True)
class FlagSpec:
    code: str
    photo: Any
    title: str
    detail: str


def closed_reason(lesion: Lesion) -> str:
    """Why a lesion raises no new flags ("" when it does)."""
    if lesion.status == Lesion.Status.EXCISED:
        return "the lesion was excised"
    if lesion.status == Lesion.Status.RESOLVED:
        return "the lesion resolved"
    if lesion.diagnosis in BENIGN_DIAGNOSES and lesion.diagnosis_confirmation == Lesion.Confirmation.HISTOPATHOLOGY:
        return f"confirmed benign by histopathology ({lesion.get_diagnosis_display()})"
    return ""


def _growth(state: FollowUpState) -> FlagSpec | None:
    grown = [c for c in (state.from_baseline, state.from_previous) if c is not None and c.grew()]
    if not grown or state.latest is None:
        return None
    limit = 100 * float(settings.FOLLOWUP_GROWTH_THRESHOLD)
    parts = [
        f"+{c.area_change_percent:.0f}% since the {c.role} photo of {c.reference.visit.date:%Y-%m-%d}" for c in grown
    ]
    largest = max(c.area_change_percent or 0.0 for c in grown)
    return FlagSpec(
        LesionFlag.Code.GROWTH,
        state.latest,
        f"Grew +{largest:.0f}%",
        f"Outlined area {'; '.join(parts)}, measured with both photos in one frame (flagged above +{limit:.0f}%).",
    )


def _new_colour(state: FollowUpState) -> FlagSpec | None:
    seen: dict[str, str] = {}
    for change in (state.from_baseline, state.from_previous):
        if change is None or not change.change.colours_comparable:
            continue
        for code in change.change.new_colours:
            seen.setdefault(code, f"the {change.role} photo of {change.reference.visit.date:%Y-%m-%d}")
    if not seen or state.latest is None:
        return None
    latest = state.from_previous or state.from_baseline
    shares = latest.after.colour_shares if latest is not None and latest.after is not None else {}
    names = ", ".join(COLOUR_NAMES.get(c, c) for c in seen)
    parts = [
        f"{COLOUR_NAMES.get(c, c)} ({100 * shares.get(c, 0.0):.0f}% of the lesion; not in {where})"
        for c, where in seen.items()
    ]
    return FlagSpec(LesionFlag.Code.NEW_COLOUR, state.latest, f"New colour: {names}", "; ".join(parts) + ".")


def _melanoma(photo: Any) -> FlagSpec | None:
    prediction = usable_prediction(photo.predictions.all())
    reading = melanoma_reading(prediction) if prediction is not None else None
    if reading is None or not reading.raises_flag:
        return None
    return FlagSpec(LesionFlag.Code.MELANOMA, photo, reading.title, reading.explanation())


def _malignant_rise(photos: list[Any], visit_dates: list[Any]) -> FlagSpec | None:
    """The timeline's malignant rise between the two latest analysed visits (``followup.flags``)."""
    entries = lesion_timeline(photos)
    notes = lesion_change_flags(timeline=entries, patient_visit_dates=visit_dates)
    rise = next((note for note in notes if note.kind == MALIGNANT_ROSE), None)
    analysed = [entry for entry in entries if entry.is_analysed]
    if rise is None or not analysed:
        return None
    return FlagSpec(LesionFlag.Code.MALIGNANT_RISE, analysed[-1].image, rise.title, rise.detail)


def current_flags(lesion: Lesion, photos: list[Any], alignments: list[PhotoAlignment]) -> list[FlagSpec]:
    """What the lesion's latest photo raises now (nothing for a closed lesion); see the module docstring."""
    if closed_reason(lesion):
        return []
    state = followup_state(photos, alignments)
    if state.latest is None:
        return []
    dates = [photo.visit.date for photo in photos]
    specs = [_melanoma(state.latest), _malignant_rise(photos, dates), _growth(state), _new_colour(state)]
    return [spec for spec in specs if spec is not None]


def lesion_photos(lesion: Lesion) -> list[LesionImage]:
    """The lesion's photos with what follow-up reads of them."""
    return list(
        LesionImage.objects.filter(lesion=lesion)
        .select_related("visit", "outline")
        .prefetch_related("predictions__model_version")
        .order_by("created_at")
    )


def lesion_flags_sync(*, lesion: Lesion) -> list[LesionFlag]:
    """Raise the flags the latest photo shows, retire the open ones it no longer does; the lesion's open flags."""
    now = timezone.now()
    with transaction.atomic():
        lesion = Lesion.objects.select_for_update().get(pk=lesion.pk)
        photos = lesion_photos(lesion)
        alignments = list(PhotoAlignment.objects.filter(photo__lesion=lesion))
        specs = current_flags(lesion, photos, alignments)
        existing = {(f.code, f.photo_id): f for f in LesionFlag.objects.filter(lesion=lesion)}
        wanted = {(spec.code, spec.photo.pk) for spec in specs}
        for spec in specs:
            flag = existing.get((spec.code, spec.photo.pk))
            if flag is None:
                LesionFlag.objects.create(
                    lesion=lesion, code=spec.code, photo=spec.photo, title=spec.title, detail=spec.detail, raised_at=now
                )
            elif flag.is_open and (flag.title, flag.detail) != (spec.title, spec.detail):
                flag.title, flag.detail = spec.title, spec.detail
                flag.save(update_fields=["title", "detail", "updated_at"])
        why = closed_reason(lesion) or "the latest photos no longer raise it"
        for key, flag in existing.items():
            if flag.is_open and key not in wanted:
                flag.status, flag.retired_at, flag.retired_reason = LesionFlag.Status.RETIRED, now, why
                flag.save(update_fields=["status", "retired_at", "retired_reason", "updated_at"])
    return list(LesionFlag.objects.filter(lesion=lesion, status=LesionFlag.Status.OPEN))


def flag_review(*, flag: LesionFlag, reviewed_by: Any, reason: str) -> LesionFlag:
    """Record the review of an open flag (who, when, why); a ValidationError names what is wrong."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": ["Say why the flag is reviewed (e.g. 'excised', 'benign on dermoscopy')."]})
    if len(reason) > 500:
        raise ValidationError({"reason": ["The reason is longer than 500 characters."]})
    with transaction.atomic():
        locked = LesionFlag.objects.select_for_update().get(pk=flag.pk)
        if not locked.is_open:
            raise ValidationError({"status": [f"This flag is {locked.get_status_display().lower()} already."]})
        locked.status, locked.reviewed_by, locked.reviewed_at, locked.reason = (
            LesionFlag.Status.REVIEWED,
            reviewed_by,
            timezone.now(),
            reason,
        )
        locked.save(update_fields=["status", "reviewed_by", "reviewed_at", "reason", "updated_at"])
    return locked


__all__ = ["FlagSpec", "closed_reason", "current_flags", "flag_review", "lesion_flags_sync", "lesion_photos"]
