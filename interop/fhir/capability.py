"""The CapabilityStatement at ``/fhir/metadata``: what this server supports, and nothing more."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from interop.fhir import codes
from interop.fhir.resources import instant

READ = [{"code": "read"}]
PATIENT_SEARCH = [
    ("identifier", "token", "A medical record number: [system]|[value] (system: the clinic's, see Patient.identifier)"),
    ("family", "string", "Family name, starts with (case-insensitive); :exact and :contains modifiers"),
    ("birthdate", "date", "Date of birth: [eq|ne|gt|lt|ge|le]YYYY[-MM[-DD]]"),
    ("_id", "token", "The patient's id"),
]


def _resource(resource_type: str, documentation: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": resource_type,
        "documentation": documentation,
        "interaction": extra.pop("interaction", READ),
        "versioning": "no-version",
        "readHistory": False,
        "updateCreate": False,
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
                "(Authorization: Token <token>, from POST /api/v1/auth/token/) or a session. Records of "
                "clinics the caller is not a member of answer 404.",
                "security": {
                    "cors": False,
                    "description": "Token authentication as for /api/v1/; clinic-scoped access.",
                },
                "resource": [
                    _resource(
                        "Patient",
                        "Demographics; create from a posted Patient (the app's validation rules apply).",
                        interaction=[{"code": "read"}, {"code": "search-type"}, {"code": "create"}],
                        searchParam=[
                            {"name": name, "type": kind, "documentation": text} for name, kind, text in PATIENT_SEARCH
                        ],
                        operation=[
                            {
                                "name": "everything",
                                "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                                "documentation": "A paged searchset Bundle (_count, page) of all the patient's "
                                "resources.",
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
