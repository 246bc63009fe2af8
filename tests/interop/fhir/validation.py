"""Every served resource checked with two independent FHIR model libraries.

- ``fhir.resources`` (pydantic; its R4B classes are R4's for these types), the app's own parser.
- SMART's ``fhirclient`` R4 (4.0.1) models, strict: what an off-the-shelf Python client reads.
"""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from fhirclient.models.fhirelementfactory import FHIRElementFactory


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource, after both libraries parsed it (raises their validation error if it is not valid FHIR).

    A Bundle's entries are parsed one by one too, each with its own resource class.
    """
    model = get_fhir_model_class(resource["resourceType"])
    model.model_validate(resource)
    valid_r4(resource)
    for entry in resource.get("entry", []) if resource["resourceType"] == "Bundle" else []:
        valid(entry["resource"])
    return resource


def valid_r4(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource after fhirclient's strict R4 models read it (FHIRValidationError otherwise)."""
    element = FHIRElementFactory.instantiate(resource["resourceType"], resource)
    assert element.resource_type == resource["resourceType"], element  # an unknown type falls back to a plain one
    assert element.as_json() is not None
    return resource
