"""REST API views: GenericViewSet plus explicit mixins, every queryset scoped to the caller.

Reads go through ``clinic.selectors.scoped`` / ``get_for_user_or_404`` (other clinics' records
answer 404); writes go through services. Nested collections (a patient's lesions and visits,
a lesion's timeline and uploads) take the parent's UUID from the URL and look it up with the
same scoped selector before anything else.
"""

from __future__ import annotations

import json
from typing import Any

from auditlog.context import auditlog_value
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import GenericViewSet

from clinic.audit import audit_access_many
from clinic.files import stream_file
from clinic.selectors import get_for_user_or_404, scoped
from lesions import idempotency, selectors
from lesions.api import services
from lesions.api.serializers import (
    ErrorSerializer,
    LesionImageSerializer,
    LesionImageUploadSerializer,
    LesionSerializer,
    PatientSerializer,
    PredictionSerializer,
    VisitSerializer,
)
from lesions.models import Lesion, LesionImage, Patient, Visit
from lesions.services import visit_create
from ml.models import Prediction

NOT_FOUND = OpenApiResponse(ErrorSerializer, description="Not found, or a record of another clinic.")
BAD_REQUEST = OpenApiResponse(OpenApiTypes.OBJECT, description="Field name → list of messages.")


def _uuid_path(name: str, description: str) -> OpenApiParameter:
    return OpenApiParameter(name, OpenApiTypes.UUID, OpenApiParameter.PATH, description=description)


def service_call(func: Any, /, **kwargs: Any) -> Any:
    """Call a write service; the model's validation errors become a 400 with field messages."""
    try:
        return func(**kwargs)
    except DjangoValidationError as exc:
        detail = serializers.as_serializer_error(exc)
        if "__all__" in detail:
            detail["non_field_errors"] = detail.pop("__all__")
        raise serializers.ValidationError(detail) from exc


class ScopedViewSet(GenericViewSet):
    lookup_field = "uuid"

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        # The audit middleware runs before DRF authenticates: name token callers as the actor
        # of the entries this request writes (session callers are already known to it).
        context = auditlog_value.get(None)
        if context is not None and context.get("actor") is None and request.user.is_authenticated:
            context["actor"] = request.user

    def get_object(self) -> Any:
        """The row named in the URL, through the one access check (404 for other clinics)."""
        queryset = self.filter_queryset(self.get_queryset())
        lookup = self.kwargs[self.lookup_url_kwarg or self.lookup_field]
        instance = get_for_user_or_404(queryset.model, self.request.user, lookup, queryset)
        self.check_object_permissions(self.request, instance)
        return instance

    def _fake(self) -> bool:
        # drf-spectacular builds the views without a request user to read their shapes.
        return getattr(self, "swagger_fake_view", False)


# --- patients ------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Your clinics' patients",
        parameters=[
            OpenApiParameter("search", OpenApiTypes.STR, description="Words matched against name and record number.")
        ],
    ),
    create=extend_schema(summary="Add a patient", responses={201: PatientSerializer, 400: BAD_REQUEST}),
    retrieve=extend_schema(summary="One patient", responses={200: PatientSerializer, 404: NOT_FOUND}),
    update=extend_schema(responses={200: PatientSerializer, 400: BAD_REQUEST, 404: NOT_FOUND}),
    partial_update=extend_schema(responses={200: PatientSerializer, 400: BAD_REQUEST, 404: NOT_FOUND}),
)
class PatientViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    ScopedViewSet,
):
    serializer_class = PatientSerializer

    def get_queryset(self) -> QuerySet[Patient]:
        if self.action == "list":
            queryset = selectors.patient_list(self.request.user, search=self.request.query_params.get("search", ""))
        else:
            queryset = scoped(Patient, self.request.user).select_related("clinic")
        return queryset.order_by("last_name", "first_name", "pk")

    def paginate_queryset(self, queryset: QuerySet[Patient]) -> list[Patient] | None:
        page = super().paginate_queryset(queryset)
        audit_access_many(page or [])  # the list shows these patients' names and record numbers
        return page

    def perform_create(self, serializer: PatientSerializer) -> None:
        serializer.instance = service_call(services.patient_create, **serializer.validated_data)

    def perform_update(self, serializer: PatientSerializer) -> None:
        serializer.instance = service_call(
            services.patient_update, patient=serializer.instance, **serializer.validated_data
        )


class PatientChildViewSet(ScopedViewSet):
    """Collections under ``patients/{patient_uuid}/``: the patient is looked up first."""

    def get_patient(self) -> Patient:
        if not hasattr(self, "_patient"):
            self._patient = get_for_user_or_404(Patient, self.request.user, self.kwargs["patient_uuid"])
        return self._patient


