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
VID = r"(?P<vid>[A-Za-z0-9\-.]{1,64})"
ALL_METHODS: dict[str, str | ViewSetAction[Any]] = {
    method: "unknown" for method in ("get", "post", "put", "patch", "delete", "head", "options")
}


def read(viewset: type[views.FhirViewSet]) -> Callable[..., HttpResponseBase]:
    return viewset.as_view({"get": "read"})


def vread(viewset: type[views.FhirViewSet]) -> Callable[..., HttpResponseBase]:
    return viewset.as_view({"get": "vread"})


READS = [
    ("Patient", views.PatientViewSet),
    ("BodyStructure", views.BodyStructureViewSet),
    ("Media", views.MediaViewSet),
    ("Observation", views.ObservationViewSet),
    ("DiagnosticReport", views.DiagnosticReportViewSet),
    ("ClinicalImpression", assessment_views.ClinicalImpressionViewSet),
    ("Device", views.DeviceViewSet),
    ("CodeSystem", views.CodeSystemViewSet),
]


urlpatterns = [
    re_path(r"^metadata/?\Z", views.MetadataViewSet.as_view({"get": "capabilities"}), name="fhir-metadata"),
    re_path(r"^Patient/?\Z", views.PatientViewSet.as_view({"get": "search", "post": "create"}), name="fhir-patients"),
    re_path(
        r"^Patient/_search/?\Z", views.PatientViewSet.as_view({"post": "search_post"}), name="fhir-patients-search"
    ),
    re_path(
        rf"^Patient/{ID}/\$everything/?\Z",
        views.PatientViewSet.as_view({"get": "everything", "post": "everything"}),
        name="fhir-patient-everything",
    ),
    *(re_path(rf"^{name}/{ID}/?\Z", read(viewset), name=f"fhir-{name.lower()}") for name, viewset in READS),
    *(
        re_path(rf"^{name}/{ID}/_history/{VID}/?\Z", vread(viewset), name=f"fhir-{name.lower()}-version")
        for name, viewset in READS
    ),
    re_path(r"^(?P<path>[\s\S]*)\Z", views.UnknownViewSet.as_view(ALL_METHODS), name="fhir-unknown"),
]
