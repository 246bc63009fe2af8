"""A photo's dermoscopy checklists and a visit's clinical assessment, sign-off and addenda.

A signed visit is read-only: its assessment and its photos' checklists refuse changes
(``VisitSigned``), and whatever is added later is an addendum (who, when, text).
"""

from __future__ import annotations

import uuid
from typing import Any

from auditlog.registry import auditlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from assessment import scores
from clinic.audit import ClinicAuditMixin
from clinic.models import TimeStampedModel
from lesions.models import LesionImage, Visit
from lesions.validators import NOTES_MAX_LENGTH, notes_length, refuse_control_characters


class VisitSigned(Exception):
    """A change to a signed visit, its assessment or its photos' checklists."""

    def __init__(self, visit: Visit) -> None:
        super().__init__(f"The visit of {visit.date:%Y-%m-%d} is signed and read-only: add an addendum instead.")


class DermoscopyChecklist(ClinicAuditMixin, TimeStampedModel):
    """The 7-point checklist, the ABCD rule and (optionally) the 3-point checklist of one photo.

    ``prefilled`` names the ABCD items whose value is still the outline's suggestion, not yet
    confirmed or changed by the clinician.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    image = models.OneToOneField(LesionImage, on_delete=models.CASCADE, related_name="checklist")
    atypical_network = models.BooleanField("atypical pigment network", default=False)
    blue_white_veil = models.BooleanField("blue-whitish veil", default=False)
    atypical_vessels = models.BooleanField("atypical vascular pattern", default=False)
    irregular_streaks = models.BooleanField(default=False)
    irregular_dots = models.BooleanField("irregular dots/globules", default=False)
    irregular_blotches = models.BooleanField(default=False)
    regression = models.BooleanField("regression structures", default=False)
    abcd_asymmetry = models.PositiveSmallIntegerField(
        "asymmetry", null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(2)]
    )
    abcd_border = models.PositiveSmallIntegerField(
        "border", null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(8)]
    )
    abcd_colours = models.PositiveSmallIntegerField(
        "colours", null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(6)]
    )
    abcd_structures = models.PositiveSmallIntegerField(
        "differential structures", null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    tp_asymmetry = models.BooleanField("asymmetry of colour and structure", null=True, blank=True)
    tp_atypical_network = models.BooleanField("atypical network (3-point)", null=True, blank=True)
    tp_blue_white = models.BooleanField("blue-white structures", null=True, blank=True)
    prefilled = models.JSONField(default=list, blank=True)
    # Stored beside the items so that lists and FHIR read them without recomputing.
    seven_point_score = models.PositiveSmallIntegerField(default=0)
    total_dermoscopy_score = models.FloatField("TDS", null=True, blank=True)
    three_point_score = models.PositiveSmallIntegerField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    CLINIC_PATH = "image__lesion__patient__clinic"

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(abcd_asymmetry__lte=2), name="checklist_asymmetry_0_2"),
            models.CheckConstraint(condition=models.Q(abcd_border__lte=8), name="checklist_border_0_8"),
            models.CheckConstraint(
                condition=models.Q(abcd_colours__gte=1, abcd_colours__lte=6), name="checklist_colours_1_6"
            ),
            models.CheckConstraint(
                condition=models.Q(abcd_structures__gte=1, abcd_structures__lte=5), name="checklist_structures_1_5"
            ),
        ]

    def __str__(self) -> str:
        return f"checklists of photo {self.image_id}"

    def clean(self) -> None:
        given = [(label, getattr(self, name)) for name, label, *_ in scores.ABCD_ITEMS]
        missing = [label for label, value in given if value is None]
        if missing and len(missing) < len(given):
            raise ValidationError(f"The ABCD rule needs all four items for a TDS; missing: {', '.join(missing)}.")

    def values(self) -> dict[str, Any]:
        names = [n for n, *_ in scores.SEVEN_POINT_ITEMS] + [n for n, *_ in scores.ABCD_ITEMS]
        names += [n for n, _ in scores.THREE_POINT_ITEMS]
        return {name: getattr(self, name) for name in names}

    def save(self, *args: Any, **kwargs: Any) -> None:
        values = self.values()
        self.seven_point_score = scores.seven_point_score(values)
        self.total_dermoscopy_score = scores.total_dermoscopy_score(values)
        self.three_point_score = scores.three_point_score(values)
        super().save(*args, **kwargs)

    @property
    def seven_point_suggests_melanoma(self) -> bool:
        return self.seven_point_score >= scores.SEVEN_POINT_THRESHOLD

    @property
    def three_point_suggests_referral(self) -> bool | None:
        return None if self.three_point_score is None else self.three_point_score >= scores.THREE_POINT_THRESHOLD

    @property
    def tds_band(self) -> str:
        return scores.tds_band(self.total_dermoscopy_score)

    def report_lines(self) -> list[str]:
        """What the report (page and PDF alike) says of the checklists, one line each."""
        present = [
            f"{label.lower()} +{points}" for name, label, points in scores.SEVEN_POINT_ITEMS if getattr(self, name)
        ]
        seven = f"7-point checklist: {self.seven_point_score}"
        if self.seven_point_suggests_melanoma:
            seven += " (3 or more: suggests melanoma)"
        seven += f"; {', '.join(present)}." if present else "; no criterion present."
        items = []
        for name, _, _, _, _ in scores.ABCD_ITEMS:
            value = getattr(self, name)
            if value is not None:
                letter = {"abcd_asymmetry": "A", "abcd_border": "B", "abcd_colours": "C", "abcd_structures": "D"}[name]
                items.append(f"{letter} {value}" + (" (pre-filled from the outline)" if name in self.prefilled else ""))
        tds = self.total_dermoscopy_score
        abcd = f"ABCD rule: TDS {tds:.2f} ({self.tds_band})" if tds is not None else "ABCD rule: not completed"
        abcd += f"; {', '.join(items)}." if items else "."
        lines = [seven, abcd]
        if self.three_point_score is not None:
            three = f"3-point checklist: {self.three_point_score}"
            lines.append(three + (" (2 or more: suggests referral)." if self.three_point_suggests_referral else "."))
        return lines

    @property
    def seven_point_rows(self) -> list[dict[str, Any]]:
        return [
            {"field": name, "label": label, "points": points, "present": bool(getattr(self, name))}
            for name, label, points in scores.SEVEN_POINT_ITEMS
        ]

    @property
    def abcd_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "field": name,
                "label": label,
                "value": getattr(self, name),
                "weight": weight,
                "prefilled": name in self.prefilled,
            }
            for name, label, _, _, weight in scores.ABCD_ITEMS
        ]


class VisitAssessment(ClinicAuditMixin, TimeStampedModel):
    """The clinician's impression, differential and plan for a visit, and its signature."""

    class Plan(models.TextChoices):
        MONITOR = "monitor", "Monitor"
        EXCISE = "excise", "Excise"
        BIOPSY = "biopsy", "Biopsy"
        REFER = "refer", "Refer"
        DISCHARGE = "discharge", "Discharge"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    visit = models.OneToOneField(Visit, on_delete=models.CASCADE, related_name="assessment")
    impression = models.CharField(max_length=500, blank=True, validators=[refuse_control_characters])
    differential = models.CharField(
        "differential diagnosis", max_length=500, blank=True, validators=[refuse_control_characters]
    )
    plan = models.CharField(max_length=10, choices=Plan.choices, blank=True)
    notes = models.TextField("assessment notes", blank=True, max_length=NOTES_MAX_LENGTH, validators=[notes_length])
    signed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    signed_at = models.DateTimeField(null=True, blank=True)

    CLINIC_PATH = "visit__patient__clinic"

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(signed_at__isnull=True, signed_by__isnull=True)
                | models.Q(signed_at__isnull=False, signed_by__isnull=False),
                name="visitassessment_signed_by_and_when",
            ),
        ]

    def __str__(self) -> str:
        return f"assessment of visit {self.visit_id}"

    @property
    def is_signed(self) -> bool:
        return self.signed_at is not None

    @property
    def signed_by_name(self) -> str:
        user = self.signed_by
        return "" if user is None else (user.get_full_name() or user.username)


