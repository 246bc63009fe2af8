"""The CapabilityStatement at ``/fhir/metadata``: what this server supports, and nothing more."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from integrations.smart import rest_security
from interop.fhir import codes
from interop.fhir.resources import instant

READ = [{"code": "read"}, {"code": "vread"}]
PATIENT_SEARCH = [
    (
        "identifier",
        "token",
        "[system]|[value]: a medical record number (system: the clinic's, see Patient.identifier) or an "
        "identifier of another system kept from a posted Patient; a value alone matches either",
    ),
    ("family", "string", "Family name, starts with (case-insensitive); :exact and :contains modifiers"),
    ("birthdate", "date", "Date of birth: [eq|ne|gt|lt|ge|le]YYYY[-MM[-DD]]"),
    ("_id", "token", "The patient's id"),
]


SEARCH_DOCUMENTATION = (
    "R4 search rules: unknown parameters are ignored and named in a warning OperationOutcome entry "
    "(search.mode outcome) unless Prefer: handling=strict (then 400). Result parameters: _count (at most "
    "100; 0 gives the total only), page, _summary (true, false, data, count), _elements, _total (none, "
    "estimate, accurate), _sort (family, given, _id; - for descending), _pretty, _format (json only). "
    "_include and _revinclude are not supported (ignored under the rule above). POST Patient/_search "
    "takes the same parameters form-encoded. Only FHIR JSON R4 is served: XML or another fhirVersion "
    "in Accept or _format is a 406, in a body's Content-Type a 415."
)
VERSIONS_DOCUMENTATION = (
    " Every resource has meta.versionId (derived from its content: it changes whenever what is read "
    "changes) and meta.lastUpdated; reads answer ETag and Last-Modified, If-None-Match and If-Modified-Since "
    "give 304; _history/{versionId} reads the current version only (no history is kept: 404 for others)."
)


def _resource(resource_type: str, documentation: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": resource_type,
        "documentation": documentation + VERSIONS_DOCUMENTATION,
        "interaction": extra.pop("interaction", READ),
        "versioning": "versioned",
        "readHistory": False,
        "updateCreate": False,
        "conditionalRead": "full-support",
        **extra,
    }


def capability_statement(base: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": instant(timezone.now()),
        "publisher": "DermaTrack",
        "kind": "instance",
        "software": {"name": "DermaTrack"},
        "implementation": {"description": "DermaTrack FHIR R4 API (decision support, not a diagnosis)", "url": base},
        "fhirVersion": codes.FHIR_VERSION,
        "format": [codes.FHIR_JSON, "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": "Every call but this statement and the CodeSystems needs the REST API's token "
                "(Authorization: Token <token>, from POST /api/v1/auth/token/), a session, or an integration's "
                "Bearer token (OAuth 2.0 client credentials, see security). Records of clinics the caller is "
                "not a member of answer 404.",
                "security": rest_security(base),
                "resource": [
                    _resource(
                        "Patient",
                        "Demographics; create from a posted Patient (the app's validation rules apply). "
                        "Create: If-None-Exist (0 matches: created, 201; 1: that patient, 200; more: 412), "
                        "Prefer: return=minimal|representation|OperationOutcome; identifiers of other systems "
                        "are kept; what is not stored (telecom, address, extensions...) is named in the "
                        "OperationOutcome of Prefer: return=OperationOutcome, with a Warning header on any "
                        "answer; modifier extensions are refused (422). Location ends in _history/{versionId}. "
                        + SEARCH_DOCUMENTATION,
                        interaction=[*READ, {"code": "search-type"}, {"code": "create"}],
                        conditionalCreate=True,
                        searchParam=[
                            {"name": name, "type": kind, "documentation": text} for name, kind, text in PATIENT_SEARCH
                        ],
                        operation=[
                            {
                                "name": "everything",
                                "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                                "documentation": "GET or POST (form-encoded, or a Parameters resource): a paged "
                                "searchset Bundle (_count, page) of all the patient's resources; _type (a list "
                                "of resource types), _since (an instant: resources updated since), start and "
                                "end (dates of care: photos, analyses and visit reports of visits in the range; "
                                "patient, lesions and devices always).",
                            }
                        ],
                    ),
                    _resource("BodyStructure", "A lesion: body site (SNOMED CT where one code fits, text always)."),
                    _resource("Media", "A lesion photo; content.url needs the caller's token."),
                    _resource(
                        "Observation",
                        "A finished analysis of a photo: class probabilities, melanoma flag; or a photo's "
                        "dermoscopy checklists (7-point score, TDS, 3-point score, item by item).",
                    ),
                    _resource(
                        "ClinicalImpression",
                        "A visit's assessment: impression, differential, plan, signature and addenda.",
                    ),
                    _resource("DiagnosticReport", "A visit: its photos and analyses; the PDF as presentedForm."),
                    _resource("Device", "A model version with its measured test figures."),
                    _resource("CodeSystem", "DermaTrack's own code systems (HAM10000 classes, analysis codes)."),
                ],
            }
        ],
    }
