"""The PDF visit report in the REST API (``/api/v1/visits/{uuid}/report/``)."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import extend_schema
from rest_framework.request import Request

from clinic.api import FileViewSetMixin, ScopedViewSet, binary_responses, uuid_path
from clinic.selectors import get_for_user_or_404
from integrations.oauth import CLIENT_SCOPED, WITH_CLIENT_BEARER
from interop.views import VISITS, pdf_response
from lesions.models import Visit


class VisitReportViewSet(FileViewSetMixin, ScopedViewSet[Visit]):
    file_actions = frozenset({"report"})
    # The PDF is a FHIR DiagnosticReport's presentedForm: integrations that may read it fetch it with Bearer.
    authentication_classes = WITH_CLIENT_BEARER
    permission_classes = CLIENT_SCOPED
    smart_scopes = {"report": ("DiagnosticReport", "r")}

    @extend_schema(
        summary="The visit report as PDF",
        description="Clinic, patient, visit, each lesion photographed with photo, heatmap, outline, probabilities, "
        "melanoma flag, measurements and change since the previous visit, the models' test figures and the "
        "decision-support disclaimer.",
        parameters=[uuid_path("uuid", "The visit's id.")],
        responses=binary_responses("application/pdf"),
    )
    def report(self, request: Request, uuid: str) -> HttpResponse:
        visit = get_for_user_or_404(Visit, request.user, uuid, VISITS)
        return pdf_response(visit, request.user)
