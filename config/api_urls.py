"""URLs of the REST API, mounted at ``/api/v1/`` by config/urls.py: each app's viewsets on one router.

Records are ``lesions.api``, analyses ``ml.api``, photos with their analyses ``followup.api``, the
PDF visit report ``interop.api``.
Names start with ``api-`` so that they never clash with the pages' URL names.
"""

from __future__ import annotations

from csp.constants import UNSAFE_INLINE
from csp.decorators import csp_update
from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from assessment import api as assessment_api
from clinic.api import AuthTokenRevokeView, AuthTokenView
from followup.api import change as followup_change
from followup.api import photos as followup_api
from followup.api import worklists as followup_worklists
from interop import api as interop_api
from lesions.api import views
from ml import api as ml_api

router = DefaultRouter()
router.register("patients", views.PatientViewSet, basename="api-patient")
router.register("lesions", views.LesionViewSet, basename="api-lesion")
router.register("visits", views.VisitViewSet, basename="api-visit")
router.register("images", followup_api.LesionImageViewSet, basename="api-image")
router.register("predictions", ml_api.PredictionViewSet, basename="api-prediction")
router.register("flags", followup_change.FlagViewSet, basename="api-flag")

urlpatterns = [
    path("auth/token/", AuthTokenView.as_view(), name="api-token"),
    path("auth/token/revoke/", AuthTokenRevokeView.as_view(), name="api-token-revoke"),
    path(
        "patients/<str:patient_uuid>/lesions/",
        views.PatientLesionViewSet.as_view({"get": "list", "post": "create"}),
        name="api-patient-lesions",
    ),
    path(
        "patients/<str:patient_uuid>/visits/",
        views.PatientVisitViewSet.as_view({"get": "list", "post": "create"}),
        name="api-patient-visits",
    ),
    path(
        "lesions/<str:lesion_uuid>/timeline/",
        followup_api.LesionTimelineViewSet.as_view({"get": "list"}),
        name="api-lesion-timeline",
    ),
    path(
        "lesions/<str:lesion_uuid>/followup/",
        followup_change.LesionFollowUpViewSet.as_view({"get": "retrieve"}),
        name="api-lesion-followup",
    ),
    path(
        "lesions/<str:lesion_uuid>/images/",
        followup_api.LesionImageUploadViewSet.as_view({"post": "create"}),
        name="api-lesion-images",
    ),
    path(
        "visits/<str:uuid>/report/",
        interop_api.VisitReportViewSet.as_view({"get": "report"}),
        name="api-visit-report",
    ),
    path("worklists/", followup_worklists.WorklistsView.as_view(), name="api-worklists"),
    path(
        "images/<str:uuid>/checklist/",
        assessment_api.PhotoChecklistViewSet.as_view({"get": "retrieve", "put": "update"}),
        name="api-image-checklist",
    ),
    path(
        "visits/<str:uuid>/assessment/",
        assessment_api.VisitAssessmentViewSet.as_view({"get": "retrieve", "put": "update"}),
        name="api-visit-assessment",
    ),
    path(
        "visits/<str:uuid>/assessment/sign/",
        assessment_api.VisitAssessmentViewSet.as_view({"post": "sign"}),
        name="api-visit-sign",
    ),
    path(
        "visits/<str:uuid>/assessment/addenda/",
        assessment_api.VisitAssessmentViewSet.as_view({"post": "addendum"}),
        name="api-visit-addenda",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves its start-up script from a URL (no inline script under the CSP); its
    # page keeps a small <style> block, allowed on this page only.
    path(
        "docs/",
        csp_update({"style-src": [UNSAFE_INLINE]})(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    *router.urls,
]
