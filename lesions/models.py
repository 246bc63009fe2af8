from __future__ import annotations

import contextlib
import uuid
from collections.abc import Collection
from datetime import date
from typing import Any

from auditlog.registry import auditlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Upper
from django.urls import reverse
from django.utils import timezone

from clinic.audit import ClinicAuditMixin
from clinic.models import Clinic, TimeStampedModel
from lesions import body_sites
from lesions import histopathology as histo
from lesions.search import search_text_of
from lesions.validators import (
    NOTES_MAX_LENGTH,
    date_errors,
    normalise_record_number,
    notes_length,
    refuse_control_characters,
)
from ml.engine.labels import HAM10000_CLASSES, SHORT_NAMES


class Patient(ClinicAuditMixin, TimeStampedModel):
    class Sex(models.TextChoices):
        FEMALE = "female", "Female"
        MALE = "male", "Male"
        OTHER = "other", "Other"
        UNKNOWN = "unknown", "Not recorded"

    class SkinType(models.IntegerChoices):
        I = 1, "I (always burns, never tans)"  # noqa: E741
        II = 2, "II (usually burns, tans minimally)"
        III = 3, "III (sometimes burns, tans uniformly)"
        IV = 4, "IV (burns minimally, always tans)"
        V = 5, "V (very rarely burns, tans very easily)"
        VI = 6, "VI (never burns)"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    medical_record_number = models.CharField("medical record number", max_length=64)
    first_name = models.CharField(max_length=100, validators=[refuse_control_characters])
    last_name = models.CharField(max_length=100, validators=[refuse_control_characters])
    date_of_birth = models.DateField(null=True, blank=True)
    sex = models.CharField(max_length=10, choices=Sex.choices, default=Sex.UNKNOWN)
    fitzpatrick_skin_type = models.PositiveSmallIntegerField(
        "Fitzpatrick skin type", choices=SkinType.choices, null=True, blank=True
    )
    notes = models.TextField(blank=True, max_length=NOTES_MAX_LENGTH, validators=[notes_length])
    # Names and record number without case or accents (lesions.search), kept in step on every save.
    search_text = models.CharField(max_length=400, blank=True, editable=False, db_index=True)

    CLINIC_PATH = "clinic"
    AUDIT_SUBJECT = True  # the audit trail is filtered by patient
    MRN_TAKEN = "Another patient of this clinic has this record number."

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [
            # Record numbers are compared normalised (Patient.clean) and whatever their case.
            models.UniqueConstraint(
                models.F("clinic"), Upper("medical_record_number"), name="patient_unique_mrn_per_clinic_ci"
            ),
            models.CheckConstraint(
                condition=models.Q(fitzpatrick_skin_type__isnull=True)
                | models.Q(fitzpatrick_skin_type__gte=1, fitzpatrick_skin_type__lte=6),
                name="patient_fitzpatrick_range",
            ),
        ]
        indexes = [models.Index(fields=["clinic", "last_name", "first_name"])]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.medical_record_number})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.search_text = search_text_of(self)
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and {"first_name", "last_name", "medical_record_number"} & set(update_fields):
            kwargs["update_fields"] = {*update_fields, "search_text"}
        super().save(*args, **kwargs)

    def audit_name(self) -> str:
        return f"patient {self}"

    @classmethod
    def audit_subject_lookup(cls, clinic_ids: Collection[int], text: str) -> models.QuerySet[Patient]:
        """The patients of these clinics a filter of the audit trail names: by record number or id."""
        found = models.Q(medical_record_number__iexact=normalise_record_number(text))
        with contextlib.suppress(ValueError):  # not an id: a record number only
            found |= models.Q(uuid=uuid.UUID(text))
        return cls.objects.filter(found, clinic_id__in=clinic_ids)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def age(self) -> int | None:
        return self.age_on(date.today())

    def age_on(self, day: date) -> int | None:
        """Age in whole years on ``day`` (None without a date of birth or before it)."""
        if not self.date_of_birth or day < self.date_of_birth:
            return None
        dob = self.date_of_birth
        return day.year - dob.year - ((day.month, day.day) < (dob.month, dob.day))

    def get_absolute_url(self) -> str:
        return reverse("patient-detail", args=[self.uuid])

    def clean(self) -> None:
        """The record number normalised and unique in the clinic whatever its case; a plausible birth date."""
        super().clean()
        errors: dict[str, list[str]] = {}
        if self.medical_record_number:
            self.medical_record_number = normalise_record_number(self.medical_record_number)
            number_field = self._meta.get_field("medical_record_number")
            assert isinstance(number_field, models.CharField) and number_field.max_length is not None  # declared above
            if not self.medical_record_number:
                errors["medical_record_number"] = ["The record number holds only invisible characters."]
            elif len(self.medical_record_number) > number_field.max_length:
                errors["medical_record_number"] = [f"The record number is longer than {number_field.max_length}."]
            elif self.clinic_id:
                clash = Patient.objects.filter(
                    clinic_id=self.clinic_id, medical_record_number__iexact=self.medical_record_number
                )
                if clash.exclude(pk=self.pk).exists():
                    errors["medical_record_number"] = [self.MRN_TAKEN]
        if dob_errors := date_errors(self.date_of_birth, "date of birth"):
            errors["date_of_birth"] = dob_errors
        if errors:
            raise ValidationError(errors)

    def validate_constraints(self, exclude: Collection[str] | None = None) -> None:
        # The record number rule is clean()'s, with its message on the field: the unique
        # constraint stays the database's guard and is not checked a second time here.
        super().validate_constraints(exclude={*(exclude or ()), "medical_record_number"})


