"""A posted FHIR Patient read into the fields of ``lesions.services.patient_create``.

Two steps, two kinds of refusal. The resource must first be a well-formed FHIR R4 Patient (the
``fhir.resources`` model parses it: types, cardinalities, date formats, no unknown elements);
otherwise ``ResourceInvalid`` (400). Then it must map onto a patient of one of the caller's
clinics: a record number in one of those clinics' identifier systems, a name, a full birth
date, a gender we record; otherwise ``ResourceRefused`` (422). The rules of the record itself
(lengths, the record number unique in the clinic) are the model's, applied by the service like
for the form and the API.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import pydantic
from fhir.resources.R4B.patient import Patient as FhirPatient

from interop.fhir import codes
from lesions.models import Patient

if TYPE_CHECKING:
    from pydantic_core import ErrorDetails


class ResourceInvalid(ValueError):
    """Not a well-formed FHIR Patient (400)."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


class ResourceRefused(ValueError):
    """A well-formed Patient that does not make a valid record here (422)."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


def _location(error: ErrorDetails) -> str:
    return ".".join(str(part) for part in error.get("loc", ()) if part != "__root__") or "Patient"


def parse_patient(data: Any) -> FhirPatient:
    """The posted JSON as a FHIR Patient model, or ResourceInvalid."""
    if not isinstance(data, dict):
        raise ResourceInvalid(["The body must be a JSON object: a FHIR Patient resource."])
    if data.get("resourceType") != "Patient":
        raise ResourceInvalid([f"resourceType must be 'Patient', not {data.get('resourceType')!r}."])
    try:
        return FhirPatient.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ResourceInvalid([f"{_location(e)}: {e['msg']}" for e in exc.errors(include_url=False)]) from exc
    except (TypeError, ValueError) as exc:  # the library's own checks outside pydantic's errors
        raise ResourceInvalid([str(exc)]) from exc


def _record_number(resource: FhirPatient, clinics: list[Any]) -> tuple[Any, str]:
    by_system = {codes.identifier_system(clinic): clinic for clinic in clinics}
    found = []
    for identifier in resource.identifier or []:
        if identifier.system in by_system and identifier.value:
            found.append((by_system[identifier.system], identifier.value))
        elif identifier.system is None and identifier.value and len(clinics) == 1:
            found.append((clinics[0], identifier.value))  # one clinic only: a bare record number is its
    if not found:
        systems = ", ".join(sorted(by_system)) or "none: you are not a member of any clinic"
        raise ResourceRefused(
            [f"identifier: give the medical record number with the system of one of your clinics ({systems})."]
        )
    if len({clinic.pk for clinic, _ in found}) > 1 or len({value for _, value in found}) > 1:
        raise ResourceRefused(["identifier: give one medical record number, in one clinic's system."])
    return found[0]


def _names(resource: FhirPatient) -> tuple[str, str]:
    names = resource.name or []
    official = [name for name in names if name.use == "official"] or [
        name for name in names if name.use in (None, "usual")
    ]
    if not official:
        raise ResourceRefused(["name: give the patient's name (family and given)."])
    name = official[0]
    # FHIR allows a null given name (its value then only in an extension): it adds no word.
    given = [part for part in name.given or [] if part is not None]
    return " ".join(given).strip(), (name.family or "").strip()


def patient_fields(resource: FhirPatient, clinics: list[Any]) -> dict[str, Any]:
    """The service's keyword arguments for a new patient (ResourceRefused when it cannot map)."""
    clinic, record_number = _record_number(resource, clinics)
    first_name, last_name = _names(resource)
    gender = resource.gender or Patient.Sex.UNKNOWN
    if gender not in Patient.Sex.values:
        raise ResourceRefused([f"gender: {gender!r} is not one of {', '.join(Patient.Sex.values)}."])
    birth_date = resource.birthDate
    if birth_date is not None and not isinstance(birth_date, dt.date):  # a partial date (YYYY, YYYY-MM)
        raise ResourceRefused(["birthDate: give the full date of birth (YYYY-MM-DD)."])
    return {
        "clinic": clinic,
        "medical_record_number": record_number,
        "first_name": first_name,
        "last_name": last_name,
        "date_of_birth": birth_date,
        "sex": gender,
    }
