"""REST API of the records: patients, their lesions and visits, one lesion, one visit.

GenericViewSet plus explicit mixins, every queryset scoped to the caller. Reads go through
``clinic.selectors.scoped`` / ``get_for_user_or_404`` (other clinics' records answer 404);
writes go through ``lesions.services``. Nested collections (a patient's lesions and visits)
take the parent's UUID from the URL and look it up with the same scoped selector first.
"""

from __future__ import annotations

from typing import TypeVar, cast

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.serializers import BaseSerializer

from clinic.api import BAD_REQUEST, NOT_FOUND, M_co, ScopedViewSet, uuid_path
from clinic.audit import audit_list_view
from clinic.selectors import get_for_user_or_404, scoped
from lesions import selectors, services
from lesions.api.serializers import LesionSerializer, PatientSerializer, VisitSerializer
from lesions.models import Lesion, Patient, Visit

Row = TypeVar("Row")

# --- patients ------------------------------------------------------------------------------


@extend_schema_view(
    list=extend_schema(
        summary="Your clinics' patients",
        parameters=[
            OpenApiParameter(
                "search",
                OpenApiTypes.STR,
                description="Words matched against name and record number whatever their case and accents, or a "
                f"date of birth written YYYY-MM-DD (at most {selectors.SEARCH_MAX_WORDS} "
                f"words, {selectors.SEARCH_MAX_LENGTH} characters).",
            )
        ],
        responses={200: PatientSerializer(many=True), 400: BAD_REQUEST},
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
    ScopedViewSet[Patient],
):
    serializer_class = PatientSerializer

    def get_queryset(self) -> QuerySet[Patient]:
        if self.action == "list":
            try:
                queryset = selectors.patient_list(self.request.user, search=self.request.query_params.get("search", ""))
            except selectors.SearchRejected as exc:
                raise serializers.ValidationError({"search": [str(exc)]}) from exc
        else:
            queryset = scoped(Patient, self.request.user).select_related("clinic")
        return queryset.order_by("last_name", "first_name", "pk")

    def paginate_queryset(self, queryset: QuerySet[Patient, Row]) -> list[Row] | None:
        page = super().paginate_queryset(queryset)
        # The list shows these patients' names and record numbers (its rows are Patients, never values()).
        audit_list_view(cast("list[Patient]", page or []), page="Patient list (API)")
        return page

    def perform_create(self, serializer: BaseSerializer[Patient]) -> None:
        serializer.instance = services.patient_create(**serializer.validated_data)

    def perform_update(self, serializer: BaseSerializer[Patient]) -> None:
        assert serializer.instance is not None  # UpdateModelMixin gives the serializer the row it updates
        serializer.instance = services.patient_update(patient=serializer.instance, **serializer.validated_data)


class PatientChildViewSet(ScopedViewSet[M_co]):
    """Collections under ``patients/{patient_uuid}/``: the patient is looked up first."""

    def get_patient(self) -> Patient:
        if not hasattr(self, "_patient"):
            self._patient = get_for_user_or_404(Patient, self.request.user, self.kwargs["patient_uuid"])
        return self._patient


@extend_schema(parameters=[uuid_path("patient_uuid", "The patient's id.")])
@extend_schema_view(
    list=extend_schema(summary="A patient's lesions", responses={200: LesionSerializer(many=True), 404: NOT_FOUND}),
    create=extend_schema(
        summary="Add a lesion to a patient", responses={201: LesionSerializer, 400: BAD_REQUEST, 404: NOT_FOUND}
    ),
)
class PatientLesionViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, PatientChildViewSet[Lesion]):
    serializer_class = LesionSerializer

    def get_queryset(self) -> QuerySet[Lesion]:
        if self._fake():
            return Lesion.objects.none()
        return scoped(Lesion, self.request.user).filter(patient=self.get_patient()).select_related("patient")

    def perform_create(self, serializer: BaseSerializer[Lesion]) -> None:
        serializer.instance = services.lesion_create(patient=self.get_patient(), **serializer.validated_data)


@extend_schema(parameters=[uuid_path("patient_uuid", "The patient's id.")])
@extend_schema_view(
    list=extend_schema(
        summary="A patient's visits, newest first", responses={200: VisitSerializer(many=True), 404: NOT_FOUND}
    ),
    create=extend_schema(summary="Record a visit", responses={201: VisitSerializer, 400: BAD_REQUEST, 404: NOT_FOUND}),
)
class PatientVisitViewSet(mixins.ListModelMixin, mixins.CreateModelMixin, PatientChildViewSet[Visit]):
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

    def perform_create(self, serializer: BaseSerializer[Visit]) -> None:
        serializer.instance = services.visit_create(
            patient=self.get_patient(), clinician=self.request.user, **serializer.validated_data
        )


# --- lesions, visits -----------------------------------------------------------------------


@extend_schema_view(
    retrieve=extend_schema(summary="One lesion", responses={200: LesionSerializer, 404: NOT_FOUND}),
    update=extend_schema(responses={200: LesionSerializer, 400: BAD_REQUEST, 404: NOT_FOUND}),
    partial_update=extend_schema(responses={200: LesionSerializer, 400: BAD_REQUEST, 404: NOT_FOUND}),
)
class LesionViewSet(mixins.RetrieveModelMixin, mixins.UpdateModelMixin, ScopedViewSet[Lesion]):
    serializer_class = LesionSerializer

    def get_queryset(self) -> QuerySet[Lesion]:
        return scoped(Lesion, self.request.user).select_related("patient")

    def perform_update(self, serializer: BaseSerializer[Lesion]) -> None:
        assert serializer.instance is not None  # UpdateModelMixin gives the serializer the row it updates
        serializer.instance = services.lesion_update(lesion=serializer.instance, **serializer.validated_data)


@extend_schema_view(retrieve=extend_schema(summary="One visit", responses={200: VisitSerializer, 404: NOT_FOUND}))
class VisitViewSet(mixins.RetrieveModelMixin, ScopedViewSet[Visit]):
    serializer_class = VisitSerializer

    def get_queryset(self) -> QuerySet[Visit]:
        return scoped(Visit, self.request.user).select_related("patient", "clinician").prefetch_related("images")
