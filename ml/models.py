from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from auditlog.registry import auditlog
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import models

from clinic.audit import ClinicAuditMixin
from clinic.models import TimeStampedModel
from lesions.models import LesionImage
from ml.engine.labels import CLASS_NAMES, HAM10000_CLASSES, MALIGNANT_CLASSES
from ml.jobs import Job


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
        nested = test.get("metrics")
        numbers: dict[str, Any] = nested if isinstance(nested, dict) else test
        melanoma_figures, flag_figures = numbers.get("melanoma"), numbers.get("melanoma_flag")
        melanoma: dict[str, Any] = melanoma_figures if isinstance(melanoma_figures, dict) else {}
        flag: dict[str, Any] = flag_figures if isinstance(flag_figures, dict) else {}
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

    @property
    def cam_warning_cut(self) -> float:
        """The heatmap concentration under which pages warn: the manifest's (chosen on validation), else the setting."""
        explanation = self.metrics.get("explanation") if isinstance(self.metrics, dict) else None
        cut = explanation.get("warning_below_concentration") if isinstance(explanation, dict) else None
        return float(cut) if cut is not None else float(settings.EXPLAIN_CAM_CONCENTRATION_MIN)


class Prediction(ClinicAuditMixin, TimeStampedModel, Job):
    """One analysis of one photo by one model version (a background job: ``ml.jobs.Job``)."""

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
    # The melanoma triage decision, kept apart from the top class: P(mel) >= the model's threshold
    # (chosen on validation for high sensitivity). None for a model without a threshold.
    melanoma_flag = models.BooleanField(null=True, blank=True)
    melanoma_threshold = models.FloatField(null=True, blank=True)
    # The middle half (25th-75th percentile) of the P(mel) readings behind the score ([low, high]; an
    # ensemble's members on every view): its uncertainty. None for a single reading.
    melanoma_range = models.JSONField(null=True, blank=True)
    # The patient context the analysis was given (age at the visit, sex, body site; None = unknown).
    context = models.JSONField(default=dict, blank=True)
    # Share of the Grad-CAM's mass inside the photo's lesion outline (None: no outline or no heatmap).
    cam_in_lesion = models.FloatField(null=True, blank=True)

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
    def top_class_name(self) -> str:
        return CLASS_NAMES.get(self.top_class, self.top_class)

    MELANOMA_FLAG_TEXT = "Suspicious for melanoma: consider excision/biopsy or specialist review."

    @property
    def melanoma_probability(self) -> float | None:
        return float(self.probabilities["mel"]) if "mel" in (self.probabilities or {}) else None

    @property
    def total_ms(self) -> float | None:
        return self.timings.get("total") if isinstance(self.timings, dict) else None

    @property
    def cam_concentration(self) -> float | None:
        """How concentrated the heatmap is on the lesion: its share on the outline / the share of the photo the
        outline covers (1 = no better than chance; None without an outline or a heatmap share)."""
        outline = outline_of(self.image)
        if self.cam_in_lesion is None or outline is None or outline.status != LesionOutline.Status.DONE:
            return None
        area = float((outline.measurements or {}).get("area_fraction") or 0.0)
        return self.cam_in_lesion / area if area > 0 else None

    @property
    def cam_mostly_outside(self) -> bool:
        """The heatmap is less concentrated on the lesion than the model version's warning cut (chosen on
        validation so that it fires on at most 10% of correctly classified photos)."""
        concentration = self.cam_concentration
        return concentration is not None and concentration < self.model_version.cam_warning_cut

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


# The six colours of the ABCD rule, in ``ml.engine.segmentation.measurements.ABCD_COLOURS`` order, as pages say them.
COLOUR_NAMES = {
    "light_brown": "light brown",
    "dark_brown": "dark brown",
    "black": "black",
    "red": "red",
    "white": "white",
    "blue_grey": "blue-grey",
}


