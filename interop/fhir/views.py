"""The FHIR R4 REST endpoints under ``/fhir/`` (application/fhir+json).

DRF views on the API's own footing: the authentication classes of ``REST_FRAMEWORK`` settings,
its throttles, the scoped viewset base (token callers named in the audit trail). Every read goes
through ``clinic.selectors`` (404 for other clinics' records); every error is an
OperationOutcome; every response is ``Cache-Control: no-store``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model
from django.http import Http404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.mediatypes import media_type_matches

from assessment.models import DermoscopyChecklist
from clinic.api import ScopedViewSet
from clinic.audit import audit_access_many
from clinic.parsers import DepthLimitedJSONParser
from clinic.selectors import clinics_for_user, get_for_user_or_404, scoped
from interop import selectors, services
from interop.fhir import assessment as fhir_assessment
from interop.fhir import capability, codes, inbound, resources, search
from interop.fhir.errors import fhir_exception_handler, outcome
from lesions.models import Lesion, LesionImage, Patient, Visit
from ml.models import Prediction

# --- the FHIR wire format --------------------------------------------------------------------


class FhirJSONRenderer(JSONRenderer):
    media_type = codes.FHIR_JSON
    charset = "utf-8"


class FhirJSONParser(DepthLimitedJSONParser):
    media_type = codes.FHIR_JSON


class FhirContentNegotiation(BaseContentNegotiation):
    """Always FHIR JSON out (the one format served); FHIR or plain JSON in."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        for parser in parsers:
            if media_type_matches(parser.media_type, request.content_type):
                return parser
        return None

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        first = cast("Sequence[BaseRenderer]", renderers)[0]  # DRF passes the view's list of renderers
        return first, first.media_type


# --- the endpoints ---------------------------------------------------------------------------


