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


def _is_record_number(identifier: Any, by_system: dict[str, Any], clinics: list[Any]) -> bool:
    if not identifier.value:
        return False
    # one clinic only: a bare record number is its
    return identifier.system in by_system or (identifier.system is None and len(clinics) == 1)


def _record_number(resource: FhirPatient, clinics: list[Any]) -> tuple[Any, str]:
    by_system = {codes.identifier_system(clinic): clinic for clinic in clinics}
    found = []
    for identifier in resource.identifier or []:
        if _is_record_number(identifier, by_system, clinics):
            found.append((by_system.get(identifier.system or "", clinics[0]), str(identifier.value)))
    if not found:
        systems = ", ".join(sorted(by_system)) or "none: you are not a member of any clinic"
        raise ResourceRefused(
            [f"identifier: give the medical record number with the system of one of your clinics ({systems})."]
        )
    if len({clinic.pk for clinic, _ in found}) > 1 or len({value for _, value in found}) > 1:
        raise ResourceRefused(["identifier: give one medical record number, in one clinic's system."])
    return found[0]


def _names(resource: FhirPatient) -> tuple[str, str]:
    used = _used_name_index(resource)
    if used is None:
        raise ResourceRefused(["name: give the patient's name (family and given)."])
    name = (resource.name or [])[used]
    # FHIR allows a null given name (its value then only in an extension): it adds no word.
    given = [part for part in name.given or [] if part is not None]
    return " ".join(given).strip(), (name.family or "").strip()


def other_identifiers(resource: FhirPatient, clinics: list[Any]) -> list[tuple[str, str]]:
    """The identifiers of other systems (system, value), in order, each once."""
    by_system = {codes.identifier_system(clinic): clinic for clinic in clinics}
    found: list[tuple[str, str]] = []
    for identifier in resource.identifier or []:
        if _is_record_number(identifier, by_system, clinics) or not identifier.system or not identifier.value:
            continue
        if (identifier.system, identifier.value) not in found:
            found.append((identifier.system, identifier.value))
    return found


# What a posted Patient may carry that is kept: top-level elements, and those of the name used
# and of the identifiers. Everything else is named in the create's warning (``not_stored``).
STORED = {"resourceType", "identifier", "name", "gender", "birthDate"}
IGNORED = {"id", "meta"}  # the server assigns them (R4: a create's id and meta are ignored)
STORED_IN_NAME = {"use", "family", "given"}
STORED_IN_IDENTIFIER = {"system", "value"}
KEPT_IN_RECORD_NUMBER = {"system", "value", "use", "type", "assigner"}  # served from the clinic's own record


def refuse_modifier_extensions(data: dict[str, Any]) -> None:
    """R4: a server SHALL NOT ignore a modifier extension it does not understand, and none is."""

    def paths(value: Any, path: str) -> list[str]:
        if isinstance(value, dict):
            found = [f"{path}.modifierExtension"] if "modifierExtension" in value else []
            return found + [
                p for key, item in value.items() if key != "modifierExtension" for p in paths(item, f"{path}.{key}")
            ]
        if isinstance(value, list):
            return [p for index, item in enumerate(value) for p in paths(item, f"{path}[{index}]")]
        return []

    found = paths(data, "Patient")
    if found:
        raise ResourceRefused(
            [f"{path}: modifier extensions are not understood here, so the Patient is refused." for path in found]
        )


def _path(prefix: str, key: str) -> str:
    # "_birthDate" in JSON holds the extensions of the primitive birthDate
    return f"{prefix}.{key[1:]}.extension" if key.startswith("_") else f"{prefix}.{key}"


def not_stored(data: dict[str, Any], resource: FhirPatient, clinics: list[Any]) -> list[str]:
    """FHIRPath paths of what the posted Patient carries that the record does not keep."""
    paths = [_path("Patient", key) for key in data if key not in STORED | IGNORED]
    by_system = {codes.identifier_system(clinic): clinic for clinic in clinics}
    for index, identifier in enumerate(data.get("identifier") or []):
        model = (resource.identifier or [])[index]
        record_number = _is_record_number(model, by_system, clinics)
        if not record_number and (not model.system or not model.value):
            paths.append(f"Patient.identifier[{index}]")  # without a system and value it finds nothing again
            continue
        kept = KEPT_IN_RECORD_NUMBER if record_number else STORED_IN_IDENTIFIER
        paths += [_path(f"Patient.identifier[{index}]", key) for key in identifier if key not in kept]
    used = _used_name_index(resource)
    for index, name in enumerate(data.get("name") or []):
        if index != used:
            paths.append(f"Patient.name[{index}]")
        else:
            paths += [_path(f"Patient.name[{index}]", key) for key in name if key not in STORED_IN_NAME]
    return paths


def _used_name_index(resource: FhirPatient) -> int | None:
    names = resource.name or []
    for uses in (("official",), (None, "usual")):
        for index, name in enumerate(names):
            if name.use in uses:
                return index
    return None


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
