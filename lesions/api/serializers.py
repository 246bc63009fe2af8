"""JSON shapes of the REST API. Public ids only: every ``id`` is the row's UUID.

Serializers check shapes and render; they never save, and the rules of a record are the
model's: views hand ``validated_data`` to ``lesions.services``, whose ``ValidationError``
becomes a 400 (``clinic.api.exception_handler``).
"""

from __future__ import annotations

from typing import Any, cast

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic.api import RecordSerializer, absolute_url, request_user
from clinic.models import Clinic
from clinic.selectors import clinics_for_user, scoped
from lesions.imaging import ImageRejected, SanitizedPhoto
from lesions.models import CaptureProfile, Lesion, LesionImage, Patient, Visit
from lesions.services import photo_sanitize

# --- patients ------------------------------------------------------------------------------


class PatientSerializer(RecordSerializer[Patient]):
    url = serializers.HyperlinkedIdentityField(view_name="api-patient-detail", lookup_field="uuid")
    clinic = serializers.SlugRelatedField(
        slug_field="uuid",
        queryset=Clinic.objects.none(),
        required=False,
        help_text="UUID of one of your clinics; may be left out when you belong to one clinic only. "
        "Fixed once the patient exists.",
    )
    clinic_name = serializers.CharField(source="clinic.name", read_only=True)
    lesions_url = serializers.SerializerMethodField()
    visits_url = serializers.SerializerMethodField()
    updated = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = Patient
        fields = [
            "id",
            "url",
            "clinic",
            "clinic_name",
            "medical_record_number",
            "first_name",
            "last_name",
            "date_of_birth",
            "sex",
            "fitzpatrick_skin_type",
            "notes",
            "lesions_url",
            "visits_url",
            "created",
            "updated",
        ]
        # The per-clinic record number is Patient.clean()'s rule (the clinic may be absent from the body).
        validators: list[Any] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        clinic_field = cast("serializers.SlugRelatedField[Clinic]", self.fields["clinic"])  # declared above
        clinic_field.queryset = clinics_for_user(request_user(self))

    @extend_schema_field(OpenApiTypes.URI)
    def get_lesions_url(self, patient: Patient) -> str:
        return absolute_url(self, reverse("api-patient-lesions", kwargs={"patient_uuid": patient.uuid}))

    @extend_schema_field(OpenApiTypes.URI)
    def get_visits_url(self, patient: Patient) -> str:
        return absolute_url(self, reverse("api-patient-visits", kwargs={"patient_uuid": patient.uuid}))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance: Patient | None = self.instance
        if instance is not None:
            clinic = attrs.pop("clinic", instance.clinic)
            if clinic != instance.clinic:
                raise serializers.ValidationError({"clinic": ["A patient does not move to another clinic."]})
        else:
            clinic = attrs.get("clinic")
            if clinic is None:
                clinics = list(clinics_for_user(request_user(self))[:2])
                if len(clinics) != 1:
                    message = "Choose one of your clinics." if clinics else "You are not a member of any clinic."
                    raise serializers.ValidationError({"clinic": [message]})
                attrs["clinic"] = clinic = clinics[0]
        return attrs


# --- lesions -------------------------------------------------------------------------------