@extend_schema(exclude=True)  # FHIR is described by its CapabilityStatement, not the REST API's OpenAPI
class FhirViewSet(ScopedViewSet[Model]):  # each endpoint reads its rows through clinic.selectors
    renderer_classes = [FhirJSONRenderer]
    parser_classes = [FhirJSONParser, DepthLimitedJSONParser]
    content_negotiation_class = FhirContentNegotiation
    pagination_class = None
    metadata_class = None  # OPTIONS: 405 like any method not served (DRF's metadata is no FHIR)

    def get_exception_handler(self) -> Any:
        return fhir_exception_handler

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"  # health data: never kept by a browser or proxy
        return response

    @property
    def base(self) -> str:
        """The service base URL, ending in a slash."""
        return self.request.build_absolute_uri(reverse("fhir-metadata")).removesuffix("metadata")

    def absolute(self, path: str) -> str:
        return self.request.build_absolute_uri(path)

    def resource(self, item: selectors.Item) -> dict[str, Any]:
        row = item.row
        if item.resource_type == "Patient":
            return resources.patient_resource(row)
        if item.resource_type == "BodyStructure":
            return resources.body_structure_resource(row)
        if item.resource_type == "Media":
            return resources.media_resource(row, self.absolute)
        if item.resource_type == "Observation":
            if isinstance(row, DermoscopyChecklist):
                return fhir_assessment.checklist_observation_resource(row)
            return resources.observation_resource(row)
        if item.resource_type == "ClinicalImpression":
            return fhir_assessment.clinical_impression_resource(row, list(item.images), list(row.visit.addenda.all()))
        if item.resource_type == "Device":
            return resources.device_resource(row)
        return resources.diagnostic_report_resource(row, item.images, self.absolute)

    def page_links(self, total: int, page: search.Page) -> dict[str, str]:
        def url(number: int) -> str:
            params = self.request.query_params.copy()
            params["page"] = str(number)
            params["_count"] = str(page.count)
            return f"{self.absolute(self.request.path)}?{params.urlencode()}"

        last = max(1, -(-total // page.count))
        links = {"self": url(page.number), "first": url(1)}
        if page.number > 1:
            links["previous"] = url(min(page.number - 1, last))
        if page.offset + page.count < total:
            links["next"] = url(page.number + 1)
        links["last"] = url(last)
        return links

    def searchset(self, items: list[selectors.Item], total: int, page: search.Page) -> Response:
        return Response(
            resources.bundle(
                [self.resource(item) for item in items], base=self.base, total=total, links=self.page_links(total, page)
            )
        )


class MetadataViewSet(FhirViewSet):
    permission_classes = [AllowAny]

    def capabilities(self, request: Request) -> Response:
        return Response(capability.capability_statement(self.base))


class CodeSystemViewSet(FhirViewSet):
    permission_classes = [AllowAny]

    def read(self, request: Request, id: str) -> Response:
        system = codes.CODE_SYSTEMS.get(id)
        if system is None:
            raise Http404(f"No CodeSystem {id}")
        return Response(resources.code_system_resource(system))


class PatientViewSet(FhirViewSet):
    def read(self, request: Request, id: str) -> Response:
        patient = get_for_user_or_404(Patient, request.user, id, Patient.objects.select_related("clinic"))
        return Response(resources.patient_resource(patient))

    def search(self, request: Request) -> Response:
        page = search.page_of(request.query_params)
        clinics = list(clinics_for_user(request.user))
        patients = search.patient_search(
            scoped(Patient, request.user).select_related("clinic"), request.query_params, clinics
        ).order_by("last_name", "first_name", "pk")
        total = patients.count()
        rows = list(patients[page.offset : page.offset + page.count])
        audit_access_many(rows)  # the bundle shows these patients' names and record numbers
        return self.searchset([selectors.Item("Patient", row) for row in rows], total, page)

    def create(self, request: Request) -> Response:
        try:
            patient = services.patient_create_from_fhir(user=request.user, data=request.data)
        except inbound.ResourceInvalid as exc:
            return outcome(status.HTTP_400_BAD_REQUEST, exc.messages, "structure")
        except inbound.ResourceRefused as exc:
            return outcome(status.HTTP_422_UNPROCESSABLE_ENTITY, exc.messages, "business-rule")
        except DjangoValidationError as exc:
            messages = (
                [f"{field}: {message}" for field, errors in exc.message_dict.items() for message in errors]
                if hasattr(exc, "error_dict")
                else exc.messages
            )
            return outcome(status.HTTP_422_UNPROCESSABLE_ENTITY, messages, "business-rule")
        location = self.absolute(reverse("fhir-patient", kwargs={"id": patient.uuid}))
        return Response(
            resources.patient_resource(patient), status=status.HTTP_201_CREATED, headers={"Location": location}
        )

    def everything(self, request: Request, id: str) -> Response:
        search.refuse_unknown(request.query_params, ())
        page = search.page_of(request.query_params)
        patient = get_for_user_or_404(Patient, request.user, id, Patient.objects.select_related("clinic"))
        items = selectors.patient_everything(request.user, patient)
        shown = items[page.offset : page.offset + page.count]
        audit_access_many(item.row for item in shown if item.resource_type not in {"Patient", "Device"})
        return self.searchset(shown, len(items), page)


class BodyStructureViewSet(FhirViewSet):
    def read(self, request: Request, id: str) -> Response:
        lesion = get_for_user_or_404(Lesion, request.user, id, selectors.lesions(request.user))
        return Response(resources.body_structure_resource(lesion))


class MediaViewSet(FhirViewSet):
    def read(self, request: Request, id: str) -> Response:
        image = get_for_user_or_404(LesionImage, request.user, id, selectors.images(request.user))
        return Response(resources.media_resource(image, self.absolute))


class ObservationViewSet(FhirViewSet):
    def read(self, request: Request, id: str) -> Response:
        try:
            prediction = get_for_user_or_404(Prediction, request.user, id, selectors.predictions(request.user))
        except Http404:  # else an Observation of a photo's dermoscopy checklists, or 404
            checklist = get_for_user_or_404(DermoscopyChecklist, request.user, id, selectors.checklists(request.user))
            return Response(fhir_assessment.checklist_observation_resource(checklist))
        return Response(resources.observation_resource(prediction))


class DiagnosticReportViewSet(FhirViewSet):
    def read(self, request: Request, id: str) -> Response:
        visit = get_for_user_or_404(Visit, request.user, id, selectors.visits(request.user))
        images = selectors.images(request.user).filter(visit=visit).order_by("lesion__label", "created_at")
        return Response(resources.diagnostic_report_resource(visit, images, self.absolute))


class DeviceViewSet(FhirViewSet):
    def read(self, request: Request, id: str) -> Response:
        # Models are no patient data: any signed-in clinician may read them.
        version = selectors.model_version_by_device_id(id)
        if version is None:
            raise Http404(f"No Device {id}")
        return Response(resources.device_resource(version))


class UnknownViewSet(FhirViewSet):
    """Any other path under /fhir/: an OperationOutcome, never the site's HTML 404 page."""

    permission_classes: list[type[BasePermission]] = [AllowAny]

    def unknown(self, request: Request, path: str = "") -> Response:
        return outcome(status.HTTP_404_NOT_FOUND, [f"Not served here: /fhir/{path}"], "not-supported")
