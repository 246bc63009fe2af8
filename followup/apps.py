from __future__ import annotations

from typing import Any

from django.apps import AppConfig


def _photo_analysed(sender: Any, image_id: int, **kwargs: Any) -> None:
    from followup.flags_sync import lesion_flags_sync
    from followup.tasks import alignments_queue
    from lesions.models import LesionImage

    image = LesionImage.objects.select_related("lesion").filter(pk=image_id).first()
    if image is None:
        return
    alignments_queue(lesion=image.lesion)
    lesion_flags_sync(lesion=image.lesion)


def _lesion_changed(sender: Any, lesion: Any, **kwargs: Any) -> None:
    from followup.flags_sync import lesion_flags_sync

    lesion_flags_sync(lesion=lesion)


class FollowupConfig(AppConfig):
    name = "followup"
    verbose_name = "Follow-up of lesions and their analyses"

    def ready(self) -> None:
        from lesions.signals import lesion_changed
        from ml.signals import photo_analysed

        # A finished analysis or outline: align the photo with the lesion's others, bring its flags up to date.
        photo_analysed.connect(_photo_analysed, dispatch_uid="followup_photo_analysed")
        # A lesion excised, resolved or confirmed benign retires its open flags (and raises none).
        lesion_changed.connect(_lesion_changed, dispatch_uid="followup_lesion_changed")
