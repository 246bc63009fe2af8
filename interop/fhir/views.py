"""The FHIR R4 REST endpoints under ``/fhir/`` (application/fhir+json).

DRF views on the API's own footing: the authentication classes of ``REST_FRAMEWORK`` settings,
its throttles, the scoped viewset base (token callers named in the audit trail). Every read goes
through ``clinic.selectors`` (404 for other clinics' records); every error is an
OperationOutcome; every response is ``Cache-Control: no-store``.

R4's HTTP rules on top: FHIR JSON only (``negotiation``: anything else asked for is a 406);
every resource versioned (``versions``: meta.versionId, ETag, Last-Modified, 304 for the
client's copy, ``_history/{versionId}`` of the current version); searches lenient unless
``Prefer: handling=strict`` (``search.check``), by GET or POST; ``_summary`` and ``_elements``
on searches and reads; a create conditional on ``If-None-Exist`` and shaped by ``Prefer: return``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Model
from django.http import Http404, HttpRequest, QueryDict
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser, FormParser
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.mediatypes import media_type_matches

from assessment.models import DermoscopyChecklist
from clinic.api import ScopedViewSet
from clinic.audit import audit_access, audit_access_many, audit_list_view
from clinic.parsers import DepthLimitedJSONParser
from clinic.selectors import clinics_for_user, get_for_user_or_404, scoped
from integrations.oauth import CLIENT_SCOPED, WITH_CLIENT_BEARER
from interop import selectors, services
from interop.fhir import assessment as fhir_assessment
from interop.fhir import capability, codes, inbound, negotiation, resources, search, versions
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
    """Always FHIR JSON out (the one format served: anything else asked for is a 406); FHIR or
    plain JSON in, and form-encoded parameters for the searches by POST."""

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        if not negotiation.body_version_served(request.content_type):
            return None  # DRF answers 415
        for parser in parsers:
            if media_type_matches(parser.media_type, request.content_type):
                return parser
        return None

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        try:
            negotiation.check_format(cast("HttpRequest", request), request.query_params)
        except negotiation.NotAcceptable as exc:
            raise exceptions.NotAcceptable(str(exc)) from exc
        first = cast("Sequence[BaseRenderer]", renderers)[0]  # DRF passes the view's list of renderers
        return first, first.media_type


FORM = "application/x-www-form-urlencoded"


def _parameters_resource(data: Any) -> QueryDict:
    """An operation's posted Parameters resource as the query parameters it stands for."""
    if not isinstance(data, dict) or data.get("resourceType") != "Parameters":
        raise search.SearchError(f"Post the operation's parameters as a Parameters resource or as {FORM}.")
    params = QueryDict(mutable=True)
    for parameter in data.get("parameter") or []:
        if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
            raise search.SearchError("Parameters.parameter: each needs a name.")
        values = [value for key, value in parameter.items() if key.startswith("value")]
        if len(values) != 1 or not isinstance(values[0], str | int) or isinstance(values[0], bool):
            raise search.SearchError(f"Parameters.parameter {parameter['name']!r}: give one simple value[x].")
        params.appendlist(parameter["name"], str(values[0]))
    return params


# --- the endpoints ---------------------------------------------------------------------------


