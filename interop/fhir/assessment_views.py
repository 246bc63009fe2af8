"""FHIR reads of the clinician's records: a visit's ClinicalImpression, a photo's checklists (Observation)."""

from __future__ import annotations

from rest_framework.request import Request
from rest_framework.response import Response

from assessment.models import VisitAssessment
from clinic.selectors import get_for_user_or_404
from interop import selectors
from interop.fhir.assessment import clinical_impression_resource
from interop.fhir.views import FhirViewSet


class ClinicalImpressionViewSet(FhirViewSet):
    def read(self, request: Request, id: str) -> Response:
        assessment = get_for_user_or_404(VisitAssessment, request.user, id, selectors.assessments(request.user))
        checklists = list(selectors.checklists(request.user).filter(image__visit=assessment.visit))
        addenda = list(assessment.visit.addenda.select_related("author"))
        return self.answer(clinical_impression_resource(assessment, checklists, addenda))
