"""The clinic's worklists in the REST API: ``GET /api/v1/worklists/``.

One object with three lists, ``flags_awaiting_review``, ``followups_due`` and
``histology_pending``; every item names its lesion (``id``, ``url``), its patient, what is due
and, as ``action_url``, the page where the work is done. The lists are the worklists page's
(``followup.worklists``), for the caller's clinics.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from clinic.audit import audit_list_view
from clinic.selectors import clinics_for_user
from followup import worklists


class WorklistPatientSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField(source="uuid")
    url = serializers.SerializerMethodField()
    medical_record_number = serializers.CharField()
    name = serializers.CharField(source="full_name")

    def get_url(self, patient: Any) -> str:
        return _absolute(self, reverse("api-patient-detail", kwargs={"uuid": patient.uuid}))


def _absolute(serializer: serializers.BaseSerializer[Any], path: str) -> str:
    request = serializer.context.get("request")
    return request.build_absolute_uri(path) if request is not None else path


class _LesionItemSerializer(serializers.Serializer[Any]):
    """What every item carries: its lesion, the lesion's patient, what is due, where to do it."""

    id = serializers.UUIDField(source="lesion.uuid", help_text="The lesion's id.")
    url = serializers.SerializerMethodField(help_text="The lesion in the API.")
    lesion_label = serializers.CharField(source="lesion.label", help_text="How the clinic refers to the lesion.")
    patient = WorklistPatientSerializer(source="lesion.patient")
    what = serializers.CharField(help_text="What is due, in words.")
    action_url = serializers.SerializerMethodField(help_text="The page where the work is done.")

    def get_url(self, item: Any) -> str:
        return _absolute(self, reverse("api-lesion-detail", kwargs={"uuid": item.lesion.uuid}))

    def get_action_url(self, item: Any) -> str:
        return _absolute(self, item.lesion.get_absolute_url())


class FlagItemSerializer(_LesionItemSerializer):
    flag = serializers.UUIDField(source="uuid", help_text="The flag's id (review: POST /api/v1/flags/{id}/review/).")
    code = serializers.CharField()
    title = serializers.CharField()
    raised_at = serializers.DateTimeField()
    what = serializers.CharField(source="title")


class FollowUpItemSerializer(_LesionItemSerializer):
    due_date = serializers.DateField(source="due")
    last_seen = serializers.DateField(help_text="The last visit with a photo of the lesion (else when recorded).")
    interval_months = serializers.IntegerField(source="lesion.followup_interval_months")
    overdue = serializers.BooleanField()
    days_overdue = serializers.IntegerField()

    def get_action_url(self, item: Any) -> str:
        path = reverse("visit-create", args=[item.lesion.patient.uuid])
        return _absolute(self, f"{path}?lesion={item.lesion.uuid}")


class HistologyItemSerializer(_LesionItemSerializer):
    status = serializers.CharField(source="lesion.status")
    last_seen = serializers.DateField()

    def get_action_url(self, item: Any) -> str:
        return _absolute(self, reverse("lesion-histopathology", args=[item.lesion.uuid]))


class WorklistsSerializer(serializers.Serializer[Any]):
    flags_awaiting_review = FlagItemSerializer(many=True)
    followups_due = FollowUpItemSerializer(many=True)
    histology_pending = HistologyItemSerializer(many=True)


class WorklistsView(APIView):
    serializer_class = WorklistsSerializer

    @extend_schema(
        summary="The worklists of your clinics: flags awaiting review, follow-ups due, histology pending",
        description="Follow-ups are listed from "
        f"{worklists.DUE_SOON_DAYS} days before they are due; at most {worklists.MAX_ITEMS} items per list.",
        responses={200: WorklistsSerializer},
    )
    def get(self, request: Request) -> Response:
        lists = worklists.clinic_worklists(clinics_for_user(request.user), today=timezone.localdate())
        audit_list_view(lists.lesions, page="Worklists API")
        return Response(WorklistsSerializer(lists, context={"request": request}).data)
