"""Every served resource checked with the FHIR model library (fhir.resources, R4B classes = R4's for these types)."""

from __future__ import annotations

from typing import Any

from fhir.resources.R4B import get_fhir_model_class


def valid(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource, after ``fhir.resources`` parsed it (raises its ValidationError if it is not valid FHIR).

    A Bundle's entries are parsed one by one too, each with its own resource class.
    """
    model = get_fhir_model_class(resource["resourceType"])
    model.model_validate(resource)
    for entry in resource.get("entry", []) if resource["resourceType"] == "Bundle" else []:
        valid(entry["resource"])
    return resource