@extend_schema(parameters=[_uuid_path("patient_uuid", "The patient's id.")])
@extend_schema_view(
    list=extend_schema(summary="A patient's lesions", responses={200: LesionSerializer(many=True), 404: NOT_FOUND}),
    create=extend_schema(
        summary="Add a lesion to a patient", responses={201: LesionSerializer, 400: BAD_REQUEST, 404: NOT_FOUND}
    ),
)
class PatientLesionViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, PatientChildViewSet):
    serializer_class = LesionSerializer

    def get_queryset(self) -> QuerySet[Lesion]:
        if self._fake():
            return Lesion.objects.none()
        return scoped(Lesion, self.request.user).filter(patient=self.get_patient()).select_related("patient")

    def perform_create(self, serializer: LesionSerializer) -> None:
        serializer.instance = service_call(
            services.lesion_create_with_details, patient=self.get_patient(), **serializer.validated_data
        )


@extend_schema(parameters=[_uuid_path("patient_uuid", "The patient's id.")])
@extend_schema_view(
    list=extend_schema(
        summary="A patient's visits, newest first", responses={200: VisitSerializer(many=True), 404: NOT_FOUND}
    ),
    create=extend_schema(summary="Record a visit", responses={201: VisitSerializer, 400: BAD_REQUEST, 404: NOT_FOUND}),
)
class PatientVisitViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, PatientChildViewSet):
    serializer_class = VisitSerializer

    def get_queryset(self) -> QuerySet[Visit]:
        if self._fake():
            return Visit.objects.none()
        return (
            scoped(Visit, self.request.user)
            .filter(patient=self.get_patient())
            .select_related("patient", "clinician")
            .prefetch_related("images")
            .order_by("-date", "-created_at")
        )

    def perform_create(self, serializer: VisitSerializer) -> None:
        serializer.instance = service_call(
            visit_create, patient=self.get_patient(), clinician=self.request.user, **serializer.validated_data
        )


# --- lesions, visits -----------------------------------------------------------------------


@extend_schema_view(
    retrieve=extend_schema(summary="One lesion", responses={200: LesionSerializer, 404: NOT_FOUND}),
    update=extend_schema(responses={200: LesionSerializer, 400: BAD_REQUEST, 404: NOT_FOUND}),
    partial_update=extend_schema(responses={200: LesionSerializer, 400: BAD_REQUEST, 404: NOT_FOUND}),
)
class LesionViewSet(mixins.RetrieveModelMixin, mixins.UpdateModelMixin, ScopedViewSet):
    serializer_class = LesionSerializer

    def get_queryset(self) -> QuerySet[Lesion]:
        return scoped(Lesion, self.request.user).select_related("patient")

    def perform_update(self, serializer: LesionSerializer) -> None:
        serializer.instance = service_call(
            services.lesion_update, lesion=serializer.instance, **serializer.validated_data
        )


