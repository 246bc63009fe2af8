"""The analyses in the REST API: one prediction (status, the 7 probabilities, heatmap files) and photo outlines."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpResponseBase
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request

from clinic.api import NOT_FOUND, FileViewSetMixin, RecordSerializer, ScopedViewSet, absolute_url, binary_responses
from clinic.files import stream_file
from clinic.selectors import scoped
from ml.engine.labels import CLASS_NAMES, HAM10000_CLASSES
from ml.models import COLOUR_NAMES, LesionOutline, ModelVersion, Prediction, class_probabilities, outline_of


class ProbabilitiesSerializer(serializers.Serializer[dict[str, float]]):
    """The 7 HAM10000 class probabilities (they add up to 1)."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        return {code: serializers.FloatField(help_text=CLASS_NAMES[code]) for code in HAM10000_CLASSES}


class PatientContextSerializer(serializers.Serializer[dict[str, object]]):
    """What the analysis knew of the patient (null where unknown)."""

    age = serializers.FloatField(allow_null=True, help_text="age in years at the photo's visit")
    sex = serializers.CharField(allow_null=True)
    site = serializers.CharField(allow_null=True, help_text="body site (ISIC anatom_site_general)")


class ModelVersionSerializer(serializers.ModelSerializer[ModelVersion]):
    class Meta:
        model = ModelVersion
        fields = ["name", "architecture", "is_default"]


class MeasurementsSerializer(serializers.Serializer[dict[str, object]]):
    """What the outline measures. Sizes in mm need the photo's pixel size (its own, else the clinic's
    default for the image type) and are null without one: then compare the relative sizes."""

    area_fraction = serializers.FloatField(help_text="share of the photo inside the outline")
    area_mm2 = serializers.FloatField(allow_null=True)
    diameter_fraction = serializers.FloatField(help_text="largest Feret diameter over the photo's longer side")
    diameter_mm = serializers.FloatField(allow_null=True, help_text="largest Feret diameter")
    width_mm = serializers.FloatField(allow_null=True, help_text="extent perpendicular to the largest diameter")
    area_px = serializers.FloatField(help_text="in pixels of the stored photo")
    diameter_px = serializers.FloatField()
    width_px = serializers.FloatField()
    asymmetry = serializers.FloatField(help_text="the larger of the two axis asymmetries, 0 (symmetric) to 1")
    asymmetry_major_axis = serializers.FloatField(help_text="share of the lesion not overlapping its mirror image")
    asymmetry_minor_axis = serializers.FloatField()
    compactness = serializers.FloatField(help_text="perimeter² / (4π·area): 1 for a circle, more for ragged borders")
    colours = serializers.ListField(
        child=serializers.ChoiceField(choices=list(COLOUR_NAMES)), help_text="ABCD colours present (heuristic)"
    )
    colour_shares = serializers.DictField(child=serializers.FloatField(), help_text="share of the lesion per colour")
    sizes_are_relative = serializers.BooleanField(help_text="true when no pixel size is known: mm fields are null")
    mm_per_pixel = serializers.FloatField(allow_null=True, help_text="the pixel size the mm values use")


class OutlineSerializer(serializers.ModelSerializer[LesionOutline]):
    """The lesion outlined on the photo by the segmentation model, with its measurements."""

    segmenter = serializers.CharField(source="segmenter_name", read_only=True)
    measurements = serializers.SerializerMethodField()
    mask_url = serializers.SerializerMethodField()
    finished = serializers.DateTimeField(source="finished_at", read_only=True, allow_null=True)

    class Meta:
        model = LesionOutline
        fields = ["status", "segmenter", "confidence", "measurements", "mask_url", "failure_reason", "finished"]
        read_only_fields = fields

    @extend_schema_field(MeasurementsSerializer(allow_null=True))
    def get_measurements(self, outline: LesionOutline) -> dict[str, object] | None:
        """Null unless the status is done."""
        measured = outline.measured
        return measured.to_dict() if measured is not None else None

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_mask_url(self, outline: LesionOutline) -> str | None:
        """The mask as a grayscale PNG at the photo's aspect ratio (255 = lesion); needs your token or session."""
        if not outline.mask:
            return None
        return absolute_url(self, reverse("api-image-mask", kwargs={"uuid": outline.image.uuid}))


