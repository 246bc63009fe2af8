"""``/fhir/``: FHIR R4 interactions (ids are the records' public UUIDs; an optional trailing slash is accepted).

Patterns end in ``\\Z``, not ``$`` (which also matches before a final newline); the last one takes any
other path, newlines included, so that it too gets an OperationOutcome.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django.http import HttpResponseBase
from django.urls import re_path

from interop.fhir import assessment_views, views

if TYPE_CHECKING:
    from rest_framework.decorators import ViewSetAction

ID = r"(?P<id>[A-Za-z0-9\-.]{1,64})"
ALL_METHODS: dict[str, str | ViewSetAction[Any]] = {
    method: "unknown" for method in ("get", "post", "put", "patch", "delete", "head", "options")
}


def read(viewset: type[views.FhirViewSet]) -> Callable[..., HttpResponseBase]:
    return viewset.as_view({"get": "read"})


urlpatterns = [
    re_path(r"^metadata/?\Z", views.MetadataViewSet.as_view({"get": "capabilities"}), name="fhir-metadata"),
    re_path(r"^Patient/?\Z", views.PatientViewSet.as_view({"get": "search", "post": "create"}), name="fhir-patients"),
    re_path(rf"^Patient/{ID}/?\Z", read(views.PatientViewSet), name="fhir-patient"),
    re_path(
        rf"^Patient/{ID}/\$everything/?\Z",
        views.PatientViewSet.as_view({"get": "everything"}),
        name="fhir-patient-everything",
    ),
    re_path(rf"^BodyStructure/{ID}/?\Z", read(views.BodyStructureViewSet), name="fhir-bodystructure"),
    re_path(rf"^Media/{ID}/?\Z", read(views.MediaViewSet), name="fhir-media"),
    re_path(rf"^Observation/{ID}/?\Z", read(views.ObservationViewSet), name="fhir-observation"),
    re_path(rf"^DiagnosticReport/{ID}/?\Z", read(views.DiagnosticReportViewSet), name="fhir-diagnosticreport"),
    re_path(
        rf"^ClinicalImpression/{ID}/?\Z",
        read(assessment_views.ClinicalImpressionViewSet),
        name="fhir-clinicalimpression",
    ),
    re_path(rf"^Device/{ID}/?\Z", read(views.DeviceViewSet), name="fhir-device"),
    re_path(rf"^CodeSystem/{ID}/?\Z", read(views.CodeSystemViewSet), name="fhir-codesystem"),
    re_path(r"^(?P<path>[\s\S]*)\Z", views.UnknownViewSet.as_view(ALL_METHODS), name="fhir-unknown"),
]