@extend_schema_view(retrieve=extend_schema(summary="One visit", responses={200: VisitSerializer, 404: NOT_FOUND}))
class VisitViewSet(mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = VisitSerializer

    def get_queryset(self) -> QuerySet[Visit]:
        return scoped(Visit, self.request.user).select_related("patient", "clinician").prefetch_related("images")


class LesionChildViewSet(ScopedViewSet):
    """Collections under ``lesions/{lesion_uuid}/``: the lesion is looked up first."""

    def get_lesion(self) -> Lesion:
        if not hasattr(self, "_lesion"):
            self._lesion = get_for_user_or_404(
                Lesion, self.request.user, self.kwargs["lesion_uuid"], Lesion.objects.select_related("patient")
            )
        return self._lesion


@extend_schema(parameters=[_uuid_path("lesion_uuid", "The lesion's id.")])
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


@extend_schema(parameters=[_uuid_path("lesion_uuid", "The lesion's id.")])
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
        header = request.headers.get(idempotency.HEADER)
        if header is None:
            return self._upload(request, lesion, key=None)
        try:
            key = idempotency.idempotency_key_clean(header)
        except idempotency.IdempotencyKeyInvalid as exc:
            raise serializers.ValidationError({idempotency.HEADER: [str(exc)]}) from exc
        return self._upload(request, lesion, key=key)

    def _upload(self, request: Request, lesion: Lesion, *, key: str | None) -> Response:
        fingerprint = ""
        if key is not None:
            files = {name: request.FILES.getlist(name) for name in request.FILES}
            fields = {name: request.data.getlist(name) for name in request.data if name not in files}
            fingerprint = idempotency.request_fingerprint(
                method=request.method or "POST", path=request.path, fields=fields, files=files
            )
            try:
                replay = idempotency.idempotency_replay(user=request.user, key=key, fingerprint=fingerprint)
            except idempotency.IdempotencyKeyReused as exc:
                return Response({"detail": str(exc)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
            if replay is not None:
                return self._stored_response(replay)

        upload = LesionImageUploadSerializer(data=request.data, context=self.get_serializer_context(), lesion=lesion)
        upload.is_valid(raise_exception=True)

        def perform() -> tuple[int, Any]:
            image = service_call(
                services.lesion_image_upload,
                lesion=lesion,
                photo=upload.validated_data["photo"],
                image_type=upload.validated_data["image_type"],
                visit=upload.validated_data.get("visit"),
                uploaded_by=request.user,
            )
            image = selectors.images_with_predictions().get(pk=image.pk)
            body = LesionImageSerializer(image, context=self.get_serializer_context()).data
            # Stored and replayed as JSON: UUIDs, dates and decimals become their JSON form now.
            return status.HTTP_201_CREATED, json.loads(JSONRenderer().render(body))

        if key is None:
            code, body = perform()
            return Response(body, status=code)
        try:
            stored = idempotency.idempotent_call(user=request.user, key=key, fingerprint=fingerprint, perform=perform)
        except idempotency.IdempotencyKeyReused as exc:
            return Response({"detail": str(exc)}, status=status.HTTP_422_UNPROCESSABLE_ENTITY)
        return self._stored_response(stored)

    @staticmethod
    def _stored_response(stored: idempotency.StoredResponse) -> Response:
        response = Response(stored.body, status=stored.status)
        if stored.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


# --- photos, predictions and their files ---------------------------------------------------


class FileViewSetMixin:
    """File actions answer with the file whatever the Accept header; errors stay JSON."""

    file_actions: frozenset[str] = frozenset()

    def perform_content_negotiation(self, request: Request, force: bool = False) -> Any:
        action_name = getattr(self, "action", None)
        return super().perform_content_negotiation(request, force=force or action_name in self.file_actions)  # type: ignore[misc]


def _binary(*content_types: str) -> dict[Any, Any]:
    responses: dict[Any, Any] = {(200, content_type): OpenApiTypes.BINARY for content_type in content_types}
    responses[404] = NOT_FOUND
    return responses


@extend_schema_view(
    retrieve=extend_schema(
        summary="One photo with its analyses", responses={200: LesionImageSerializer, 404: NOT_FOUND}
    ),
    file=extend_schema(summary="The stored photo", responses=_binary("image/jpeg", "image/png")),
)
class LesionImageViewSet(FileViewSetMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = LesionImageSerializer
    file_actions = frozenset({"file"})

    def get_queryset(self) -> QuerySet[LesionImage]:
        return scoped(LesionImage, self.request.user, selectors.images_with_predictions())

    @action(detail=True, methods=["get"], url_path="file", url_name="file")
    def file(self, request: Request, uuid: str | None = None) -> HttpResponse:
        image = self.get_object()
        return stream_file(image.image, image.content_type)


@extend_schema_view(
    retrieve=extend_schema(
        summary="One analysis: status, the 7 probabilities, top class, heatmap",
        description="Decision support, not a diagnosis. Poll while status is pending or running.",
        responses={200: PredictionSerializer, 404: NOT_FOUND},
    ),
    heatmap=extend_schema(summary="Grad-CAM overlay on the photo (PNG)", responses=_binary("image/png")),
    cam=extend_schema(summary="Bare class-activation map (PNG)", responses=_binary("image/png")),
)
class PredictionViewSet(FileViewSetMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    serializer_class = PredictionSerializer
    file_actions = frozenset({"heatmap", "cam"})

    def get_queryset(self) -> QuerySet[Prediction]:
        return scoped(Prediction, self.request.user).select_related("model_version", "image")

    @action(detail=True, methods=["get"], url_path="heatmap", url_name="heatmap")
    def heatmap(self, request: Request, uuid: str | None = None) -> HttpResponse:
        prediction = self.get_object()
        if not prediction.heatmap:
            raise Http404("No heatmap for this prediction (yet).")
        return stream_file(prediction.heatmap, "image/png")

    @action(detail=True, methods=["get"], url_path="cam", url_name="cam")
    def cam(self, request: Request, uuid: str | None = None) -> HttpResponse:
        prediction = self.get_object()
        if not prediction.cam:
            raise Http404("No map for this prediction (yet).")
        return stream_file(prediction.cam, "image/png")
