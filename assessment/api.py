"""REST API of a photo's checklists and a visit's assessment: read, write, sign, add an addendum.

``/api/v1/images/{id}/checklist/`` (GET, PUT) and ``/api/v1/visits/{id}/assessment/`` (GET, PUT),
``.../assessment/sign/`` and ``.../assessment/addenda/`` (POST). Writes go through
``assessment.services``; a signed visit answers 409 with the reason, a bad value 400.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from assessment import scores, services
from assessment.models import (
    DermoscopyChecklist,
    VisitAddendum,
    VisitAssessment,
    VisitSigned,
    assessment_of,
    checklist_of,
)
from clinic.api import BAD_REQUEST, NOT_FOUND, ScopedViewSet
from lesions.models import LesionImage, Visit

CONFLICT = OpenApiResponse(description="The visit is signed and read-only: add an addendum instead.")


def _conflict(error: VisitSigned) -> Response:
    return Response({"detail": str(error)}, status=status.HTTP_409_CONFLICT)


class ChecklistSerializer(serializers.ModelSerializer[DermoscopyChecklist]):
    """The items, the scores (read-only, computed) and which ABCD items are still the outline's suggestion."""

    photo = serializers.UUIDField(source="image.uuid", read_only=True)
    seven_point_suggests_melanoma = serializers.BooleanField(read_only=True)
    tds_band = serializers.CharField(read_only=True)
    confirmed = serializers.ListField(
        child=serializers.ChoiceField(choices=list(scores.PREFILLABLE)),
        write_only=True,
        required=False,
        help_text="ABCD items whose pre-filled value the clinician confirms.",
    )
    completed_by = serializers.SerializerMethodField()

    class Meta:
        model = DermoscopyChecklist
        fields = [
            "photo",
            *services.CHECKLIST_FIELDS,
            "prefilled",
            "confirmed",
            "seven_point_score",
            "seven_point_suggests_melanoma",
            "total_dermoscopy_score",
            "tds_band",
            "three_point_score",
            "completed_by",
            "updated_at",
        ]
        read_only_fields = [
            "prefilled",
            "seven_point_score",
            "total_dermoscopy_score",
            "three_point_score",
            "updated_at",
        ]

    def get_completed_by(self, checklist: DermoscopyChecklist) -> str | None:
        user = checklist.completed_by
        return None if user is None else (user.get_full_name() or user.username)


class AddendumSerializer(serializers.ModelSerializer[VisitAddendum]):
    author = serializers.SerializerMethodField()
    created = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = VisitAddendum
        fields = ["text", "author", "created"]

    def get_author(self, addendum: VisitAddendum) -> str:
        return addendum.author_name


class AssessmentSerializer(serializers.ModelSerializer[VisitAssessment]):
    visit = serializers.UUIDField(source="visit.uuid", read_only=True)
    signed = serializers.BooleanField(source="is_signed", read_only=True)
    signed_by = serializers.CharField(source="signed_by_name", read_only=True)
    addenda = serializers.SerializerMethodField()

    class Meta:
        model = VisitAssessment
        fields = ["visit", *services.ASSESSMENT_FIELDS, "signed", "signed_by", "signed_at", "addenda"]
        read_only_fields = ["signed_at"]

    def get_addenda(self, assessment: VisitAssessment) -> list[dict[str, Any]]:
        return list(AddendumSerializer(assessment.visit.addenda.select_related("author"), many=True).data)


class PhotoChecklistViewSet(ScopedViewSet[LesionImage]):
    # OPTIONS: 405 (DRF's metadata needs one serializer_class; these actions each have their own)
    metadata_class = None
    pagination_class = None

    def get_queryset(self) -> QuerySet[LesionImage]:
        return LesionImage.objects.select_related("visit", "lesion")

    @extend_schema(summary="A photo's dermoscopy checklists", responses={200: ChecklistSerializer, 404: NOT_FOUND})
    def retrieve(self, request: Request, uuid: str | None = None) -> Response:
        image = self.get_object()
        checklist = services.checklist_for_form(image)
        return Response(ChecklistSerializer(checklist).data)

    @extend_schema(
        summary="Set a photo's checklists",
        request=ChecklistSerializer,
        responses={200: ChecklistSerializer, 400: BAD_REQUEST, 404: NOT_FOUND, 409: CONFLICT},
    )
    def update(self, request: Request, uuid: str | None = None) -> Response:
        image = self.get_object()
        body = ChecklistSerializer(instance=checklist_of(image), data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        confirmed = set(values.pop("confirmed", []))
        try:
            checklist = services.checklist_save(image=image, user=request.user, values=values, confirmed=confirmed)
        except VisitSigned as exc:
            return _conflict(exc)
        return Response(ChecklistSerializer(checklist).data)


class VisitAssessmentViewSet(ScopedViewSet[Visit]):
    # OPTIONS: 405 (DRF's metadata needs one serializer_class; these actions each have their own)
    metadata_class = None
    pagination_class = None

    def get_queryset(self) -> QuerySet[Visit]:
        return Visit.objects.select_related("patient")

    def _answer(self, visit: Visit, code: int = status.HTTP_200_OK) -> Response:
        assessment = assessment_of(visit) or VisitAssessment(visit=visit)
        return Response(AssessmentSerializer(assessment).data, status=code)

    @extend_schema(summary="A visit's clinical assessment", responses={200: AssessmentSerializer, 404: NOT_FOUND})
    def retrieve(self, request: Request, uuid: str | None = None) -> Response:
        return self._answer(self.get_object())

    @extend_schema(
        summary="Set a visit's impression, differential, plan and notes",
        request=AssessmentSerializer,
        responses={200: AssessmentSerializer, 400: BAD_REQUEST, 404: NOT_FOUND, 409: CONFLICT},
    )
    def update(self, request: Request, uuid: str | None = None) -> Response:
        visit = self.get_object()
        body = AssessmentSerializer(data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        try:
            services.assessment_save(visit=visit, user=request.user, **body.validated_data)
        except VisitSigned as exc:
            return _conflict(exc)
        visit.refresh_from_db()
        return self._answer(Visit.objects.get(pk=visit.pk))

    @extend_schema(
        summary="Sign the visit (it becomes read-only)",
        request=None,
        responses={200: AssessmentSerializer, 400: BAD_REQUEST, 404: NOT_FOUND, 409: CONFLICT},
    )
    def sign(self, request: Request, uuid: str | None = None) -> Response:
        visit = self.get_object()
        try:
            services.visit_sign(visit=visit, user=request.user)
        except VisitSigned as exc:
            return _conflict(exc)
        return self._answer(Visit.objects.get(pk=visit.pk))

    @extend_schema(
        summary="Add an addendum to a signed visit",
        request=AddendumSerializer,
        responses={201: AssessmentSerializer, 400: BAD_REQUEST, 404: NOT_FOUND},
    )
    def addendum(self, request: Request, uuid: str | None = None) -> Response:
        visit = self.get_object()
        body = AddendumSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.visit_addendum_add(visit=visit, user=request.user, text=body.validated_data["text"])
        return self._answer(Visit.objects.get(pk=visit.pk), status.HTTP_201_CREATED)