class Lesion(ClinicAuditMixin, TimeStampedModel):
    class BodySite(models.TextChoices):
        # The ISIC archive's anatom_site_general values.
        HEAD_NECK = "head/neck", "Head / neck"
        UPPER_EXTREMITY = "upper extremity", "Upper extremity"
        LOWER_EXTREMITY = "lower extremity", "Lower extremity"
        ANTERIOR_TORSO = "anterior torso", "Anterior torso"
        POSTERIOR_TORSO = "posterior torso", "Posterior torso"
        LATERAL_TORSO = "lateral torso", "Lateral torso"
        PALMS_SOLES = "palms/soles", "Palms / soles"
        ORAL_GENITAL = "oral/genital", "Oral / genital"

    class View(models.TextChoices):
        # Which body figure the lesion's point is on.
        ANTERIOR = body_sites.ANTERIOR, "Front (anterior)"
        POSTERIOR = body_sites.POSTERIOR, "Back (posterior)"

    class Laterality(models.TextChoices):
        # The patient's side, whatever side of the figure it is drawn on.
        LEFT = body_sites.LEFT, "Left"
        RIGHT = body_sites.RIGHT, "Right"
        MIDLINE = body_sites.MIDLINE, "Midline"

    class Status(models.TextChoices):
        MONITORING = "monitoring", "Monitoring"
        BIOPSIED = "biopsied", "Biopsied"
        EXCISED = "excised", "Excised"
        RESOLVED = "resolved", "Resolved"

    # The records' vocabulary: the analysis' 7 classes, from the one torch-free class list, and other.
    Diagnosis = models.TextChoices(  # type: ignore[call-overload]  # django-stubs: functional API with labels
        "Diagnosis",
        [(code.upper(), (code, SHORT_NAMES[code])) for code in HAM10000_CLASSES] + [("OTHER", ("other", "Other"))],
    )

    class Confirmation(models.TextChoices):
        # HAM10000's dx_type values.
        HISTOPATHOLOGY = "histo", "Histopathology"
        FOLLOW_UP = "follow_up", "Follow-up examination"
        CONSENSUS = "consensus", "Expert consensus"
        CONFOCAL = "confocal", "In-vivo confocal microscopy"

    class FollowUpInterval(models.IntegerChoices):
        # Months between follow-up photos: 3 for short-term monitoring, 12 for routine surveillance.
        ONE = 1, "1 month"
        THREE = 3, "3 months (short-term monitoring)"
        SIX = 6, "6 months"
        TWELVE = 12, "12 months (routine surveillance)"
        TWENTY_FOUR = 24, "24 months"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="lesions")
    label = models.CharField(
        max_length=100,
        help_text="How the clinic refers to it, e.g. 'Left shoulder mole'",
        validators=[refuse_control_characters],
    )
    # Derived from the point on the body map when not given (Lesion.clean).
    body_site = models.CharField(
        max_length=20,
        choices=BodySite.choices,
        db_index=True,
        blank=True,
        help_text="Leave empty to take it from the point on the body map.",
    )
    view = models.CharField(max_length=10, choices=View.choices, blank=True)
    laterality = models.CharField(
        max_length=10, choices=Laterality.choices, blank=True, help_text="The patient's side (empty: not recorded)."
    )
    # The point on that view's figure, 0-1 from the figure's top-left as the viewer sees it.
    map_x = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    map_y = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)])
    body_site_detail = models.CharField(max_length=200, blank=True, validators=[refuse_control_characters])
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.MONITORING, db_index=True)
    diagnosis = models.CharField("confirmed diagnosis", max_length=10, choices=Diagnosis.choices, blank=True)
    diagnosis_confirmation = models.CharField("confirmed by", max_length=20, choices=Confirmation.choices, blank=True)
    diagnosis_date = models.DateField("date of confirmation", null=True, blank=True)
    # The confirmed diagnosis in the histopathology vocabulary (lesions.histopathology); ``diagnosis``
    # above is its model class, derived from it (clean()), so the model's comparisons read one field.
    histopathology = models.CharField("result", max_length=40, choices=histo.CHOICES, blank=True, db_index=True)
    histopathology_text = models.CharField(
        "result (other)", max_length=200, blank=True, validators=[refuse_control_characters]
    )
    breslow_thickness_mm = models.FloatField("Breslow thickness (mm)", null=True, blank=True)
    ulceration = models.BooleanField("ulceration", null=True, blank=True)
    followup_interval_months = models.PositiveSmallIntegerField(
        "follow-up interval",
        choices=FollowUpInterval.choices,
        null=True,
        blank=True,
        help_text="When the next photo is due after the last visit (empty: no planned follow-up).",
    )

    CLINIC_PATH = "patient__clinic"

    class Meta:
        ordering = ["label"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(diagnosis="") | ~models.Q(diagnosis_confirmation=""),
                name="lesion_diagnosis_needs_confirmation",
            ),
            models.CheckConstraint(
                condition=(models.Q(map_x__isnull=True) & models.Q(map_y__isnull=True))
                | models.Q(map_x__gte=0, map_x__lte=1, map_y__gte=0, map_y__lte=1),
                name="lesion_map_point_on_figure",
            ),
            models.CheckConstraint(
                condition=models.Q(breslow_thickness_mm__isnull=True, ulceration__isnull=True)
                | models.Q(histopathology=histo.MELANOMA_INVASIVE),
                name="lesion_breslow_only_for_invasive_melanoma",
            ),
            models.CheckConstraint(
                condition=models.Q(breslow_thickness_mm__isnull=True)
                | models.Q(breslow_thickness_mm__gt=0, breslow_thickness_mm__lte=100.0),
                name="lesion_breslow_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.get_body_site_display()})"

    def get_absolute_url(self) -> str:
        return reverse("lesion-detail", args=[self.uuid])

    def audit_name(self) -> str:
        return f"lesion '{self.label}' of {self.patient}"

    @property
    def number(self) -> int:
        """The lesion's number in its patient's record, in the order lesions were added: the same on every page."""
        if getattr(self, "_number", None) is None:
            earlier = models.Q(created_at__lt=self.created_at) | models.Q(created_at=self.created_at, pk__lt=self.pk)
            self._number = Lesion.objects.filter(earlier, patient_id=self.patient_id).count() + 1
        return self._number

    @number.setter
    def number(self, value: int) -> None:
        self._number = value

    @property
    def map_point(self) -> body_sites.MapPoint:
        """The lesion's point on the body map (its region's centre until one is placed)."""
        if self.map_x is not None and self.map_y is not None and self.view:
            return body_sites.MapPoint(self.view, self.map_x, self.map_y)
        return body_sites.region_centre(self.body_site, laterality=self.laterality)

    @property
    def location_text(self) -> str:
        """Side, view and site in words, e.g. "Left, back (posterior) – lower extremity".

        The view is named with a side only: a lesion known by its site alone (recorded before the map
        had points) is drawn at the site's centre, on a view it was never placed on.
        """
        if not self.laterality:
            return self.get_body_site_display()
        where = self.get_laterality_display() + (f", {self.get_view_display().lower()}" if self.view else "")
        return f"{where} – {self.get_body_site_display().lower()}"

    def locate(self) -> dict[str, str]:
        """Complete the location from what was given; the errors of a location that does not hold together.

        A point needs its view; the site and the side are taken from the point when not given, and a
        side that contradicts the point is refused (the wrong-site check). Without a point, the lesion
        is drawn at its site's centre, on its side when one is given.
        """
        errors: dict[str, str] = {}
        has_x, has_y = self.map_x is not None, self.map_y is not None
        if has_x != has_y:
            errors["map_x" if not has_x else "map_y"] = "Give both map_x and map_y, or neither."
            return errors
        if has_x:
            if not self.view:
                errors["view"] = "Say which figure the point is on: anterior or posterior."
                return errors
            assert self.map_x is not None and self.map_y is not None  # has_x, has_y
            if not (0 <= self.map_x <= 1 and 0 <= self.map_y <= 1):
                return errors  # the fields' own validators name the problem
            point = body_sites.MapPoint(self.view, self.map_x, self.map_y)
            if not self.body_site:
                self.body_site = body_sites.body_site_of(point)
            if not self.laterality:
                self.laterality = body_sites.laterality_of(point)
            elif conflict := body_sites.laterality_conflict(point, self.laterality):
                errors["laterality"] = conflict
            return errors
        if not self.body_site:
            errors["body_site"] = "Place the lesion on the body map or choose its body site."
            return errors
        centre = body_sites.region_centre(self.body_site, view=self.view or None, laterality=self.laterality)
        self.view, self.map_x, self.map_y = centre.view, centre.x, centre.y
        return errors

    def clean(self) -> None:
        """The rules of a confirmed diagnosis, for pages and API alike (the database constraint agrees).

        The location is completed and checked (``locate``). A diagnosis needs to say how it was confirmed,
        "confirmed by" needs a diagnosis, and the date of confirmation cannot be in the future, nor before
        the patient's birth.
        """
        super().clean()
        errors: dict[str, Any] = dict(self.locate())
        errors.update(self._histopathology_errors())
        if self.diagnosis and not self.diagnosis_confirmation:
            errors["diagnosis_confirmation"] = "Say how the diagnosis was confirmed."
        if self.diagnosis_confirmation and not self.diagnosis:
            errors["diagnosis"] = "Choose the confirmed result, or clear how it was confirmed."
        birth = self.patient.date_of_birth if self.patient_id else None
        if date_error := date_errors(
            self.diagnosis_date, "date of confirmation", not_before=birth, before="the patient's birth"
        ):
            errors["diagnosis_date"] = date_error
        if errors:
            raise ValidationError(errors)

    def _histopathology_errors(self) -> dict[str, str]:
        return histo.errors_of(self)  # also keeps ``diagnosis`` the result's model class

    @property
    def histopathology_term(self) -> histo.HistopathologyTerm | None:
        return histo.term(self.histopathology)

    @property
    def result_display(self) -> str:
        """The confirmed result in words, with the melanoma's thickness and ulceration or the described other."""
        return histo.display_of(self)


class Visit(ClinicAuditMixin, TimeStampedModel):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="visits")
    date = models.DateField(default=timezone.localdate, db_index=True)
    clinician = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="visits"
    )
    notes = models.TextField(blank=True, max_length=NOTES_MAX_LENGTH, validators=[notes_length])

    CLINIC_PATH = "patient__clinic"

    class Meta:
        ordering = ["-date", "-created_at"]

    def __str__(self) -> str:
        return f"Visit {self.date:%Y-%m-%d} – {self.patient.full_name}"

    def get_absolute_url(self) -> str:
        return reverse("visit-detail", args=[self.uuid])

    def audit_name(self) -> str:
        return f"the visit of {self.date:%Y-%m-%d} of {self.patient}"

    def clean(self) -> None:
        """A visit date that is not in the future, nor before the patient's birth."""
        super().clean()
        birth = self.patient.date_of_birth if self.patient_id else None
        if errors := date_errors(self.date, "visit date", not_before=birth, before="the patient's birth"):
            raise ValidationError({"date": errors})