class PredictionSerializer(RecordSerializer[Prediction]):
    url = serializers.HyperlinkedIdentityField(view_name="api-prediction-detail", lookup_field="uuid")
    image = serializers.UUIDField(source="image.uuid", read_only=True)
    model_version = ModelVersionSerializer(read_only=True)
    probabilities = serializers.SerializerMethodField()
    top_class = serializers.SerializerMethodField()
    top_class_name = serializers.SerializerMethodField()
    heatmap_url = serializers.SerializerMethodField()
    cam_url = serializers.SerializerMethodField()
    melanoma_flag = serializers.SerializerMethodField()
    melanoma_threshold = serializers.FloatField(read_only=True, allow_null=True)
    # DRF's metaclass takes declared fields off the class: ``self.context`` stays the serializer's context dict.
    context: dict[str, Any] = serializers.SerializerMethodField()  # type: ignore[assignment]  # DRF stubs: see above
    cam_in_lesion = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text="Share of the heatmap's mass inside the lesion outline (0-1); low values mean the model looked "
        "mostly outside the lesion. Null without an outline or a heatmap.",
    )
    outline = serializers.SerializerMethodField()
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
            "melanoma_flag",
            "melanoma_threshold",
            "context",
            "heatmap_url",
            "cam_url",
            "cam_in_lesion",
            "outline",
            "failure_reason",
            "created",
            "finished",
        ]
        read_only_fields = fields

    @extend_schema_field(ProbabilitiesSerializer(allow_null=True))
    def get_probabilities(self, prediction: Prediction) -> dict[str, float] | None:
        if prediction.status != Prediction.Status.DONE or not prediction.probabilities:
            return None
        return class_probabilities(prediction.probabilities)

    @extend_schema_field(serializers.ChoiceField(choices=list(HAM10000_CLASSES), allow_null=True))
    def get_top_class(self, prediction: Prediction) -> str | None:
        return prediction.top_class or None

    def get_top_class_name(self, prediction: Prediction) -> str | None:
        return prediction.top_class_name if prediction.top_class else None

    @extend_schema_field(serializers.BooleanField(allow_null=True))
    def get_melanoma_flag(self, prediction: Prediction) -> bool | None:
        """Suspicious for melanoma (P(mel) >= melanoma_threshold, set on validation for >= 90% sensitivity):
        consider excision/biopsy or specialist review. A decision apart from the top class; null until
        done or for a model without a threshold."""
        return prediction.melanoma_flag if prediction.status == Prediction.Status.DONE else None

    @extend_schema_field(PatientContextSerializer(allow_null=True))
    def get_context(self, prediction: Prediction) -> dict[str, object] | None:
        """The patient context the analysis used (age at the visit, sex, body site); null if it used none."""
        return prediction.context or None

    @extend_schema_field(OutlineSerializer(allow_null=True))
    def get_outline(self, prediction: Prediction) -> dict[str, object] | None:
        """The photo's lesion outline and measurements (one per photo, shared by its predictions); null if none."""
        outline = outline_of(prediction.image)
        return OutlineSerializer(outline, context=self.context).data if outline is not None else None

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_heatmap_url(self, prediction: Prediction) -> str | None:
        """Grad-CAM overlay on the photo (PNG); null until the analysis is done."""
        if not prediction.heatmap:
            return None
        return absolute_url(self, reverse("api-prediction-heatmap", kwargs={"uuid": prediction.uuid}))

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_cam_url(self, prediction: Prediction) -> str | None:
        """The bare class-activation map (PNG); null until the analysis is done."""
        if not prediction.cam:
            return None
        return absolute_url(self, reverse("api-prediction-cam", kwargs={"uuid": prediction.uuid}))


@extend_schema_view(
    retrieve=extend_schema(
        summary="One analysis: status, the 7 probabilities, top class, heatmap",
        description="Decision support, not a diagnosis. Poll while status is pending or running.",
        responses={200: PredictionSerializer, 404: NOT_FOUND},
    ),
    heatmap=extend_schema(summary="Grad-CAM overlay on the photo (PNG)", responses=binary_responses("image/png")),
    cam=extend_schema(summary="Bare class-activation map (PNG)", responses=binary_responses("image/png")),
)
class PredictionViewSet(FileViewSetMixin, mixins.RetrieveModelMixin, ScopedViewSet[Prediction]):
    serializer_class = PredictionSerializer
    file_actions = frozenset({"heatmap", "cam"})

    def get_queryset(self) -> QuerySet[Prediction]:
        return scoped(Prediction, self.request.user).select_related("model_version", "image", "image__outline")

    @action(detail=True, methods=["get"], url_path="heatmap", url_name="heatmap")
    def heatmap(self, request: Request, uuid: str | None = None) -> HttpResponseBase:
        prediction = self.get_object()
        if not prediction.heatmap:
            raise Http404("No heatmap for this prediction (yet).")
        return stream_file(prediction.heatmap, "image/png")

    @action(detail=True, methods=["get"], url_path="cam", url_name="cam")
    def cam(self, request: Request, uuid: str | None = None) -> HttpResponseBase:
        prediction = self.get_object()
        if not prediction.cam:
            raise Http404("No map for this prediction (yet).")
        return stream_file(prediction.cam, "image/png")
