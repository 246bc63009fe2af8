"""Scoped reads of follow-up: a lesion's photos, alignments and flags, and a clinic's open flags.

Callers pass a lesion or clinics they already reached through the one access check
(``clinic.selectors``); these functions only say what to load with them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from followup.changes import FollowUpState, followup_state
from followup.models import LesionFlag, PhotoAlignment
from lesions.models import Lesion, LesionImage
from ml import selectors as ml_selectors


def lesion_photos(lesion: Lesion) -> list[LesionImage]:
    return list(ml_selectors.lesion_images(lesion))


def lesion_alignments(lesion: Lesion) -> list[PhotoAlignment]:
    return list(PhotoAlignment.objects.filter(photo__lesion=lesion))


def lesion_flags(lesion: Lesion) -> QuerySet[LesionFlag]:
    """Every flag of the lesion, open ones first, then newest first."""
    from django.db.models import Case, IntegerField, Value, When

    open_first = Case(When(status=LesionFlag.Status.OPEN, then=Value(0)), default=Value(1), output_field=IntegerField())
    return (
        LesionFlag.objects.filter(lesion=lesion)
        .select_related("photo__visit", "reviewed_by")
        .order_by(open_first, "-raised_at")
    )


def lesion_state(lesion: Lesion) -> tuple[FollowUpState, list[LesionImage], list[PhotoAlignment]]:
    photos = lesion_photos(lesion)
    alignments = lesion_alignments(lesion)
    return followup_state(photos, alignments), photos, alignments


def open_flags(clinics: Iterable[Any]) -> QuerySet[LesionFlag]:
    """Flags awaiting review in these clinics, newest first (the worklist)."""
    return (
        LesionFlag.objects.filter(status=LesionFlag.Status.OPEN, lesion__patient__clinic__in=list(clinics))
        .select_related("lesion__patient", "photo__visit")
        .order_by("-raised_at")
    )


def open_flags_by_lesion(lesions: Iterable[Lesion]) -> dict[int, list[LesionFlag]]:
    found: dict[int, list[LesionFlag]] = {}
    for flag in LesionFlag.objects.filter(lesion__in=list(lesions), status=LesionFlag.Status.OPEN).order_by(
        "-raised_at"
    ):
        found.setdefault(flag.lesion_id, []).append(flag)
    return found