class ImageType(models.TextChoices):
    """The kinds of photo (``LesionImage.ImageType``)."""

    DERMOSCOPIC = "dermoscopic", "Dermoscopic"
    CLINICAL_CLOSE_UP = "clinical_close_up", "Clinical close-up"
    CLINICAL_OVERVIEW = "clinical_overview", "Clinical overview"


class CaptureProfile(TimeStampedModel):
    """A clinic's capture device: a dermatoscope or camera set-up whose field of view is known.

    A photo taken with it gets its pixel size from the field's width: ``field_of_view_mm`` over the
    photo's width in pixels, so sizes are in mm without a ruler in every photo.
    """

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="capture_profiles")
    name = models.CharField(
        max_length=100, validators=[refuse_control_characters], help_text="e.g. 'Room 2 dermatoscope'"
    )
    image_type = models.CharField(max_length=20, choices=ImageType.choices, default=ImageType.DERMOSCOPIC)
    field_of_view_mm = models.FloatField(
        "field of view (mm)",
        help_text="Width of the photographed field in millimetres (e.g. 25 for a 25 mm dermatoscope).",
    )

    CLINIC_PATH = "clinic"
    MAX_FIELD_MM = 1000.0

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "name"], name="captureprofile_unique_name_per_clinic"),
            models.CheckConstraint(
                condition=models.Q(field_of_view_mm__gt=0, field_of_view_mm__lte=1000.0),
                name="captureprofile_field_of_view_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.field_of_view_mm:g} mm)"

    def clean(self) -> None:
        super().clean()
        if not 0 < self.field_of_view_mm <= self.MAX_FIELD_MM:
            raise ValidationError(
                {"field_of_view_mm": f"The field of view must be more than 0 and at most {self.MAX_FIELD_MM:g} mm."}
            )


def lesion_image_upload_to(instance: LesionImage, filename: str) -> str:
    # The stored name never carries the uploaded filename (it can hold patient names).
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else "jpg"
    return f"lesion_images/{instance.uuid}.{extension}"


def lesion_image_thumbnail_upload_to(instance: LesionImage, filename: str) -> str:
    return f"lesion_images/thumbnails/{instance.uuid}.jpg"


class LesionImage(ClinicAuditMixin, TimeStampedModel):
    ImageType = ImageType

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    lesion = models.ForeignKey(Lesion, on_delete=models.PROTECT, related_name="images")
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="images")
    image = models.FileField(upload_to=lesion_image_upload_to, max_length=200)
    # A small JPEG of the photo (lesions.imaging.THUMBNAIL_MAX_SIDE), made once when it is stored, for what
    # prints or lists photos (the PDF report): its cost does not grow with the photo's size. Empty for photos
    # stored before thumbnails existed until `manage.py make_thumbnails` (or the first report) makes one.
    thumbnail = models.FileField(upload_to=lesion_image_thumbnail_upload_to, max_length=200, blank=True)
    image_type = models.CharField(max_length=20, choices=ImageType.choices, default=ImageType.DERMOSCOPIC)
    content_type = models.CharField(max_length=50)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    file_size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    # Millimetres per pixel of the stored photo (from the capture app or a ruler in the photo);
    # empty: the image type's default in settings, else sizes are relative to the photo.
    mm_per_pixel = models.FloatField("pixel size (mm per pixel)", null=True, blank=True)
    # The device it was taken with, when its field of view is known: the pixel size follows from it.
    capture_profile = models.ForeignKey(
        CaptureProfile, on_delete=models.SET_NULL, null=True, blank=True, related_name="photos"
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    CLINIC_PATH = "lesion__patient__clinic"
    # A pixel of a phone or dermatoscope photo covers a few micrometres to a fraction of a millimetre;
    # 5 mm per pixel would make a 4000-pixel photo 20 m wide.
    MAX_MM_PER_PIXEL = 5.0
    PIXEL_SIZE_RANGE = f"The pixel size must be more than 0 and at most {MAX_MM_PER_PIXEL:g} mm per pixel."

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(width__gt=0, height__gt=0), name="lesionimage_size_positive"),
            models.CheckConstraint(
                condition=models.Q(mm_per_pixel__isnull=True) | models.Q(mm_per_pixel__gt=0, mm_per_pixel__lte=5.0),
                name="lesionimage_mm_per_pixel_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_image_type_display()} of {self.lesion.label} on {self.visit.date:%Y-%m-%d}"

    def get_absolute_url(self) -> str:
        return reverse("lesion-image-file", args=[self.uuid])

    def audit_name(self) -> str:
        return f"a photo of lesion '{self.lesion.label}' of {self.lesion.patient} ({self.visit.date:%Y-%m-%d})"

    def clean(self) -> None:
        super().clean()
        if self.mm_per_pixel is not None and not 0 < self.mm_per_pixel <= self.MAX_MM_PER_PIXEL:
            raise ValidationError({"mm_per_pixel": self.PIXEL_SIZE_RANGE})
        profile = self.capture_profile
        if profile is not None and self.lesion_id and profile.clinic_id != self.lesion.patient.clinic_id:
            raise ValidationError({"capture_profile": "This capture profile belongs to another clinic."})
        if profile is not None and profile.image_type != self.image_type:
            raise ValidationError(
                {"capture_profile": f"This capture profile is for {profile.get_image_type_display().lower()} photos."}
            )

    @property
    def pixel_size_mm(self) -> float | None:
        """Millimetres per pixel: the photo's own, else its image type's default (None: sizes are relative)."""
        if self.mm_per_pixel is not None:
            return self.mm_per_pixel
        if self.capture_profile is not None and self.width:
            return self.capture_profile.field_of_view_mm / self.width
        return settings.PIXEL_SIZE_MM_DEFAULTS.get(self.image_type)

    @property
    def pixel_size_source(self) -> str:
        """Where ``pixel_size_mm`` comes from, in words ("" when unknown)."""
        if self.mm_per_pixel is not None:
            return "measured for this photo"
        if self.capture_profile is not None:
            return f"capture profile {self.capture_profile.name}, {self.capture_profile.field_of_view_mm:g} mm field"
        if self.pixel_size_mm is not None:
            return f"default for {self.get_image_type_display().lower()} photos"
        return ""


class IdempotencyKey(TimeStampedModel):
    """An ``Idempotency-Key`` a client sent, with the response of the request that first used it.

    A retried request with the same key (same user) gets this response again instead of being
    carried out twice; the fingerprint tells a genuine retry from a different request that
    reuses the key. Only successful responses are stored: a failed request leaves no row, so
    the client may retry it with the same key.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_fingerprint = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # Text, not JSON: jsonb reorders keys, and a replay must repeat the first response exactly.
    response_body = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotencykey_unique_user_key"),
        ]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self) -> str:
        return f"{self.key} ({self.user_id})"


for _model in (Patient, Lesion, Visit, LesionImage):
    auditlog.register(_model)
