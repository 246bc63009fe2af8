"""JSON shapes of the REST API. Public ids only: every ``id`` is the row's UUID.

Serializers validate and render; they never save (views hand ``validated_data`` to services).
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from clinic.models import Clinic
from clinic.selectors import clinics_for_user, scoped
from lesions.imaging import ImageRejected, PreparedImage
from lesions.models import Lesion, LesionImage, Patient, Visit
from lesions.services import image_prepare
from ml.engine.architectures import CLASS_NAMES, HAM10000_CLASSES
from ml.models import ModelVersion, Prediction

MRN_TAKEN = "Another patient of this clinic has this record number."


def _absolute(serializer: serializers.Serializer, url: str) -> str:
    request = serializer.context.get("request")
    return request.build_absolute_uri(url) if request is not None else url


def _user(serializer: serializers.Serializer) -> Any:
    request = serializer.context.get("request")
    return getattr(request, "user", None)


# --- errors, documented for clients -------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


# --- patients ------------------------------------------------------------------------------


class PatientSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
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
    created = serializers.DateTimeField(source="created_at", read_only=True)
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
        # The per-clinic record number check is in validate(): clinic may be absent from the body.
        validators: list[Any] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["clinic"].queryset = clinics_for_user(_user(self))

    @extend_schema_field(OpenApiTypes.URI)
    def get_lesions_url(self, patient: Patient) -> str:
        return _absolute(self, reverse("api-patient-lesions", kwargs={"patient_uuid": patient.uuid}))

    @extend_schema_field(OpenApiTypes.URI)
    def get_visits_url(self, patient: Patient) -> str:
        return _absolute(self, reverse("api-patient-visits", kwargs={"patient_uuid": patient.uuid}))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        instance: Patient | None = self.instance
        if instance is not None:
            clinic = attrs.pop("clinic", instance.clinic)
            if clinic != instance.clinic:
                raise serializers.ValidationError({"clinic": ["A patient does not move to another clinic."]})
        else:
            clinic = attrs.get("clinic")
            if clinic is None:
                clinics = list(clinics_for_user(_user(self))[:2])
                if len(clinics) != 1:
                    message = "Choose one of your clinics." if clinics else "You are not a member of any clinic."
                    raise serializers.ValidationError({"clinic": [message]})
                attrs["clinic"] = clinic = clinics[0]
        mrn = attrs.get("medical_record_number")
        if mrn:
            clash = Patient.objects.filter(clinic=clinic, medical_record_number=mrn)
            if instance is not None:
                clash = clash.exclude(pk=instance.pk)
            if clash.exists():
                raise serializers.ValidationError({"medical_record_number": [MRN_TAKEN]})
        return attrs


# --- lesions -------------------------------------------------------------------------------


class LesionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    url = serializers.HyperlinkedIdentityField(view_name="api-lesion-detail", lookup_field="uuid")
    patient = serializers.UUIDField(source="patient.uuid", read_only=True)
    timeline_url = serializers.SerializerMethodField()
    images_url = serializers.SerializerMethodField()
    created = serializers.DateTimeField(source="created_at", read_only=True)
    updated = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = Lesion
        fields = [
            "id",
            "url",
            "patient",
            "label",
            "body_site",
            "body_site_detail",
            "status",
            "diagnosis",
            "diagnosis_confirmation",
            "diagnosis_date",
            "timeline_url",
            "images_url",
            "created",
            "updated",
        ]

    @extend_schema_field(OpenApiTypes.URI)
    def get_timeline_url(self, lesion: Lesion) -> str:
        return _absolute(self, reverse("api-lesion-timeline", kwargs={"lesion_uuid": lesion.uuid}))

    @extend_schema_field(OpenApiTypes.URI)
    def get_images_url(self, lesion: Lesion) -> str:
        """Where photos of this lesion are uploaded (POST, multipart)."""
        return _absolute(self, reverse("api-lesion-images", kwargs={"lesion_uuid": lesion.uuid}))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        def current(name: str) -> Any:
            if name in attrs:
                return attrs[name]
            return getattr(self.instance, name, "") if self.instance is not None else ""

        errors = Lesion.diagnosis_errors(current("diagnosis"), current("diagnosis_confirmation"))
        if errors:
            raise serializers.ValidationError({field: [message] for field, message in errors.items()})
        return attrs


# --- visits --------------------------------------------------------------------------------


class VisitSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    url = serializers.HyperlinkedIdentityField(view_name="api-visit-detail", lookup_field="uuid")
    patient = serializers.UUIDField(source="patient.uuid", read_only=True)
    clinician = serializers.SerializerMethodField()
    images = serializers.SlugRelatedField(slug_field="uuid", many=True, read_only=True)
    created = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Visit
        fields = ["id", "url", "patient", "date", "clinician", "notes", "images", "created"]
        extra_kwargs = {"date": {"required": False, "help_text": "Defaults to today."}}

    def get_clinician(self, visit: Visit) -> str | None:
        user = visit.clinician
        if user is None:
            return None
        return user.get_full_name() or user.get_username()


# --- predictions ---------------------------------------------------------------------------


class ProbabilitiesSerializer(serializers.Serializer):
    """The 7 HAM10000 class probabilities (they add up to 1)."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {code: serializers.FloatField(help_text=CLASS_NAMES[code]) for code in HAM10000_CLASSES}


class ModelVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = ModelVersion
        fields = ["name", "architecture", "is_default"]


class PredictionSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    url = serializers.HyperlinkedIdentityField(view_name="api-prediction-detail", lookup_field="uuid")
    image = serializers.UUIDField(source="image.uuid", read_only=True)
    model_version = ModelVersionSerializer(read_only=True)
    probabilities = serializers.SerializerMethodField()
    top_class = serializers.SerializerMethodField()
    top_class_name = serializers.SerializerMethodField()
    heatmap_url = serializers.SerializerMethodField()
    cam_url = serializers.SerializerMethodField()
    created = serializers.DateTimeField(source="created_at", read_only=True)
    finished = serializers.DateTimeField(source="finished_at", read_only=True, allow_null=True)

    class Meta:
        model = Prediction
        fields = [
            "id",
            "url",
            "image",
            "model_version",
            "status",
            "probabilities",
            "top_class",
            "top_class_name",
            "confidence",
            "heatmap_url",
            "cam_url",
            "failure_reason",
            "created",
            "finished",
        ]
        read_only_fields = fields

    @extend_schema_field(ProbabilitiesSerializer(allow_null=True))
    def get_probabilities(self, prediction: Prediction) -> dict[str, float] | None:
        if prediction.status != Prediction.Status.DONE or not prediction.probabilities:
            return None
        return {code: float(prediction.probabilities.get(code, 0.0)) for code in HAM10000_CLASSES}

    @extend_schema_field(serializers.ChoiceField(choices=list(HAM10000_CLASSES), allow_null=True))
    def get_top_class(self, prediction: Prediction) -> str | None:
        return prediction.top_class or None

    def get_top_class_name(self, prediction: Prediction) -> str | None:
        return prediction.top_class_name if prediction.top_class else None

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_heatmap_url(self, prediction: Prediction) -> str | None:
        """Grad-CAM overlay on the photo (PNG); null until the analysis is done."""
        if not prediction.heatmap:
            return None
        return _absolute(self, reverse("api-prediction-heatmap", kwargs={"uuid": prediction.uuid}))

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_cam_url(self, prediction: Prediction) -> str | None:
        """The bare class-activation map (PNG); null until the analysis is done."""
        if not prediction.cam:
            return None
        return _absolute(self, reverse("api-prediction-cam", kwargs={"uuid": prediction.uuid}))


# --- lesion images -------------------------------------------------------------------------


class LesionImageSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="uuid", read_only=True)
    url = serializers.HyperlinkedIdentityField(view_name="api-image-detail", lookup_field="uuid")
    file_url = serializers.SerializerMethodField()
    lesion = serializers.UUIDField(source="lesion.uuid", read_only=True)
    visit = serializers.UUIDField(source="visit.uuid", read_only=True)
    visit_date = serializers.DateField(source="visit.date", read_only=True)
    predictions = PredictionSerializer(many=True, read_only=True)
    created = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = LesionImage
        fields = [
            "id",
            "url",
            "file_url",
            "lesion",
            "visit",
            "visit_date",
            "image_type",
            "content_type",
            "width",
            "height",
            "file_size",
            "predictions",
            "created",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.URI)
    def get_file_url(self, image: LesionImage) -> str:
        """The stored photo (EXIF orientation applied, metadata removed); needs your token or session."""
        return _absolute(self, reverse("api-image-file", kwargs={"uuid": image.uuid}))


@extend_schema_field(OpenApiTypes.BINARY)
class PhotoField(serializers.FileField):
    """An uploaded file (documented as binary: the schema has no separate request components)."""


class LesionImageUploadSerializer(serializers.Serializer):
    photo = PhotoField(help_text="JPEG, PNG or HEIC/HEIF photo.")
    image_type = serializers.ChoiceField(choices=LesionImage.ImageType.choices)
    visit = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="A visit of the lesion's patient; without it the photo goes to your visit of today "
        "(created if needed).",
    )

    def __init__(self, *args: Any, lesion: Lesion | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lesion = lesion

    def validate_photo(self, upload: Any) -> PreparedImage:
        try:
            return image_prepare(upload, allow_heif=True)
        except ImageRejected as exc:
            raise serializers.ValidationError(str(exc)) from exc

    def validate_visit(self, value: Any) -> Visit | None:
        if value is None:
            return None
        # Unknown and other clinics' visits read the same: their existence is not revealed.
        visit = scoped(Visit, _user(self)).filter(uuid=value).first()
        if visit is None:
            raise serializers.ValidationError("No visit with this id.")
        if self.lesion is not None and visit.patient_id != self.lesion.patient_id:
            raise serializers.ValidationError("This visit belongs to another patient than the lesion.")
        return visit
