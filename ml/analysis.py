"""Running one analysis, as the worker does: the loaded classifiers, the claim, the stored result.

``prediction_run`` claims a prediction with a conditional update (a duplicate delivery finds
it taken and does nothing), analyses the photo with the model loaded once per process and
stores probabilities, heatmap and timings; an analysis that cannot succeed ends as failed
with a readable reason. Then, in the same task and on the photo already decoded, the photo's
lesion outline is made if it is still waiting (``ml.outlines``): once per photo, after the
classification is stored, so a failed outline never costs the classification.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.base import ContentFile
from django.utils import timezone

from clinic.files import atomic_with_files, track_file
from ml import outlines
from ml.engine.manifest import ManifestError
from ml.loaded import LoadedOnce
from ml.models import ModelVersion, Prediction
from ml.signals import photo_analysed_send

if TYPE_CHECKING:
    import numpy as np

    from lesions.models import LesionImage
    from ml.engine.inference.classifier import Analyser, Analysis
    from ml.engine.inference.context import PatientContext


class AnalysisError(Exception):
    """An analysis that cannot succeed by retrying (bad weights, unreadable photo)."""


# --- classifiers, loaded once per process --------------------------------------------------

_analysers: LoadedOnce[Analyser] = LoadedOnce()


def classifier_for(version: ModelVersion) -> Analyser:
    """The loaded analyser (a model or an ensemble) for a model version (loaded on first use, then kept)."""

    def load() -> Analyser:
        from ml.engine.inference.ensemble import analyser_from_manifest  # torch: the worker's, not the web's

        if settings.ML_TORCH_THREADS:
            import torch

            torch.set_num_threads(settings.ML_TORCH_THREADS)
        try:
            return analyser_from_manifest(version.manifest_path)
        except ManifestError as exc:
            raise AnalysisError(f"Model {version.name} could not be loaded: {exc}") from exc

    return _analysers.get((version.pk, version.weights_sha256), load)


def classifiers_clear() -> None:
    _analysers.clear()


# --- one prediction ------------------------------------------------------------------------


def prediction_run(*, prediction_id: int) -> Prediction | None:
    """Claim and run one prediction; returns it when this call did the work, else None."""
    if not Prediction.claim(prediction_id):
        return None
    prediction = Prediction.objects.select_related("image__lesion__patient", "image__visit", "model_version").get(
        pk=prediction_id
    )
    try:
        analysis = _analyse(prediction)
    except AnalysisError as exc:
        Prediction.fail(prediction_id, str(exc))
        # The photo still gets its outline (decoded again: the classifier could not do it).
        outlines.outline_run_for_image(image_id=prediction.image_id)
        photo_analysed_send(prediction.image_id)
        prediction.refresh_from_db()
        return prediction
    cam = _store_result(prediction, analysis)
    outlines.outline_run_for_image(image_id=prediction.image_id, model_input=analysis.model_input)
    # The heatmap just stored is still in memory: its share on the lesion needs no second read.
    outlines.cam_shares_update(
        image_id=prediction.image_id, known_cams={prediction.pk: cam} if cam is not None else None
    )
    photo_analysed_send(prediction.image_id)
    prediction.refresh_from_db()
    return prediction


def patient_context(image: LesionImage) -> PatientContext:
    """What the analysis may know of the patient: age at the photo's visit, sex, the lesion's body site."""
    from ml.engine.inference.context import PatientContext

    patient = image.lesion.patient
    sex = patient.sex if patient.sex in (patient.Sex.FEMALE, patient.Sex.MALE) else None
    return PatientContext(age=patient.age_on(image.visit.date), sex=sex, site=image.lesion.body_site or None)


def _analyse(prediction: Prediction) -> Analysis:
    from PIL import Image, UnidentifiedImageError

    classifier = classifier_for(prediction.model_version)
    context = patient_context(prediction.image)
    try:
        with prediction.image.image.open("rb") as handle, Image.open(handle) as photo:
            # no photo.load(): the engine decodes big JPEGs at reduced size (draft mode)
            return classifier.analyse(photo, gradcam=True, context=context)
    except FileNotFoundError as exc:
        raise AnalysisError("The photo file is missing from storage.") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise AnalysisError(f"The photo could not be read: {exc}") from exc


def _store_result(prediction: Prediction, analysis: Analysis) -> np.ndarray | None:
    """Store the finished analysis on its (still claimed) row; the 8-bit heatmap stored as ``cam``, if any."""
    from ml.engine.inference import overlay

    now = timezone.now()
    cam = analysis.cam_uint8()
    with atomic_with_files():
        locked = Prediction.objects.select_for_update().get(pk=prediction.pk)
        if locked.status != Prediction.Status.RUNNING:
            return None  # another attempt finished it meanwhile
        if analysis.overlay_png:
            locked.heatmap.save(f"{locked.uuid}.png", ContentFile(analysis.overlay_png), save=False)
            track_file(locked.heatmap.name)
        if cam is not None:
            cam_png = overlay.encode_png(cam, compression=overlay.CAM_PNG_COMPRESSION)
            locked.cam.save(f"{locked.uuid}_cam.png", ContentFile(cam_png), save=False)
            track_file(locked.cam.name)
        locked.probabilities = {k: round(float(v), 6) for k, v in analysis.probabilities.items()}
        locked.top_class = analysis.top_class
        locked.confidence = float(analysis.confidence)
        locked.melanoma_flag = analysis.melanoma_flag
        locked.melanoma_threshold = analysis.melanoma_threshold
        spread = analysis.melanoma_range
        locked.melanoma_range = [round(spread[0], 6), round(spread[1], 6)] if spread is not None else None
        locked.context = analysis.context or {}
        locked.timings = {k: round(float(v), 2) for k, v in analysis.timings.items()}
        locked.status = Prediction.Status.DONE
        locked.failure_reason = ""
        locked.finished_at = now
        locked.save()
    return cam
