"""Records kept for interoperability: the identifiers other systems gave a patient.

A hospital that posts a Patient over FHIR sends its own identifiers beside the clinic's record
number (an enterprise id, a national number). They are kept as sent, system and value, so that
the hospital finds the patient again by them (``identifier=system|value``) and gets them back
in Patient.identifier. The record number itself stays on the patient (``medical_record_number``).
"""

from __future__ import annotations

from auditlog.registry import auditlog
from django.core.exceptions import ValidationError
from django.db import models

from clinic.audit import ClinicAuditMixin
from clinic.models import Clinic, TimeStampedModel
from lesions.models import Patient
from lesions.validators import refuse_control_characters


class PatientIdentifier(ClinicAuditMixin, TimeStampedModel):
    """One identifier of a patient in another system: unique per clinic for its system and value."""

    # The clinic is the patient's, repeated here so that the database can keep an identifier
    # unique per clinic (a constraint cannot follow the patient's foreign key).
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="+")
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="fhir_identifiers")
    system = models.CharField(max_length=255, validators=[refuse_control_characters])
    value = models.CharField(max_length=255, validators=[refuse_control_characters])

    CLINIC_PATH = "clinic"
    TAKEN = "Another patient of this clinic has the identifier {system}|{value}."

    class Meta:
        ordering = ["patient", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["clinic", "system", "value"], name="patient_identifier_unique_per_clinic"),
        ]
        indexes = [models.Index(fields=["system", "value"])]

    def __str__(self) -> str:
        return f"{self.system}|{self.value}"

    def clean(self) -> None:
        super().clean()
        if self.patient_id and self.clinic_id and self.patient.clinic_id != self.clinic_id:
            raise ValidationError("The identifier's clinic must be its patient's.")


auditlog.register(PatientIdentifier, exclude_fields=["updated_at"])
