"""Photos with their analyses in the REST API: one photo, a lesion's timeline, and the upload.

The upload stores through ``lesions.services`` (once per ``Idempotency-Key``, see
``lesions.idempotency``) and answers with the photo and its pending analyses to poll.
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models import QuerySet
from django.http import Http404, HttpResponseBase
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from assessment.models import VisitSigned, visit_is_signed
from clinic.api import (
    BAD_REQUEST,
    NOT_FOUND,
    ErrorSerializer,
    FileViewSetMixin,
    RecordSerializer,
    ScopedViewSet,
    absolute_url,
    binary_responses,
    uuid_path,
)
from clinic.files import stream_file
from clinic.selectors import get_for_user_or_404, scoped
from integrations.oauth import CLIENT_SCOPED, WITH_CLIENT_BEARER
from lesions import idempotency, services
from lesions.api.serializers import LesionImageUploadSerializer
from lesions.models import Lesion, LesionImage
from ml import selectors
from ml.api import OutlineSerializer, PredictionSerializer
from ml.models import outline_of


class LesionImageSerializer(RecordSerializer[LesionImage]):
    url = serializers.HyperlinkedIdentityField(view_name="api-image-detail", lookup_field="uuid")
    file_url = serializers.SerializerMethodField()
    lesion = serializers.UUIDField(source="lesion.uuid", read_only=True)
    visit = serializers.UUIDField(source="visit.uuid", read_only=True)
    visit_date = serializers.DateField(source="visit.date", read_only=True)
    predictions = PredictionSerializer(many=True, read_only=True)
    outline = serializers.SerializerMethodField()
    capture_profile = serializers.UUIDField(
        source="capture_profile.uuid", read_only=True, allow_null=True, default=None
    )
    pixel_size_mm = serializers.FloatField(
        read_only=True,
        allow_null=True,
        help_text="mm per pixel in force: the photo's own, its device's, or its type's default.",
    )

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
            "mm_per_pixel",
            "capture_profile",
            "pixel_size_mm",
            "predictions",
            "outline",
            "created",
        ]
        read_only_fields = fields

    @extend_schema_field(OutlineSerializer(allow_null=True))
    def get_outline(self, image: LesionImage) -> dict[str, Any] | None:
        """The lesion outlined on the photo and its measurements; null when no segmentation model outlined it."""
        outline = outline_of(image)
        return OutlineSerializer(outline, context=self.context).data if outline is not None else None

    @extend_schema_field(OpenApiTypes.URI)
    def get_file_url(self, image: LesionImage) -> str:
        """The stored photo (EXIF orientation applied, metadata removed); needs your token or session."""
        return absolute_url(self, reverse("api-image-file", kwargs={"uuid": image.uuid}))


class LesionChildViewSet(ScopedViewSet[LesionImage]):
    """Collections under ``lesions/{lesion_uuid}/``: the lesion is looked up first."""

    def get_lesion(self) -> Lesion:
        if not hasattr(self, "_lesion"):
            self._lesion = get_for_user_or_404(
                Lesion, self.request.user, self.kwargs["lesion_uuid"], Lesion.objects.select_related("patient")
            )
        return self._lesion


@extend_schema(parameters=[uuid_path("lesion_uuid", "The lesion's id.")])
@extend_schema_view(
    list=extend_schema(
        summary="A lesion's timeline: every photo with its analyses, oldest first",
        responses={200: LesionImageSerializer(many=True), 404: NOT_FOUND},
    )
)
class LesionTimelineViewSet(mixins.ListModelMixin, LesionChildViewSet):
    serializer_class = LesionImageSerializer

    def get_queryset(self) -> QuerySet[LesionImage]:
        if self._fake():
            return LesionImage.objects.none()
        return scoped(LesionImage, self.request.user, selectors.lesion_images(self.get_lesion()))


IDEMPOTENCY_HEADER = OpenApiParameter(
    idempotency.HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Any unique string (e.g. a UUID made by the app). A retry with the same key gets the first "
    "response again and stores no second photo; the same key with a different request is refused (422).",
)


@extend_schema(parameters=[uuid_path("lesion_uuid", "The lesion's id.")])
@extend_schema_view(
    create=extend_schema(
        summary="Upload a photo of the lesion",
        description="Multipart upload from a phone or dermatoscope: JPEG, PNG or HEIC/HEIF. EXIF orientation is "
        "applied and all metadata removed. The photo is analysed in the background by every active model; "
        "the response lists the pending analyses to poll.",
        request={"multipart/form-data": LesionImageUploadSerializer},
        parameters=[IDEMPOTENCY_HEADER],
        responses={
            201: LesionImageSerializer,
            400: BAD_REQUEST,
            404: NOT_FOUND,
            422: OpenApiResponse(ErrorSerializer, description="The Idempotency-Key was used for another request."),
        },
    )
)
class LesionImageUploadViewSet(mixins.CreateModelMixin, LesionChildViewSet):
    serializer_class = LesionImageUploadSerializer
    parser_classes = [MultiPartParser, FormParser]

    def get_queryset(self) -> QuerySet[LesionImage]:
        if self._fake():
            return LesionImage.objects.none()
        return scoped(LesionImage, self.request.user).filter(lesion=self.get_lesion())

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        lesion = self.get_lesion()
        try:
            stored = idempotency.idempotent_request(request=request, perform=lambda: self._upload(request, lesion))
        except idempotency.IdempotencyKeyInvalid as exc:
            raise serializers.ValidationError({idempotency.HEADER: [str(exc)]}) from exc
        except idempotency.IdempotencyKeyReused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        response = Response(stored.body, status=stored.status)
        if stored.replayed:
            response["Idempotent-Replayed"] = "true"
        return response

    def _upload(self, request: Request, lesion: Lesion) -> tuple[int, Any]:
        upload = LesionImageUploadSerializer(data=request.data, context=self.get_serializer_context(), lesion=lesion)
        upload.is_valid(raise_exception=True)
        visit = upload.validated_data.get("visit")
        if visit is not None and visit_is_signed(visit):
            return status.HTTP_409_CONFLICT, {"detail": str(VisitSigned(visit))}
        try:
            image = services.lesion_image_upload(
                lesion=lesion,
                photo=upload.validated_data["photo"],
                image_type=upload.validated_data["image_type"],
                visit=visit,
                uploaded_by=request.user,
                mm_per_pixel=upload.validated_data.get("mm_per_pixel"),
                capture_profile=upload.validated_data.get("capture_profile"),
            )
        except VisitSigned as exc:  # signed while the photo was being stored
            return status.HTTP_409_CONFLICT, {"detail": str(exc)}
        image = selectors.images_with_predictions().get(pk=image.pk)
        body = LesionImageSerializer(image, context=self.get_serializer_context()).data
        # Stored and replayed as JSON: UUIDs, dates and decimals become their JSON form now.
        return status.HTTP_201_CREATED, json.loads(JSONRenderer().render(body))


@extend_schema_view(
    retrieve=extend_schema(
        summary="One photo with its analyses", responses={200: LesionImageSerializer, 404: NOT_FOUND}
    ),
    file=extend_schema(summary="The stored photo", responses=binary_responses("image/jpeg", "image/png")),
    mask=extend_schema(
        summary="The lesion outline's mask (grayscale PNG, 255 = lesion)", responses=binary_responses("image/png")
    ),
)
class LesionImageViewSet(FileViewSetMixin, mixins.RetrieveModelMixin, ScopedViewSet[LesionImage]):
    serializer_class = LesionImageSerializer
    file_actions = frozenset({"file", "mask"})
    # The photo is a FHIR Media's content.url: integrations that may read Media fetch it with their Bearer token.
    authentication_classes = WITH_CLIENT_BEARER
    permission_classes = CLIENT_SCOPED
    smart_scopes = {"file": ("Media", "r")}

    def get_queryset(self) -> QuerySet[LesionImage]:
        return scoped(LesionImage, self.request.user, selectors.images_with_predictions())

    @action(detail=True, methods=["get"], url_path="file", url_name="file")
    def file(self, request: Request, uuid: str | None = None) -> HttpResponseBase:
        image = self.get_object()
        return stream_file(image.image, image.content_type)

    @action(detail=True, methods=["get"], url_path="mask", url_name="mask")
    def mask(self, request: Request, uuid: str | None = None) -> HttpResponseBase:
        image = self.get_object()
        outline = outline_of(image)
        if outline is None or not outline.mask:
            raise Http404("No lesion outline for this photo (yet).")
        return stream_file(outline.mask, "image/png")
