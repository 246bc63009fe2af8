"""Follow-up rows: how each photo of a lesion lines up with its baseline and previous photos, and the flags raised.

A ``PhotoAlignment`` is a background job (``ml.jobs.Job``): the worker registers the newer photo
onto its reference from the skin around the lesion and outlines it again in the reference's
frame, so that the two outlines compare pixel for pixel. A ``LesionFlag`` is a signal a
clinician acts on: raised (open), then reviewed (who, when, why) or retired (the photos no longer
raise it, or the lesion was excised, resolved or confirmed benign); its history is kept.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from auditlog.registry import auditlog
from django.conf import settings
from django.db import models
from django.utils import timezone

from clinic.audit import ClinicAuditMixin
from clinic.models import TimeStampedModel
from lesions.models import Lesion, LesionImage
from ml.jobs import Job


class PhotoAlignment(ClinicAuditMixin, TimeStampedModel, Job):
    """A photo registered onto a reference photo of the same lesion (its baseline, or its previous photo)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be aligned"
        RUNNING = "running", "Aligning"
        ALIGNED = "aligned", "Aligned"
        NOT_NEEDED = "not_needed", "Reference photo itself"
        FAILED = "failed", "Could not align"

    FINISHED: ClassVar[tuple[str, ...]] = ("aligned", "not_needed", "failed")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    photo = models.ForeignKey(LesionImage, on_delete=models.CASCADE, related_name="alignments")
    reference = models.ForeignKey(LesionImage, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    # 2 x 3 similarity, photo pixels -> reference pixels (kept for a failed one when RANSAC found one).
    matrix = models.JSONField(null=True, blank=True)
    quality = models.FloatField(default=0.0)
    scale = models.FloatField(null=True, blank=True)  # reference pixels per photo pixel
    rotation_deg = models.FloatField(null=True, blank=True)
    inliers = models.PositiveIntegerField(default=0)
    # The photo outlined again in the reference's frame (``ml.engine.segmentation.measurements``, reference pixels).
    measurements = models.JSONField(default=dict, blank=True)

    CLINIC_PATH = "photo__lesion__patient__clinic"

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["photo", "reference"], name="photoalignment_one_per_pair"),
        ]
        indexes = [models.Index(fields=["status", "started_at"])]

    def __str__(self) -> str:
        return f"photo {self.photo_id} on {self.reference_id}: {self.status}"

    @property
    def is_aligned(self) -> bool:
        return self.status in (self.Status.ALIGNED, self.Status.NOT_NEEDED)

    @property
    def reason(self) -> str:
        """Why the photos could not be aligned ("" when they were)."""
        return self.failure_reason if self.status == self.Status.FAILED else ""


class LesionFlag(TimeStampedModel):
    """A follow-up signal on a lesion, raised by one photo, with its review."""

    class Code(models.TextChoices):
        MELANOMA = "melanoma", "Suspicious for melanoma"
        GROWTH = "growth", "Grew"
        NEW_COLOUR = "new_colour", "New colour"
        MALIGNANT_RISE = "malignant_rise", "Malignant probability rose"

    class Status(models.TextChoices):
        OPEN = "open", "Awaiting review"
        REVIEWED = "reviewed", "Reviewed"
        RETIRED = "retired", "Retired"

    # Reasons a clinician picks from when reviewing (free text is allowed too).
    REVIEW_REASONS: ClassVar[tuple[str, ...]] = (
        "excised",
        "biopsy arranged",
        "benign on dermoscopy",
        "re-photographed at another zoom",
        "photo of poor quality",
        "known and stable",
    )

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    lesion = models.ForeignKey(Lesion, on_delete=models.CASCADE, related_name="flags")
    code = models.CharField(max_length=20, choices=Code.choices)
    # The photo that raised it (a flag is raised once per photo and code).
    photo = models.ForeignKey(LesionImage, on_delete=models.CASCADE, related_name="flags")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    title = models.CharField(max_length=200)
    detail = models.TextField(blank=True)
    raised_at = models.DateTimeField(default=timezone.now)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField("review reason", max_length=500, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)
    retired_reason = models.CharField(max_length=300, blank=True)

    CLINIC_PATH = "lesion__patient__clinic"

    class Meta:
        ordering = ["-raised_at"]
        constraints = [
            models.UniqueConstraint(fields=["lesion", "code", "photo"], name="lesionflag_once_per_photo"),
            models.CheckConstraint(
                condition=~models.Q(status="reviewed") | (~models.Q(reason="") & models.Q(reviewed_at__isnull=False)),
                name="lesionflag_reviewed_has_reason",
            ),
        ]
        indexes = [models.Index(fields=["lesion", "status"])]

    def __str__(self) -> str:
        return f"{self.get_code_display()} on {self.lesion}: {self.status}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    @property
    def kind(self) -> str:
        """The flag's code, as the pages' styles name it (like the notes' kinds)."""
        return str(self.code)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.uuid),
            "code": self.code,
            "status": self.status,
            "title": self.title,
            "detail": self.detail,
            "raised_at": self.raised_at.isoformat(),
            "reviewed_by": self.reviewed_by.get_username() if self.reviewed_by else None,
            "reviewed_at": self.reviewed_at.isoformat() if self.reviewed_at else None,
            "reason": self.reason or self.retired_reason,
        }


auditlog.register(LesionFlag, exclude_fields=["updated_at"])