class VisitAddendum(ClinicAuditMixin, TimeStampedModel):
    """A note added to a signed visit: the record as signed stays as it was."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="addenda")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    text = models.TextField(max_length=NOTES_MAX_LENGTH, validators=[notes_length])

    CLINIC_PATH = "visit__patient__clinic"

    class Meta:
        ordering = ["created_at", "pk"]

    def __str__(self) -> str:
        return f"addendum to visit {self.visit_id}"

    @property
    def author_name(self) -> str:
        return self.author.get_full_name() or self.author.username


def assessment_of(visit: Visit) -> VisitAssessment | None:
    try:
        result: VisitAssessment = visit.assessment
    except VisitAssessment.DoesNotExist:
        return None
    return result


def visit_is_signed(visit: Visit) -> bool:
    """From the database: a visit's cached assessment may predate its signature."""
    return VisitAssessment.objects.filter(visit=visit, signed_at__isnull=False).exists()


def checklist_of(image: LesionImage) -> DermoscopyChecklist | None:
    try:
        result: DermoscopyChecklist = image.checklist
    except DermoscopyChecklist.DoesNotExist:
        return None
    return result


auditlog.register(DermoscopyChecklist, exclude_fields=["updated_at"])
auditlog.register(VisitAssessment, exclude_fields=["updated_at"])
auditlog.register(VisitAddendum, exclude_fields=["updated_at"])