@extend_schema(exclude=True)  # FHIR is described by its CapabilityStatement, not the REST API's OpenAPI
class FhirViewSet(ScopedViewSet[Model]):  # each endpoint reads its rows through clinic.selectors
    renderer_classes = [FhirJSONRenderer]
    parser_classes = [FhirJSONParser, DepthLimitedJSONParser, FormParser]
    content_negotiation_class = FhirContentNegotiation
    pagination_class = None
    metadata_class = None  # OPTIONS: 405 like any method not served (DRF's metadata is no FHIR)
    # Integrations' Bearer tokens (OAuth 2.0 client credentials) beside the REST API's own, first so
    # that a 401 challenges with both; a Bearer caller acts within its token's SMART scopes.
    authentication_classes = WITH_CLIENT_BEARER
    permission_classes = CLIENT_SCOPED

    def get_exception_handler(self) -> Any:
        return fhir_exception_handler

    def get_renderer_context(self) -> dict[str, Any]:
        context = super().get_renderer_context()
        if search.pretty(self.request.query_params):
            context["indent"] = 2
        return context

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        response = super().finalize_response(request, response, *args, **kwargs)
        response["Cache-Control"] = "no-store"  # health data: never kept by a browser or proxy
        return response

    @property
    def base(self) -> str:
        """The service base URL, ending in a slash."""
        return self.request.build_absolute_uri(reverse("fhir-metadata")).removesuffix("metadata")

    @property
    def params(self) -> QueryDict:
        """The search's parameters: the query's and, for a search by POST, the form's (R4: both count)."""
        if self.request.method != "POST":
            return self.request.query_params
        if self.request.content_type.split(";")[0].strip().lower() == FORM:
            posted = cast("QueryDict", self.request.data)
        else:
            posted = _parameters_resource(self.request.data)
        params = self.request.query_params.copy()
        for name, values in posted.lists():
            params.setlist(name, [*params.getlist(name), *values])
        search.refuse_too_costly(params)
        try:  # a _format in the body is asked for as much as one in the query
            negotiation.check_format(cast("HttpRequest", self.request), params)
        except negotiation.NotAcceptable as exc:
            raise exceptions.NotAcceptable(str(exc)) from exc
        return params

    def absolute(self, path: str) -> str:
        return self.request.build_absolute_uri(path)

    def stamp(self, resource: dict[str, Any]) -> dict[str, Any]:
        """The resource with its versionId (see ``versions``)."""
        return versions.stamped(resource, own_base=self.request.build_absolute_uri("/"))

    def shaped(self, resource: dict[str, Any], params: QueryDict) -> dict[str, Any]:
        """``_summary=true`` or ``_elements`` applied."""
        return resources.subset(
            resource, summary=search.summary_of(params) == "true", elements=search.elements_of(params)
        )

    def answer(self, resource: dict[str, Any]) -> Response:
        """A read: the versioned resource with its ETag and Last-Modified, or 304 for the client's copy."""
        resource = self.stamp(resource)
        headers = versions.headers(resource)
        if versions.not_modified(self.request, resource):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers=headers)
        params = self.request.query_params
        if search.summary_of(params) == "count":  # meaningless for a read: the resource itself
            return Response(resource, headers=headers)
        return Response(self.shaped(resource, params), headers=headers)

    def read(self, request: Request, id: str) -> Response:
        raise NotImplementedError

    def vread(self, request: Request, id: str, vid: str) -> Response:
        """The current version only: the server keeps no history (see ``versions``)."""
        response = self.read(request, id)
        if response.get("ETag") != f'W/"{vid}"':
            return outcome(
                status.HTTP_404_NOT_FOUND,
                [f"Version {vid} is not the current version of this resource; earlier versions are not kept."],
                "not-found",
            )
        return response

    def resource(self, item: selectors.Item) -> dict[str, Any]:
        row = item.row
        if item.resource_type == "Patient":
            resource = resources.patient_resource(row)
        elif item.resource_type == "BodyStructure":
            resource = resources.body_structure_resource(row)
        elif item.resource_type == "Media":
            resource = resources.media_resource(row, self.absolute)
        elif item.resource_type == "Observation":
            if isinstance(row, DermoscopyChecklist):
                resource = fhir_assessment.checklist_observation_resource(row)
            else:
                resource = resources.observation_resource(row)
        elif item.resource_type == "ClinicalImpression":
            resource = fhir_assessment.clinical_impression_resource(
                row, list(item.images), list(row.visit.addenda.all())
            )
        elif item.resource_type == "Device":
            resource = resources.device_resource(row)
        else:
            resource = resources.diagnostic_report_resource(row, item.images, self.absolute)
        return self.stamp(resource)

    def page_links(self, total: int, page: search.Page, params: QueryDict) -> dict[str, str]:
        def url(number: int) -> str:
            query = params.copy()
            query["page"] = str(number)
            query["_count"] = str(page.count)
            return f"{self.absolute(self.request.path.removesuffix('/').removesuffix('/_search'))}?{query.urlencode()}"

        if page.count_only:
            return {"self": url(1)}
        last = max(1, -(-total // page.count))
        links = {"self": url(page.number), "first": url(1)}
        if page.number > 1:
            links["previous"] = url(min(page.number - 1, last))
        if page.offset + page.count < total:
            links["next"] = url(page.number + 1)
        links["last"] = url(last)
        return links

    def searchset(
        self,
        shown: list[dict[str, Any]],
        total: int,
        page: search.Page,
        params: QueryDict,
        warnings: list[str],
    ) -> Response:
        """One page of a search's Bundle (``shown`` already versioned); links repeat the parameters
        as a GET (also after a search by POST: R4 lets the server say how it read them)."""
        return Response(
            resources.bundle(
                [self.shaped(resource, params) for resource in shown],
                base=self.base,
                total=total if search.total_wanted(params) or page.count_only else None,
                links=self.page_links(total, page, params),
                warnings=warnings,
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
        return self.answer(resources.code_system_resource(system))


# $everything's parameters (R4 OperationDefinition Patient-everything), besides the result ones.
EVERYTHING_PARAMETERS = {"_type", "_since", "start", "end"}
EVERYTHING_TYPES = ("Patient", "BodyStructure", "Device", "Media", "Observation", "DiagnosticReport")


def _care_date(item: selectors.Item) -> dt.date | None:
    """The date of care a resource of $everything relates to (start/end); None for those without one."""
    if item.resource_type == "Media":
        return item.row.visit.date  # type: ignore[no-any-return]
    if item.resource_type == "Observation":
        return item.row.image.visit.date  # type: ignore[no-any-return]
    if item.resource_type == "DiagnosticReport":
        return item.row.date  # type: ignore[no-any-return]
    return None


class PatientViewSet(FhirViewSet):
    def read(self, request: Request, id: str) -> Response:
        patient = get_for_user_or_404(
            Patient, request.user, id, Patient.objects.select_related("clinic").prefetch_related("fhir_identifiers")
        )
        return self.answer(resources.patient_resource(patient))

    def search(self, request: Request) -> Response:
        params = self.params
        warnings = search.check(
            params, search.PATIENT_PARAMETERS, strict=negotiation.strict(request), sort_keys=search.PATIENT_SORT
        )
        page = search.page_of(params)
        clinics = list(clinics_for_user(request.user))
        patients = (
            search.patient_search(scoped(Patient, request.user), params, clinics)
            .select_related("clinic")
            .prefetch_related("fhir_identifiers")
            .order_by(*search.sort_order(params, search.PATIENT_SORT, search.PATIENT_DEFAULT_ORDER))
        )
        total = patients.count()
        rows = list(patients[page.offset : page.offset + page.count]) if not page.count_only else []
        audit_list_view(rows, page="FHIR Patient search")  # one entry: the bundle shows these patients
        shown = [self.resource(selectors.Item("Patient", row)) for row in rows]
        return self.searchset(shown, total, page, params, warnings)

    def search_post(self, request: Request) -> Response:
        """``POST Patient/_search``: the same search, its parameters form-encoded in the body."""
        if request.content_type.split(";")[0].strip().lower() != FORM:
            return outcome(
                status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                [f"POST Patient/_search takes its parameters as {FORM}."],
                "not-supported",
            )
        return self.search(request)

    def create(self, request: Request) -> Response:
        try:
            created = services.patient_create_from_fhir(
                user=request.user, data=request.data, if_none_exist=self.create_condition()
            )
        except inbound.ResourceInvalid as exc:
            return outcome(status.HTTP_400_BAD_REQUEST, exc.messages, "structure")
        except inbound.ResourceRefused as exc:
            return outcome(status.HTTP_422_UNPROCESSABLE_ENTITY, exc.messages, "business-rule")
        except services.MultipleMatches as exc:
            return outcome(status.HTTP_412_PRECONDITION_FAILED, [str(exc)], "multiple-matches")
        except DjangoValidationError as exc:
            messages = (
                [f"{field}: {message}" for field, errors in exc.message_dict.items() for message in errors]
                if hasattr(exc, "error_dict")
                else exc.messages
            )
            return outcome(status.HTTP_422_UNPROCESSABLE_ENTITY, messages, "business-rule")
        patient = (
            Patient.objects.select_related("clinic").prefetch_related("fhir_identifiers").get(pk=created.patient.pk)
        )
        if not created.created:
            audit_access(patient)  # the answer shows a patient the caller did not just write
        resource = self.stamp(resources.patient_resource(patient))
        location = self.absolute(
            reverse("fhir-patient-version", kwargs={"id": patient.uuid, "vid": resource["meta"]["versionId"]})
        )
        headers = {"Location": location, **versions.headers(resource)}
        if created.not_stored:
            # Prefer: return=OperationOutcome names each path; every other answer says so in a Warning.
            headers["Warning"] = (
                f'299 - "Not stored: {", ".join(created.not_stored)[:900]}; '
                'ask Prefer: return=OperationOutcome for the details"'
            )
        answer_status = status.HTTP_201_CREATED if created.created else status.HTTP_200_OK
        wanted = negotiation.return_preference(request)
        if wanted == "minimal":
            return Response(status=answer_status, headers=headers)
        if wanted == "OperationOutcome":
            return Response(self.create_outcome(created, location), status=answer_status, headers=headers)
        return Response(resource, status=answer_status, headers=headers)

    def create_condition(self) -> str | None:
        """A conditional create's search: If-None-Exist, or (as fhirpy's ``get_or_create`` and R5
        send it) search parameters in the query of the POST; ``_format`` and ``_pretty`` are none."""
        header = self.request.headers.get("If-None-Exist")
        if header is not None:
            return header
        query = self.request.query_params.copy()
        for name in ("_format", "_pretty"):
            query.pop(name, None)
        return query.urlencode() if query else None

    @staticmethod
    def create_outcome(created: services.PatientCreated, location: str) -> dict[str, Any]:
        done = f"Created {location}." if created.created else f"If-None-Exist matched {location}: nothing was created."
        issues: list[dict[str, Any]] = [{"severity": "information", "code": "informational", "diagnostics": done}]
        issues += [
            {
                "severity": "warning",
                "code": "informational",
                "diagnostics": f"{path} is not stored by this server: it was dropped.",
                "expression": [path],
            }
            for path in created.not_stored
        ]
        return {"resourceType": "OperationOutcome", "issue": issues}

    def everything(self, request: Request, id: str) -> Response:
        params = self.params
        strict = negotiation.strict(request)
        warnings = search.check(params, EVERYTHING_PARAMETERS, strict=strict)
        page = search.page_of(params)
        types = {name.strip() for raw in params.getlist("_type") for name in raw.split(",") if name.strip()}
        unserved = sorted(types - set(EVERYTHING_TYPES))
        if unserved:
            message = f"_type: {', '.join(unserved)} not served here, so none is returned."
            if strict:
                raise search.SearchError(message)
            warnings.append(message)
        since = search.instant_of(params, "_since")
        start, end = search.date_bound(params, "start", first=True), search.date_bound(params, "end", first=False)
        patient = get_for_user_or_404(
            Patient, request.user, id, Patient.objects.select_related("clinic").prefetch_related("fhir_identifiers")
        )
        items = selectors.patient_everything(request.user, patient)
        chosen = []
        for item in items:
            if types and item.resource_type not in types:
                continue
            care = _care_date(item)
            if care is not None and ((start and care < start) or (end and care > end)):
                continue
            resource = self.resource(item)
            updated = versions.last_modified(resource)
            if since is not None and (updated is None or updated < since):
                continue
            chosen.append((item, resource))
        shown = chosen[page.offset : page.offset + page.count]
        audit_access_many(item.row for item, _ in shown if item.resource_type not in {"Patient", "Device"})
        return self.searchset([resource for _, resource in shown], len(chosen), page, params, warnings)


class BodyStructureViewSet(FhirViewSet):
    def read(self, request: Request, id: str) -> Response:
        lesion = get_for_user_or_404(Lesion, request.user, id, selectors.lesions(request.user))
        return self.answer(resources.body_structure_resource(lesion))


class MediaViewSet(FhirViewSet):
    def read(self, request: Request, id: str) -> Response:
        image = get_for_user_or_404(LesionImage, request.user, id, selectors.images(request.user))
        return self.answer(resources.media_resource(image, self.absolute))


class ObservationViewSet(FhirViewSet):
    def read(self, request: Request, id: str) -> Response:
        try:
            prediction = get_for_user_or_404(Prediction, request.user, id, selectors.predictions(request.user))
        except Http404:  # else an Observation of a photo's dermoscopy checklists, or 404
            checklist = get_for_user_or_404(DermoscopyChecklist, request.user, id, selectors.checklists(request.user))
            return self.answer(fhir_assessment.checklist_observation_resource(checklist))
        return self.answer(resources.observation_resource(prediction))


class DiagnosticReportViewSet(FhirViewSet):
    def read(self, request: Request, id: str) -> Response:
        visit = get_for_user_or_404(Visit, request.user, id, selectors.visits(request.user))
        images = selectors.images(request.user).filter(visit=visit).order_by("lesion__label", "created_at")
        return self.answer(resources.diagnostic_report_resource(visit, images, self.absolute))


class DeviceViewSet(FhirViewSet):
    def read(self, request: Request, id: str) -> Response:
        # Models are no patient data: any signed-in clinician may read them.
        version = selectors.model_version_by_device_id(id)
        if version is None:
            raise Http404(f"No Device {id}")
        return self.answer(resources.device_resource(version))


class UnknownViewSet(FhirViewSet):
    """Any other path under /fhir/: an OperationOutcome, never the site's HTML 404 page."""

    permission_classes: list[type[BasePermission]] = [AllowAny]

    def unknown(self, request: Request, path: str = "") -> Response:
        return outcome(status.HTTP_404_NOT_FOUND, [f"Not served here: /fhir/{path}"], "not-supported")
