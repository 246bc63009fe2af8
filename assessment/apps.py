from __future__ import annotations

from typing import Any

from django.apps import AppConfig


def _refuse_photo_of_signed_visit(sender: Any, image: Any, **kwargs: Any) -> None:
    """A photo stored at a signed visit: refused, inside the storing transaction, so nothing is kept."""
    from assessment.models import VisitSigned, visit_is_signed

    if visit_is_signed(image.visit):
        raise VisitSigned(image.visit)


class AssessmentConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "assessment"
    verbose_name = "Dermoscopy checklists and the clinician's assessment of a visit"

    def ready(self) -> None:
        from lesions.signals import lesion_image_stored

        # A signed visit is read-only: the records app stores photos without knowing of signatures.
        lesion_image_stored.connect(_refuse_photo_of_signed_visit, dispatch_uid="assessment_signed_visit_photo")
