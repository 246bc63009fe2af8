"""Writes that come in through the FHIR API: a posted Patient becomes a patient through the one write path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import QueryDict

from clinic.selectors import clinics_for_user, scoped
from interop.fhir import inbound, search
from interop.models import PatientIdentifier
from lesions import services
from lesions.models import Patient


class MultipleMatches(ValueError):
    """A conditional create whose condition matches more than one patient (412)."""


@dataclass(frozen=True)
class PatientCreated:
    patient: Patient
    created: bool  # False: If-None-Exist matched this patient, nothing was written
    not_stored: list[str] = field(default_factory=list)  # paths of what the record does not keep


def _existing(user: Any, condition: str, clinics: list[Any]) -> Patient | None:
    """The one patient ``If-None-Exist`` names, None for none; MultipleMatches for more.

    The condition is a search, run strictly: an unknown parameter in it is a 400, never ignored
    (ignoring it would match every patient of the clinic).
    """
    params = QueryDict(condition.lstrip("?"))
    if not params:
        raise search.SearchError("If-None-Exist needs a search, such as identifier=[system]|[value].")
    search.check(params, search.PATIENT_PARAMETERS, strict=True)
    extra = set(params) & search.RESULT_PARAMETERS
    if extra:
        raise search.SearchError(f"If-None-Exist takes search parameters only, not {', '.join(sorted(extra))}.")
    matches = list(search.patient_search(scoped(Patient, user), params, clinics).select_related("clinic")[:2])
    if len(matches) > 1:
        raise MultipleMatches(f"If-None-Exist {condition!r} matches more than one patient: none was created.")
    return matches[0] if matches else None


def _identifiers_save(patient: Patient, identifiers: list[tuple[str, str]]) -> None:
    for system, value in identifiers:
        identifier = PatientIdentifier(clinic=patient.clinic, patient=patient, system=system, value=value)
        try:
            identifier.full_clean(validate_unique=False, validate_constraints=False)
        except ValidationError as exc:
            raise ValidationError(
                {f"identifier {system}|{value}"[:300]: [m for ms in exc.message_dict.values() for m in ms]}
            ) from exc
        if PatientIdentifier.objects.filter(clinic=patient.clinic, system=system, value=value).exists():
            raise ValidationError({"identifier": [PatientIdentifier.TAKEN.format(system=system, value=value)]})
        try:
            with transaction.atomic():
                identifier.save()
        except IntegrityError as exc:  # a concurrent create took it after the check
            raise ValidationError({"identifier": [PatientIdentifier.TAKEN.format(system=system, value=value)]}) from exc


def patient_create_from_fhir(*, user: Any, data: Any, if_none_exist: str | None = None) -> PatientCreated:
    """A new patient from a posted FHIR Patient, with the identifiers of other systems it carries.

    With ``if_none_exist`` (R4's conditional create) the patient it matches is answered instead
    and nothing is written. Raises ``inbound.ResourceInvalid`` (not a well-formed Patient),
    ``inbound.ResourceRefused`` (does not map onto a patient of the caller's clinics),
    ``search.SearchError`` (a condition that cannot be searched), ``MultipleMatches`` or Django's
    ``ValidationError`` (the record's own rules, as for the form and the API:
    ``lesions.services.patient_create``; an identifier another patient has). All or nothing.
    """
    resource = inbound.parse_patient(data)
    clinics = list(clinics_for_user(user))
    if if_none_exist is not None:
        existing = _existing(user, if_none_exist, clinics)
        if existing is not None:
            return PatientCreated(patient=existing, created=False)
    inbound.refuse_modifier_extensions(data)
    fields = inbound.patient_fields(resource, clinics)
    identifiers = inbound.other_identifiers(resource, clinics)
    with transaction.atomic():
        patient = services.patient_create(**fields)
        _identifiers_save(patient, identifiers)
    return PatientCreated(patient=patient, created=True, not_stored=inbound.not_stored(data, resource, clinics))
