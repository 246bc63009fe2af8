"""PatientIdentifier: another system's identifier of a patient, unique per clinic for its system and value."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from clinic.models import Clinic
from interop.models import PatientIdentifier
from tests.factories import PatientFactory

SYSTEM = "urn:oid:1.2.36.146.595.217.0.1"


def test_an_identifier_is_unique_per_clinic_for_its_system_and_value(clinic: Clinic, other_clinic: Clinic) -> None:
    first, second = PatientFactory(clinic=clinic), PatientFactory(clinic=clinic)
    PatientIdentifier.objects.create(clinic=clinic, patient=first, system=SYSTEM, value="1")

    with pytest.raises(IntegrityError), transaction.atomic():
        PatientIdentifier.objects.create(clinic=clinic, patient=second, system=SYSTEM, value="1")
    PatientIdentifier.objects.create(clinic=clinic, patient=second, system="urn:other", value="1")
    PatientIdentifier.objects.create(
        clinic=other_clinic, patient=PatientFactory(clinic=other_clinic), system=SYSTEM, value="1"
    )

    assert PatientIdentifier.objects.filter(system=SYSTEM, value="1").count() == 2


def test_an_identifier_belongs_to_its_patients_clinic(clinic: Clinic, other_clinic: Clinic) -> None:
    identifier = PatientIdentifier(clinic=other_clinic, patient=PatientFactory(clinic=clinic), system=SYSTEM, value="1")

    with pytest.raises(ValidationError, match="patient's"):
        identifier.full_clean()


def test_an_identifier_goes_with_its_patient(clinic: Clinic) -> None:
    patient = PatientFactory(clinic=clinic)
    PatientIdentifier.objects.create(clinic=clinic, patient=patient, system=SYSTEM, value="1")

    patient.delete()

    assert not PatientIdentifier.objects.exists()
