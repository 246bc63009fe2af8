"""Writes that come in through the FHIR API: a posted Patient becomes a patient through the one write path."""

from __future__ import annotations

from typing import Any

from clinic.selectors import clinics_for_user
from interop.fhir import inbound
from lesions import services
from lesions.models import Patient


def patient_create_from_fhir(*, user: Any, data: Any) -> Patient:
    """A new patient from a posted FHIR Patient.

    Raises ``inbound.ResourceInvalid`` (not a well-formed Patient), ``inbound.ResourceRefused``
    (does not map onto a patient of the caller's clinics) or Django's ``ValidationError`` (the
    record's own rules, as for the form and the API: ``lesions.services.patient_create``).
    """
    resource = inbound.parse_patient(data)
    fields = inbound.patient_fields(resource, list(clinics_for_user(user)))
    return services.patient_create(**fields)
