from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from auditlog.registry import auditlog
from django.conf import settings
from django.db import models

from clinic.audit import ClinicAuditMixin
from clinic.models import TimeStampedModel
from lesions.models import LesionImage
from ml.engine.architectures import CLASS_NAMES, HAM10000_CLASSES, MALIGNANT_CLASSES


def class_probabilities(probabilities: dict[str, Any]) -> dict[str, float]:
    """A prediction's probabilities as floats in model class order (0 for a class not stored)."""
    return {code: float(probabilities.get(code, 0.0)) for code in HAM10000_CLASSES}


def malignant_sum(probabilities: dict[str, Any]) -> float:
    """Mel + bcc + akiec: the probability that a lesion is malignant or pre-malignant."""
    return sum(float(probabilities.get(code, 0.0)) for code in MALIGNANT_CLASSES)


def default_model_first(version: Any) -> tuple[bool, str]:
    """The one order of models: the default first, then by name (as ``ModelVersion.Meta.ordering``)."""
    return (not version.is_default, version.name)


class ModelVersion(TimeStampedModel):
    """A shipped model, registered from its manifest in ``ML_WEIGHTS_DIR``."""

    name = models.CharField(max_length=100, unique=True)
    architecture = models.CharField(max_length=100)
    manifest_file = models.CharField(max_length=300, help_text="path relative to ML_WEIGHTS_DIR")
    weights_sha256 = models.CharField(max_length=64)
    # Classes, input size and calibration are the manifest's: read from it when the model loads.
    metrics = models.JSONField(default=dict, blank=True)
    description = models.TextField(blank=True)
    is_active = models.BooleanField(default=True, db_index=True)
    is_default = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_default", "name"]  # default_model_first
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="modelversion_one_default"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def manifest_path(self) -> Path:
        return Path(settings.ML_WEIGHTS_DIR) / self.manifest_file

    @property
    def test_metrics(self) -> dict[str, Any]:
        """Headline numbers on the held-out test split from the manifest ({} if not measured)."""
        test = self.metrics.get("test") if isinstance(self.metrics, dict) else None
        if not isinstance(test, dict):
            return {}
        # An evaluation report nests its numbers under "metrics"; a bare dict holds them directly.
        numbers = test.get("metrics") if isinstance(test.get("metrics"), dict) else test
        melanoma = numbers.get("melanoma") if isinstance(numbers.get("melanoma"), dict) else {}
        flag = numbers.get("melanoma_flag") if isinstance(numbers.get("melanoma_flag"), dict) else {}
        summary = {
            "accuracy": numbers.get("accuracy"),
            "balanced_accuracy": numbers.get("balanced_accuracy"),
            "mel_sensitivity": melanoma.get("sensitivity"),
            "mel_flag_threshold": flag.get("threshold"),
            "mel_flag_sensitivity": flag.get("sensitivity"),
            "mel_flag_specificity": flag.get("specificity"),
            "images": test.get("images", numbers.get("n")),
        }
        return summary if summary["accuracy"] is not None else {}

    @property
    def test_accuracy(self) -> float | None:
        return self.test_metrics.get("accuracy")


class Prediction(ClinicAuditMixin, TimeStampedModel):
    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for analysis"
        RUNNING = "running", "Analysing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    image = models.ForeignKey(LesionImage, on_delete=models.CASCADE, related_name="predictions")
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="predictions")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    probabilities = models.JSONField(default=dict, blank=True)
    top_class = models.CharField(max_length=10, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    heatmap = models.FileField(upload_to="heatmaps/", max_length=200, blank=True)
    cam = models.FileField(upload_to="heatmaps/", max_length=200, blank=True)
    failure_reason = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    # The melanoma triage decision, kept apart from the top class: P(mel) >= the model's threshold
    # (chosen on validation for high sensitivity). None for a model without a threshold.
    melanoma_flag = models.BooleanField(null=True, blank=True)
    melanoma_threshold = models.FloatField(null=True, blank=True)
    # The patient context the analysis was given (age at the visit, sex, body site; None = unknown).
    context = models.JSONField(default=dict, blank=True)

    CLINIC_PATH = "image__lesion__patient__clinic"

    class Meta:
        # Per photo, the default model's prediction first: default_model_first's order.
        ordering = ["image", "-model_version__is_default", "model_version__name"]
        constraints = [
            models.UniqueConstraint(fields=["image", "model_version"], name="prediction_one_per_image_model"),
            models.CheckConstraint(
                condition=~models.Q(status="done") | ~models.Q(top_class=""),
                name="prediction_done_has_top_class",
            ),
        ]
        indexes = [models.Index(fields=["status", "started_at"])]

    def __str__(self) -> str:
        return f"{self.model_version} on {self.image_id}: {self.status}"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}

    @property
    def top_class_name(self) -> str:
        return CLASS_NAMES.get(self.top_class, self.top_class)

    MELANOMA_FLAG_TEXT = "Suspicious for melanoma: consider excision/biopsy or specialist review."

    @property
    def melanoma_probability(self) -> float | None:
        return float(self.probabilities["mel"]) if "mel" in (self.probabilities or {}) else None

    @property
    def total_ms(self) -> float | None:
        return self.timings.get("total") if isinstance(self.timings, dict) else None

    def probability_rows(self) -> list[dict[str, object]]:
        """The 7 classes in model order with names, for bars on the pages."""
        return [
            {
                "code": code,
                "name": CLASS_NAMES[code],
                "probability": probability,
                "percent": round(100 * probability, 1),
                "is_top": code == self.top_class,
                "malignant": code in MALIGNANT_CLASSES,
            }
            for code, probability in class_probabilities(self.probabilities).items()
        ]


# Reads of heatmaps are audited; the worker's writes carry no actor.
auditlog.register(Prediction, exclude_fields=["updated_at", "timings"])
