"""Model versions and predictions: registration from manifests, and queueing analyses.

Running one analysis is ``ml.analysis`` (what the worker's task calls); this module creates
the rows and queues their tasks once the rows commit.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.db import transaction

from lesions.models import LesionImage
from ml import outlines, tasks
from ml.engine.inference.ensemble_manifest import load_manifest
from ml.engine.manifest import ManifestError, find_manifests, passes_bar
from ml.models import LesionOutline, ModelVersion, Prediction

logger = logging.getLogger(__name__)

# The model marked default when nothing else says so: the deployed ensemble, else an EfficientNet.
DEFAULT_MODEL_PREFERENCE = ("ensemble", "efficientnet", "tf_efficientnet")


def _preferred(architectures: list[str]) -> int | None:
    """Index of the first architecture in order of ``DEFAULT_MODEL_PREFERENCE`` (None if none matches)."""
    for prefix in DEFAULT_MODEL_PREFERENCE:
        for index, architecture in enumerate(architectures):
            if architecture.startswith(prefix):
                return index
    return None


# --- model versions ------------------------------------------------------------------------


def model_versions_sync(
    *, weights_dir: Path | None = None, default: str | None = None, active: list[str] | None = None
) -> list[ModelVersion]:
    """Register every manifest in the weights folder as a ModelVersion; choose the default and the active ones.

    ``active`` (default: the ML_ACTIVE_MODELS setting) names the models that analyse new photos.
    Left empty, the default analyses every photo, and any other model only if its measured test
    figures in its manifest pass ``QUALITY_BAR``; the rest stay registered and inactive. Rows whose
    manifest disappeared are deactivated (predictions keep pointing at them).
    The default is ``default`` if given, else the current default if still there, else the
    ensemble, else the first EfficientNet, else the first model.
    """
    weights_dir = Path(weights_dir or settings.ML_WEIGHTS_DIR)
    default = default or settings.ML_DEFAULT_MODEL or None
    active_names = set(settings.ML_ACTIVE_MODELS if active is None else active)
    seen: list[ModelVersion] = []
    with transaction.atomic():
        for path in find_manifests(weights_dir):
            try:
                manifest = load_manifest(path)
            except ManifestError:
                logger.exception("skipping unreadable manifest %s", path)
                continue
            version, _ = ModelVersion.objects.update_or_create(
                name=manifest.name,
                defaults={
                    "architecture": manifest.architecture[:100],
                    "manifest_file": str(path.relative_to(weights_dir)),
                    "weights_sha256": manifest.weights_sha256,
                    "metrics": manifest.metrics,
                    "description": manifest.description,
                },
            )
            seen.append(version)
        unknown = active_names - {v.name for v in seen}
        if unknown:
            raise ValueError(f"ML_ACTIVE_MODELS names models without a manifest: {', '.join(sorted(unknown))}")
        if active_names:
            chosen = [v for v in seen if v.name in active_names]
        else:
            default_version = _default_among(seen, default)
            chosen = [v for v in seen if v == default_version or passes_bar(v.metrics.get("test"))]
        ModelVersion.objects.filter(pk__in=[v.pk for v in chosen]).update(is_active=True)
        ModelVersion.objects.exclude(pk__in=[v.pk for v in chosen]).update(is_active=False, is_default=False)
        for version in chosen:
            version.is_active = True
        model_version_set_default(name=default, candidates=chosen)
    return list(ModelVersion.objects.filter(pk__in=[v.pk for v in seen]))


def _default_among(versions: list[ModelVersion], name: str | None) -> ModelVersion | None:
    if not versions:
        return None
    if name:
        named = next((v for v in versions if v.name == name), None)
        if named is None:
            raise ValueError(f"ML_DEFAULT_MODEL names no registered model: {name!r}")
        return named
    current = next((v for v in versions if v.is_default), None)
    preferred = _preferred([v.architecture for v in versions])
    return current or versions[preferred if preferred is not None else 0]


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
        preferred = _preferred([v.architecture for v in active])
        chosen = current or active[preferred if preferred is not None else 0]
    ModelVersion.objects.exclude(pk=chosen.pk).filter(is_default=True).update(is_default=False)
    ModelVersion.objects.filter(pk=chosen.pk).update(is_default=True)


def manifest_path_by_name(name: str | None = None, *, weights_dir: Path | None = None) -> Path:
    """A manifest by model name (or path); without a name the default model's manifest.

    Works without the database, for command-line use: the default is ``ML_DEFAULT_MODEL``,
    else the ensemble, else the first EfficientNet in the weights folder, else the first manifest.
    """
    weights_dir = Path(weights_dir or settings.ML_WEIGHTS_DIR)
    if name and Path(name).suffix == ".json" and Path(name).is_file():
        return Path(name)
    loaded = {path: load_manifest(path) for path in find_manifests(weights_dir)}
    manifests = {manifest.name: path for path, manifest in loaded.items()}
    if not manifests:
        raise ManifestError(f"no model manifests in {weights_dir}")
    wanted = name or settings.ML_DEFAULT_MODEL
    if wanted:
        if wanted not in manifests:
            raise ManifestError(f"no model named {wanted!r} in {weights_dir} (have: {', '.join(sorted(manifests))})")
        return manifests[wanted]
    ordered = sorted(manifests)
    preferred = _preferred([loaded[manifests[name]].architecture for name in ordered])
    return manifests[ordered[preferred if preferred is not None else 0]]


# --- predictions ---------------------------------------------------------------------------


def lesion_image_analyses_create(*, image: LesionImage) -> None:
    """A new photo's work: a pending prediction per active model and, with a segmentation model, a pending outline.

    The photo's first analysis task makes the outline from the photo it decodes; without any
    analysis to run, the outline is queued on its own. The classifiers were trained on dermoscopic
    photos: a clinical photo is classified only when ``ML_CLASSIFY_CLINICAL_PHOTOS`` says so (it is
    still outlined and measured).
    """
    created = predictions_create_for_image(image=image) if photo_is_classified(image) else []
    outline = outlines.outline_create_for_image(image=image)
    if outline is not None and not created:
        outline_enqueue(outline=outline)


def photo_is_classified(image: LesionImage) -> bool:
    """Whether the classifiers analyse this kind of photo (dermoscopic always; clinical when configured)."""
    return image.image_type == LesionImage.ImageType.DERMOSCOPIC or bool(settings.ML_CLASSIFY_CLINICAL_PHOTOS)


def outline_enqueue(*, outline: LesionOutline) -> None:
    outline_id = outline.pk
    transaction.on_commit(lambda: tasks.outline_send(outline_id))


def outlines_queue_missing() -> int:
    """Queue an outline of every photo that has none (backfill after a segmentation model is installed)."""
    if outlines.segmenter_manifest_path() is None:
        raise ManifestError(f"no segmentation model in {settings.ML_WEIGHTS_DIR} (or ML_SEGMENTATION_MODEL=none)")
    count = 0
    for image in LesionImage.objects.filter(outline__isnull=True).iterator():
        with transaction.atomic():
            outline, created = LesionOutline.objects.get_or_create(image=image)
            if created:
                outline_enqueue(outline=outline)
                count += 1
    return count


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
    prediction_id = prediction.pk
    transaction.on_commit(lambda: tasks.prediction_send(prediction_id))


def predictions_queue_missing(*, version: ModelVersion) -> int:
    """Queue a prediction by ``version`` for every photo that has none (re-analysis)."""
    images = LesionImage.objects.exclude(predictions__model_version=version)
    count = 0
    for image in images.iterator():
        with transaction.atomic():
            count += len(predictions_create_for_image(image=image, versions=[version]))
    return count