@dataclass(frozen=True)
class Measured:
    """What an outline measures, in mm where the photo's pixel size is known, else relative to the photo.

    The stored measurements are in photo pixels; millimetres follow from the pixel size in force
    now (the photo's own or its type's default), so a pixel size set later applies to old outlines.
    """

    area_fraction: float  # of the photo
    diameter_fraction: float  # largest Feret diameter over the photo's longer side
    width_fraction: float  # extent perpendicular to the diameter, over the longer side
    area_px: float
    diameter_px: float
    width_px: float
    compactness: float  # perimeter² / (4π·area): 1 for a disc
    asymmetry_major_axis: float
    asymmetry_minor_axis: float
    colours: tuple[str, ...]
    colour_shares: dict[str, float] = field(default_factory=dict)
    mm_per_pixel: float | None = None
    pixel_size_source: str = ""

    @property
    def sizes_are_relative(self) -> bool:
        return self.mm_per_pixel is None

    @property
    def area_percent(self) -> float:
        """Area in % of the photo."""
        return 100 * self.area_fraction

    @property
    def diameter_percent(self) -> float:
        return 100 * self.diameter_fraction

    @property
    def width_percent(self) -> float:
        return 100 * self.width_fraction

    @property
    def area_mm2(self) -> float | None:
        return None if self.mm_per_pixel is None else self.area_px * self.mm_per_pixel**2

    @property
    def diameter_mm(self) -> float | None:
        return None if self.mm_per_pixel is None else self.diameter_px * self.mm_per_pixel

    @property
    def width_mm(self) -> float | None:
        return None if self.mm_per_pixel is None else self.width_px * self.mm_per_pixel

    @property
    def asymmetry(self) -> float:
        """The larger of the two axis asymmetries (0 symmetric, 1 no overlap with its mirror image)."""
        return max(self.asymmetry_major_axis, self.asymmetry_minor_axis)

    @property
    def colour_names(self) -> list[str]:
        return [COLOUR_NAMES.get(code, code) for code in self.colours]

    @property
    def colour_rows(self) -> list[dict[str, Any]]:
        """The colours present with their names and share of the lesion, for the pages."""
        return [
            {"code": code, "name": COLOUR_NAMES.get(code, code), "share": self.colour_shares.get(code)}
            for code in self.colours
        ]

    def to_dict(self) -> dict[str, Any]:
        """The API's shape: every size in mm (null without a pixel size) and relative to the photo."""

        def rounded(value: float | None, digits: int = 4) -> float | None:
            return None if value is None else round(value, digits)

        return {
            "area_fraction": rounded(self.area_fraction, 6),
            "area_mm2": rounded(self.area_mm2, 3),
            "diameter_fraction": rounded(self.diameter_fraction),
            "diameter_mm": rounded(self.diameter_mm, 3),
            "width_mm": rounded(self.width_mm, 3),
            "area_px": round(self.area_px, 1),
            "diameter_px": round(self.diameter_px, 1),
            "width_px": round(self.width_px, 1),
            "asymmetry": rounded(self.asymmetry),
            "asymmetry_major_axis": rounded(self.asymmetry_major_axis),
            "asymmetry_minor_axis": rounded(self.asymmetry_minor_axis),
            "compactness": rounded(self.compactness),
            "colours": list(self.colours),
            "colour_shares": {k: round(v, 4) for k, v in self.colour_shares.items()},
            "sizes_are_relative": self.sizes_are_relative,
            "mm_per_pixel": self.mm_per_pixel,
        }


def measured_from(data: dict[str, Any], image: LesionImage) -> Measured:
    """Stored measurements (in ``image``'s pixels) with that photo's pixel size in force now."""
    longer_side = max(image.width, image.height)
    return Measured(
        area_fraction=float(data["area_fraction"]),
        diameter_fraction=float(data["diameter_fraction"]),
        width_fraction=float(data["width_px"]) / longer_side,
        area_px=float(data["area_px"]),
        diameter_px=float(data["diameter_px"]),
        width_px=float(data["width_px"]),
        compactness=float(data["compactness"]),
        asymmetry_major_axis=float(data["asymmetry_major_axis"]),
        asymmetry_minor_axis=float(data["asymmetry_minor_axis"]),
        colours=tuple(data.get("colours", ())),
        colour_shares={k: float(v) for k, v in data.get("colour_shares", {}).items()},
        mm_per_pixel=image.pixel_size_mm,
        pixel_size_source=image.pixel_size_source,
    )


def outline_upload_to(instance: LesionOutline, filename: str) -> str:
    return f"outlines/{instance.uuid}.png"


class LesionOutline(ClinicAuditMixin, TimeStampedModel, Job):
    """The lesion outlined on one photo by the segmentation model, and what it measures.

    One per photo, whichever classifiers analysed it: made by the first analysis task of the
    photo on the photo it already decoded (``ml.outlines``).
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be outlined"
        RUNNING = "running", "Outlining"
        DONE = "done", "Outlined"
        NO_LESION = "no_lesion", "No lesion found"
        FAILED = "failed", "Failed"

    FINISHED = ("done", "no_lesion", "failed")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    image = models.OneToOneField(LesionImage, on_delete=models.CASCADE, related_name="outline")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    segmenter_name = models.CharField(max_length=100, blank=True)
    segmenter_sha256 = models.CharField(max_length=64, blank=True)
    mask = models.FileField(upload_to=outline_upload_to, max_length=200, blank=True)
    # The outline as a closed polygon of [x, y] pixels of the stored photo, for drawing over it.
    polygon = models.JSONField(default=list, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    # ``ml.engine.segmentation.measurements.LesionMeasurements`` in photo pixels and shares of the photo (no mm).
    measurements = models.JSONField(default=dict, blank=True)

    CLINIC_PATH = "image__lesion__patient__clinic"

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="done") | models.Q(confidence__isnull=False),
                name="lesionoutline_done_has_confidence",
            ),
        ]
        indexes = [models.Index(fields=["status", "started_at"])]

    def __str__(self) -> str:
        return f"outline of {self.image_id}: {self.status}"

    @property
    def measured(self) -> Measured | None:
        """The measurements with the photo's pixel size in force now (None unless outlined)."""
        if self.status != self.Status.DONE or not self.measurements:
            return None
        return measured_from(self.measurements, self.image)

    @property
    def svg_points(self) -> str:
        """The polygon as an SVG ``points`` attribute."""
        return " ".join(f"{int(x)},{int(y)}" for x, y in self.polygon)


def outline_of(image: LesionImage) -> LesionOutline | None:
    """A photo's outline row, None if it has none (load photos with ``select_related("outline")``)."""
    try:
        return image.outline
    except (ObjectDoesNotExist, AttributeError):  # AttributeError: a row-like object without outlines
        return None


# Reads of heatmaps and outlines are audited; the worker's writes carry no actor.
auditlog.register(Prediction, exclude_fields=["updated_at", "timings"])
auditlog.register(LesionOutline, exclude_fields=["updated_at", "timings"])
