"""Model versions and predictions: registration from manifests, queueing and running analyses."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from clinic.files import atomic_with_files, track_file
from lesions.models import LesionImage
from ml.engine.manifest import Manifest, ManifestError, find_manifests
from ml.models import ModelVersion, Prediction

if TYPE_CHECKING:
    from ml.engine.classifier import Classifier

logger = logging.getLogger(__name__)

# Name of the model marked default when nothing else says so: the EfficientNet.
DEFAULT_MODEL_PREFERENCE = ("efficientnet", "tf_efficientnet")


class AnalysisError(Exception):
    """An analysis that cannot succeed by retrying (bad weights, unreadable photo)."""


# --- model versions ------------------------------------------------------------------------


def model_versions_sync(
    *, weights_dir: Path | None = None, default: str | None = None, active: list[str] | None = None
) -> list[ModelVersion]:
    """Register every manifest in the weights folder as a ModelVersion, active unless left out.

    ``active`` (default: the ML_ACTIVE_MODELS setting) names the models that analyse new photos;
    empty means all. Rows whose manifest disappeared are deactivated (predictions keep pointing
    at them).
    The default is ``default`` if given, else the current default if still active, else the
    first EfficientNet, else the first model.
    """
    weights_dir = Path(weights_dir or settings.ML_WEIGHTS_DIR)
    default = default or settings.ML_DEFAULT_MODEL or None
    active_names = set(settings.ML_ACTIVE_MODELS if active is None else active)
    seen: list[ModelVersion] = []
    with transaction.atomic():
        for path in find_manifests(weights_dir):
            try:
                manifest = Manifest.load(path)
            except ManifestError:
                logger.exception("skipping unreadable manifest %s", path)
                continue
            version, _ = ModelVersion.objects.update_or_create(
                name=manifest.name,
                defaults={
                    "architecture": manifest.architecture,
                    "manifest_file": str(path.relative_to(weights_dir)),
                    "weights_sha256": manifest.weights_sha256,
                    "classes": list(manifest.classes),
                    "input_size": list(manifest.input_size),
                    "temperature": manifest.temperature,
                    "metrics": manifest.metrics,
                    "description": manifest.description,
                    "is_active": not active_names or manifest.name in active_names,
                },
            )
            seen.append(version)
        unknown = active_names - {v.name for v in seen}
        if unknown:
            raise ValueError(f"ML_ACTIVE_MODELS names models without a manifest: {', '.join(sorted(unknown))}")
        ModelVersion.objects.exclude(pk__in=[v.pk for v in seen if v.is_active]).update(
            is_active=False, is_default=False
        )
        model_version_set_default(name=default, candidates=[v for v in seen if v.is_active])
    return list(ModelVersion.objects.filter(pk__in=[v.pk for v in seen]))


def model_version_set_default(*, name: str | None = None, candidates: list[ModelVersion] | None = None) -> None:
    active = list(candidates) if candidates is not None else list(ModelVersion.objects.filter(is_active=True))
    if not active:
        return
    chosen: ModelVersion | None = None
    if name:
        chosen = next((v for v in active if v.name == name), None)
        if chosen is None:
            raise ValueError(f"no active model named {name!r}")
    if chosen is None:
        current = next((v for v in active if v.is_default), None)
        efficientnets = [v for v in active if v.architecture.startswith(DEFAULT_MODEL_PREFERENCE)]
        chosen = current or (efficientnets[0] if efficientnets else active[0])
    ModelVersion.objects.exclude(pk=chosen.pk).filter(is_default=True).update(is_default=False)
    ModelVersion.objects.filter(pk=chosen.pk).update(is_default=True)


def manifest_path_for(version: ModelVersion) -> Path:
    return Path(settings.ML_WEIGHTS_DIR) / version.manifest_file


def manifest_path_by_name(name: str | None = None, *, weights_dir: Path | None = None) -> Path:
    """A manifest by model name (or path); without a name the default model's manifest.

    Works without the database, for command-line use: the default is ``ML_DEFAULT_MODEL``,
    else the first EfficientNet in the weights folder, else the first manifest.
    """
    weights_dir = Path(weights_dir or settings.ML_WEIGHTS_DIR)
    if name and Path(name).suffix == ".json" and Path(name).is_file():
        return Path(name)
    manifests = {Manifest.load(path).name: path for path in find_manifests(weights_dir)}
    if not manifests:
        raise ManifestError(f"no model manifests in {weights_dir}")
    wanted = name or settings.ML_DEFAULT_MODEL
    if wanted:
        if wanted not in manifests:
            raise ManifestError(f"no model named {wanted!r} in {weights_dir} (have: {', '.join(sorted(manifests))})")
        return manifests[wanted]
    for _, path in sorted(manifests.items()):
        if Manifest.load(path).architecture.startswith(DEFAULT_MODEL_PREFERENCE):
            return path
    return manifests[sorted(manifests)[0]]


# --- classifiers, loaded once per process --------------------------------------------------

_classifiers: dict[tuple[int, str], Classifier] = {}
_classifiers_lock = threading.Lock()


def classifier_for(version: ModelVersion) -> Classifier:
    """The loaded classifier for a model version (loaded on first use, then kept)."""
    from ml.engine.classifier import Classifier

    key = (version.pk, version.weights_sha256)
    cached = _classifiers.get(key)
    if cached is not None:
        return cached
    with _classifiers_lock:
        cached = _classifiers.get(key)
        if cached is None:
            if settings.ML_TORCH_THREADS:
                import torch

                torch.set_num_threads(settings.ML_TORCH_THREADS)
            try:
                cached = Classifier.from_manifest(manifest_path_for(version))
            except ManifestError as exc:
                raise AnalysisError(f"Model {version.name} could not be loaded: {exc}") from exc
            _classifiers[key] = cached
    return cached


def classifiers_clear() -> None:
    with _classifiers_lock:
        _classifiers.clear()


# --- predictions ---------------------------------------------------------------------------


def predictions_create_for_image(*, image: LesionImage, versions: list[ModelVersion] | None = None) -> list[Prediction]:
    """A pending prediction per active model version; analysis is queued once the row commits."""
    if versions is None:
        versions = list(ModelVersion.objects.filter(is_active=True))
    created = []
    for version in versions:
        prediction, was_created = Prediction.objects.get_or_create(image=image, model_version=version)
        if was_created:
            created.append(prediction)
            prediction_enqueue(prediction=prediction)
    return created


def prediction_enqueue(*, prediction: Prediction) -> None:
    from ml.tasks import prediction_run_task

    prediction_id = prediction.pk
    transaction.on_commit(lambda: _send(prediction_run_task, prediction_id))


def _send(task, prediction_id: int) -> None:
    try:
        task.delay(prediction_id)
    except Exception:  # the broker is down: the row stays pending and the sweep re-queues it
        logger.exception("could not queue analysis of prediction %s; it stays pending", prediction_id)


def _stale_running_before() -> timedelta:
    # A worker that still runs after twice the hard time limit has died (killed, machine lost).
    return timedelta(seconds=settings.ML_PREDICTION_TIME_LIMIT * 2)


def prediction_claim(*, prediction_id: int) -> bool:
    """Move a prediction from pending (or a stale running claim) to running; False if taken."""
    now = timezone.now()
    stale = now - _stale_running_before()
    claimed = Prediction.objects.filter(
        Q(status=Prediction.Status.PENDING) | Q(status=Prediction.Status.RUNNING, started_at__lt=stale),
        pk=prediction_id,
    ).update(status=Prediction.Status.RUNNING, started_at=now, attempts=F("attempts") + 1, updated_at=now)
    return claimed == 1


def prediction_release(*, prediction_id: int) -> None:
    """Give a claimed prediction back (before a retry)."""
    Prediction.objects.filter(pk=prediction_id, status=Prediction.Status.RUNNING).update(
        status=Prediction.Status.PENDING, updated_at=timezone.now()
    )


def prediction_fail(*, prediction_id: int, reason: str) -> None:
    now = timezone.now()
    Prediction.objects.filter(pk=prediction_id).exclude(status=Prediction.Status.DONE).update(
        status=Prediction.Status.FAILED, failure_reason=reason[:2000], finished_at=now, updated_at=now
    )


def prediction_run(*, prediction_id: int) -> Prediction | None:
    """Claim and run one prediction; returns it when this call did the work, else None."""
    if not prediction_claim(prediction_id=prediction_id):
        return None
    prediction = Prediction.objects.select_related("image", "model_version").get(pk=prediction_id)
    try:
        analysis = _analyse(prediction)
    except AnalysisError as exc:
        prediction_fail(prediction_id=prediction_id, reason=str(exc))
        prediction.refresh_from_db()
        return prediction
    _store_result(prediction, analysis)
    prediction.refresh_from_db()
    return prediction


def _analyse(prediction: Prediction):
    from PIL import Image, UnidentifiedImageError

    classifier = classifier_for(prediction.model_version)
    try:
        with prediction.image.image.open("rb") as handle, Image.open(handle) as photo:
            # no photo.load(): the engine decodes big JPEGs at reduced size (draft mode)
            return classifier.analyse(photo, gradcam=True)
    except FileNotFoundError as exc:
        raise AnalysisError("The photo file is missing from storage.") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise AnalysisError(f"The photo could not be read: {exc}") from exc


def _store_result(prediction: Prediction, analysis) -> None:
    now = timezone.now()
    with atomic_with_files():
        locked = Prediction.objects.select_for_update().get(pk=prediction.pk)
        if locked.status != Prediction.Status.RUNNING:
            return  # another attempt finished it meanwhile
        if analysis.overlay_png:
            locked.heatmap.save(f"{locked.uuid}.png", ContentFile(analysis.overlay_png), save=False)
            track_file(locked.heatmap.name)
        cam_png = getattr(analysis, "cam_png", None)
        if callable(cam_png):
            cam_png = cam_png()
        if cam_png:
            locked.cam.save(f"{locked.uuid}_cam.png", ContentFile(cam_png), save=False)
            track_file(locked.cam.name)
        locked.probabilities = {k: round(float(v), 6) for k, v in analysis.probabilities.items()}
        locked.top_class = analysis.top_class
        locked.confidence = float(analysis.confidence)
        locked.timings = {k: round(float(v), 2) for k, v in analysis.timings.items()}
        locked.status = Prediction.Status.DONE
        locked.failure_reason = ""
        locked.finished_at = now
        locked.save()


def predictions_requeue_stuck() -> int:
    """Queue again predictions left pending (lost message, broker down) or running on a dead worker."""
    now = timezone.now()
    stuck = Prediction.objects.filter(
        Q(status=Prediction.Status.PENDING, updated_at__lt=now - timedelta(seconds=settings.ML_PREDICTION_STUCK_AFTER))
        | Q(status=Prediction.Status.RUNNING, started_at__lt=now - _stale_running_before())
    )
    from ml.tasks import prediction_run_task

    count = 0
    for prediction_id in stuck.values_list("pk", flat=True):
        _send(prediction_run_task, prediction_id)
        count += 1
    return count


def predictions_queue_missing(*, version: ModelVersion) -> int:
    """Queue a prediction by ``version`` for every photo that has none (re-analysis)."""
    images = LesionImage.objects.exclude(predictions__model_version=version)
    count = 0
    for image in images.iterator():
        with transaction.atomic():
            count += len(predictions_create_for_image(image=image, versions=[version]))
    return count
