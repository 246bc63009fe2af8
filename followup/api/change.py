"""A lesion's follow-up in the REST API: change against baseline and previous photo, the melanoma score, flags.

``GET /api/v1/lesions/{id}/followup/`` answers with the lesion's baseline and latest photo, the
latest photo's alignment with its baseline, the change from the baseline and from the previous
photo (each saying whether the photos compare, and why not), the melanoma reading and every flag
(open first). ``POST /api/v1/flags/{id}/review/`` with a ``reason`` records the review of an open
flag; ``GET /api/v1/flags/`` lists the flags awaiting review in the caller's clinics.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from clinic.api import BAD_REQUEST, NOT_FOUND, ScopedViewSet, uuid_path
from clinic.selectors import clinics_for_user, scoped
from followup import flags_sync, selectors
from followup.api.photos import LesionChildViewSet
from followup.changes import FollowUpState
from followup.melanoma import melanoma_reading
from followup.models import LesionFlag
from followup.timeline import usable_prediction


class FlagSerializer(serializers.ModelSerializer[LesionFlag]):
    id = serializers.UUIDField(source="uuid", read_only=True)
    lesion = serializers.UUIDField(source="lesion.uuid", read_only=True)
    photo = serializers.UUIDField(source="photo.uuid", read_only=True)
    reviewed_by = serializers.CharField(source="reviewed_by.username", read_only=True, allow_null=True, default=None)
    reason = serializers.SerializerMethodField()

    class Meta:
        model = LesionFlag
        fields = [
            "id",
            "lesion",
            "code",
            "status",
            "title",
            "detail",
            "photo",
            "raised_at",
            "reviewed_by",
            "reviewed_at",
            "reason",
            "retired_at",
        ]
        read_only_fields = fields

    def get_reason(self, flag: LesionFlag) -> str | None:
        """Why it was reviewed (the clinician's words) or retired; null while open."""
        return flag.reason or flag.retired_reason or None


class FlagReviewSerializer(serializers.Serializer[dict[str, str]]):
    reason = serializers.CharField(
        max_length=500,
        help_text="Why the flag needs no further action, e.g. 'excised', 'benign on dermoscopy', "
        "'re-photographed at another zoom'.",
    )


class ChangeSerializer(serializers.Serializer[dict[str, Any]]):
    """The latest photo against one reference photo (its baseline or its previous photo)."""

    reference = serializers.UUIDField(help_text="The photo compared with.")
    area_ratio = serializers.FloatField(allow_null=True, help_text="Latest area / reference area (1.3 = +30%).")
    diameter_ratio = serializers.FloatField(allow_null=True)
    asymmetry_delta = serializers.FloatField(allow_null=True)
    new_colours = serializers.ListField(child=serializers.CharField())
    mel_probability_delta = serializers.FloatField(allow_null=True)
    comparable = serializers.BooleanField(help_text="Whether the sizes compare (one frame, same kind of photo).")
    reason = serializers.CharField(allow_null=True, help_text="Why not, when they do not.")
    basis = serializers.CharField(allow_null=True, help_text="aligned, mm or scaled: how the sizes were compared.")


class AlignmentSerializer(serializers.Serializer[dict[str, Any]]):
    status = serializers.ChoiceField(choices=["aligned", "failed", "not_needed", "pending"])
    quality = serializers.FloatField(allow_null=True)
    scale = serializers.FloatField(allow_null=True, help_text="Baseline pixels per latest-photo pixel.")
    rotation_deg = serializers.FloatField(allow_null=True)
    reason = serializers.CharField(allow_null=True)


class MelanomaSerializer(serializers.Serializer[dict[str, Any]]):
    probability = serializers.FloatField()
    range = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="Middle half of the readings (views x members)."
    )
    threshold = serializers.FloatField()
    state = serializers.ChoiceField(choices=["below", "borderline", "flagged", "high"])
    explanation = serializers.CharField()


