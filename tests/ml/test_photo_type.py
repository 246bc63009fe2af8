"""The classifiers were trained on dermoscopic photos: a clinical photo is outlined and measured, not classified."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from lesions import services
from lesions.models import Lesion, LesionImage
from ml.models import LesionOutline, Prediction
from tests.factories import make_jpeg


def store(lesion: Lesion, clinician: Any, image_type: str, capture: Any) -> LesionImage:
    with capture(execute=True):
        return services.lesion_image_upload(
            lesion=lesion,
            photo=services.photo_sanitize(io.BytesIO(make_jpeg())),
            image_type=image_type,
            uploaded_by=clinician,
        )


def test_a_clinical_close_up_is_outlined_but_not_classified_by_default(
    tiny_weights_dir: Path, segmenter: Path, lesion: Lesion, clinician: Any, django_capture_on_commit_callbacks: Any
) -> None:
    close_up = store(lesion, clinician, LesionImage.ImageType.CLINICAL_CLOSE_UP, django_capture_on_commit_callbacks)
    dermoscopic = store(lesion, clinician, LesionImage.ImageType.DERMOSCOPIC, django_capture_on_commit_callbacks)

    assert not Prediction.objects.filter(image=close_up).exists()
    assert LesionOutline.objects.get(image=close_up).status in LesionOutline.FINISHED
    assert Prediction.objects.get(image=dermoscopic).status == Prediction.Status.DONE


def test_clinical_photos_are_classified_when_configured(
    tiny_weights_dir: Path, lesion: Lesion, clinician: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.ML_CLASSIFY_CLINICAL_PHOTOS = True
    overview = store(lesion, clinician, LesionImage.ImageType.CLINICAL_OVERVIEW, django_capture_on_commit_callbacks)
    assert Prediction.objects.get(image=overview).status == Prediction.Status.DONE
