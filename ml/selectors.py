"""Photos with their analyses prefetched, the default model's first, and their outlines (pages and API)."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from lesions.models import Lesion, LesionImage, Visit
from ml.models import Prediction


def images_with_predictions() -> QuerySet[LesionImage]:
    # Prediction.Meta.ordering puts the default model's prediction first on every photo.
    return LesionImage.objects.select_related("visit", "lesion", "outline").prefetch_related(
        Prefetch("predictions", queryset=Prediction.objects.select_related("model_version"))
    )


def lesion_images(lesion: Lesion) -> QuerySet[LesionImage]:
    return images_with_predictions().filter(lesion=lesion).order_by("visit__date", "created_at")


def visit_images(visit: Visit) -> QuerySet[LesionImage]:
    return images_with_predictions().filter(visit=visit).order_by("lesion__label", "created_at")
