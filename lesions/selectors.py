"""Scoped reads of patient data for pages and API (all through clinic.selectors.scoped)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Prefetch, Q, QuerySet

from clinic.selectors import scoped
from lesions.models import Lesion, LesionImage, Patient, Visit


def patient_list(user: Any, *, search: str = "") -> QuerySet[Patient]:
    qs = scoped(Patient, user).select_related("clinic")
    search = search.strip()
    if search:
        terms = Q()
        for word in search.split():
            terms &= (
                Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(medical_record_number__icontains=word)
            )
        qs = qs.filter(terms)
    # Meta.ordering is dropped from GROUP BY queries, so the aggregate needs an explicit order.
    return qs.annotate(lesion_count=Count("lesions", distinct=True), last_visit=Max("visits__date")).order_by(
        "last_name", "first_name", "pk"
    )


def images_with_predictions() -> QuerySet[LesionImage]:
    from ml.models import Prediction

    return LesionImage.objects.select_related("visit", "lesion").prefetch_related(
        Prefetch(
            "predictions",
            queryset=Prediction.objects.select_related("model_version").order_by(
                "-model_version__is_default", "model_version__name"
            ),
        )
    )


def lesion_images(lesion: Lesion) -> QuerySet[LesionImage]:
    return images_with_predictions().filter(lesion=lesion).order_by("visit__date", "created_at")


def visit_images(visit: Visit) -> QuerySet[LesionImage]:
    return images_with_predictions().filter(visit=visit).order_by("lesion__label", "created_at")