class FollowUpSerializer(serializers.Serializer[dict[str, Any]]):
    lesion = serializers.UUIDField()
    baseline = serializers.UUIDField(allow_null=True, help_text="The latest photo's baseline photo.")
    latest = serializers.UUIDField(allow_null=True, help_text="The photo of the latest visit.")
    alignment = AlignmentSerializer()
    change_from_baseline = ChangeSerializer(allow_null=True)
    change_from_previous = ChangeSerializer(allow_null=True)
    melanoma = MelanomaSerializer(allow_null=True)
    flags = FlagSerializer(many=True)


def followup_payload(
    lesion: Any, state: FollowUpState, flags: list[LesionFlag], context: dict[str, Any]
) -> dict[str, Any]:
    reading = None
    if state.latest is not None:
        prediction = usable_prediction(state.latest.predictions.all())
        reading = melanoma_reading(prediction) if prediction is not None else None
    return {
        "lesion": str(lesion.uuid),
        "baseline": str(state.baseline.uuid) if state.baseline is not None else None,
        "latest": str(state.latest.uuid) if state.latest is not None else None,
        "alignment": state.alignment,
        "change_from_baseline": state.from_baseline.to_api() if state.from_baseline is not None else None,
        "change_from_previous": state.from_previous.to_api() if state.from_previous is not None else None,
        "melanoma": None
        if reading is None
        else {
            "probability": round(reading.probability, 6),
            "range": [round(reading.low, 6), round(reading.high, 6)]
            if reading.low is not None and reading.high is not None
            else None,
            "threshold": reading.threshold,
            "state": reading.state,
            "explanation": reading.explanation(),
        },
        "flags": FlagSerializer(flags, many=True, context=context).data,
    }


@extend_schema(parameters=[uuid_path("lesion_uuid", "The lesion's id.")])
@extend_schema_view(
    retrieve=extend_schema(
        summary="A lesion's follow-up: change against its baseline and previous photo, the melanoma score, flags",
        responses={200: FollowUpSerializer, 404: NOT_FOUND},
    )
)
class LesionFollowUpViewSet(LesionChildViewSet):
    pagination_class = None

    def get_queryset(self) -> QuerySet[Any]:
        return LesionFlag.objects.none()

    def retrieve(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        lesion = self.get_lesion()
        state, _, _ = selectors.lesion_state(lesion)
        flags = list(selectors.lesion_flags(lesion))
        return Response(followup_payload(lesion, state, flags, self.get_serializer_context()))


@extend_schema_view(
    list=extend_schema(summary="Flags awaiting review in your clinics, newest first"),
    retrieve=extend_schema(summary="One flag", responses={200: FlagSerializer, 404: NOT_FOUND}),
    review=extend_schema(
        summary="Review an open flag",
        description="Records who reviewed it, when and why; the flag then stays in the lesion's history as "
        "reviewed. A flag already reviewed or retired answers 400.",
        request=FlagReviewSerializer,
        responses={200: FlagSerializer, 400: BAD_REQUEST, 404: NOT_FOUND},
    ),
)
class FlagViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet[LesionFlag]):
    serializer_class = FlagSerializer

    def get_queryset(self) -> QuerySet[LesionFlag]:
        if self._fake():
            return LesionFlag.objects.none()
        if self.action == "list":
            return selectors.open_flags(clinics_for_user(self.request.user)).select_related("reviewed_by")
        return scoped(LesionFlag, self.request.user, LesionFlag.objects.select_related("lesion", "photo"))

    @action(detail=True, methods=["post"], url_path="review", url_name="review")
    def review(self, request: Request, uuid: str | None = None) -> Response:
        flag = self.get_object()
        body = FlagReviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            flag = flags_sync.flag_review(flag=flag, reviewed_by=request.user, reason=body.validated_data["reason"])
        except ValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
        return Response(FlagSerializer(flag, context=self.get_serializer_context()).data)