class LesionSerializer(RecordSerializer[Lesion]):
    url = serializers.HyperlinkedIdentityField(view_name="api-lesion-detail", lookup_field="uuid")
    patient = serializers.UUIDField(source="patient.uuid", read_only=True)
    timeline_url = serializers.SerializerMethodField()
    images_url = serializers.SerializerMethodField()
    updated = serializers.DateTimeField(source="updated_at", read_only=True)
    histopathology_snomed = serializers.SerializerMethodField(
        help_text="The result's SNOMED CT concept id (null where the term has none)."
    )

    class Meta:
        model = Lesion
        extra_kwargs = {
            "diagnosis": {
                "help_text": "The result's model class (one of the 7, or 'other'): derived from histopathology "
                "when that is given; given alone, histopathology becomes the term that keeps its meaning."
            },
            "histopathology": {"help_text": "The confirmed result (lesions.histopathology vocabulary)."},
            "breslow_thickness_mm": {"help_text": "Invasive melanoma only (required for it), more than 0 mm."},
            "ulceration": {"help_text": "Invasive melanoma only."},
            "followup_interval_months": {"help_text": "Months from the last visit to the next follow-up photo."},
        }
        fields = [
            "id",
            "url",
            "patient",
            "label",
            "view",
            "laterality",
            "map_x",
            "map_y",
            "body_site",
            "body_site_detail",
            "status",
            "diagnosis",
            "diagnosis_confirmation",
            "diagnosis_date",
            "histopathology",
            "histopathology_snomed",
            "histopathology_text",
            "breslow_thickness_mm",
            "ulceration",
            "followup_interval_months",
            "timeline_url",
            "images_url",
            "created",
            "updated",
        ]

    def get_histopathology_snomed(self, lesion: Lesion) -> str | None:
        term = lesion.histopathology_term
        return term.snomed or None if term is not None else None

    @extend_schema_field(OpenApiTypes.URI)
    def get_timeline_url(self, lesion: Lesion) -> str:
        return absolute_url(self, reverse("api-lesion-timeline", kwargs={"lesion_uuid": lesion.uuid}))

    @extend_schema_field(OpenApiTypes.URI)
    def get_images_url(self, lesion: Lesion) -> str:
        """Where photos of this lesion are uploaded (POST, multipart)."""
        return absolute_url(self, reverse("api-lesion-images", kwargs={"lesion_uuid": lesion.uuid}))


# --- visits --------------------------------------------------------------------------------


class VisitSerializer(RecordSerializer[Visit]):
    url = serializers.HyperlinkedIdentityField(view_name="api-visit-detail", lookup_field="uuid")
    patient = serializers.UUIDField(source="patient.uuid", read_only=True)
    clinician = serializers.SerializerMethodField()
    images: serializers.SlugRelatedField[LesionImage] = serializers.SlugRelatedField(
        slug_field="uuid", many=True, read_only=True
    )

    class Meta:
        model = Visit
        fields = ["id", "url", "patient", "date", "clinician", "notes", "images", "created"]
        extra_kwargs = {"date": {"required": False, "help_text": "Defaults to today."}}

    def get_clinician(self, visit: Visit) -> str | None:
        user = visit.clinician
        if user is None:
            return None
        return user.get_full_name() or user.get_username()


# --- photo uploads -------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.BINARY)
class PhotoField(serializers.FileField):
    """An uploaded file (documented as binary: the schema has no separate request components)."""


class LesionImageUploadSerializer(serializers.Serializer[LesionImage]):
    photo = PhotoField(help_text="JPEG, PNG or HEIC/HEIF photo.")
    image_type = serializers.ChoiceField(choices=LesionImage.ImageType.choices)
    visit = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="A visit of the lesion's patient; without it the photo goes to your visit of today "
        "(created if needed).",
    )
    mm_per_pixel = serializers.FloatField(
        required=False,
        allow_null=True,
        help_text="The photo's pixel size in millimetres per pixel (more than 0, at most 5), from the capture "
        "app's calibration or a ruler in the photo. Without it the lesion's sizes are in mm only if the clinic "
        "set a default for the image type, else relative to the photo.",
    )

    capture_profile = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="A capture profile of the clinic (a device with a known field of view): the photo's pixel size "
        "follows from it when mm_per_pixel is not given.",
    )

    def __init__(self, *args: Any, lesion: Lesion | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lesion = lesion

    def validate_capture_profile(self, value: Any) -> CaptureProfile | None:
        if value is None:
            return None
        profile = scoped(CaptureProfile, request_user(self)).filter(uuid=value).first()
        if profile is None or (self.lesion is not None and profile.clinic_id != self.lesion.patient.clinic_id):
            raise serializers.ValidationError("No capture profile with this id in the lesion's clinic.")
        return profile

    def validate_photo(self, upload: Any) -> SanitizedPhoto:
        try:
            return photo_sanitize(upload, allow_heif=True)
        except ImageRejected as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate_visit(self, value: Any) -> Visit | None:
        if value is None:
            return None
        # Unknown and other clinics' visits read the same: their existence is not revealed.
        visit = scoped(Visit, request_user(self)).filter(uuid=value).first()
        if visit is None:
            raise serializers.ValidationError("No visit with this id.")
        if self.lesion is not None and visit.patient_id != self.lesion.patient_id:
            raise serializers.ValidationError("This visit belongs to another patient than the lesion.")
        return visit
