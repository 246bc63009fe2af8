"""The Django side of the analysis tests: a clinician of their own clinic with one lesion.

The tiny models on disk (``tiny_weights_dir``) are fixtures of tests/conftest.py.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from clinic.models import Clinic, Membership
from lesions.models import Lesion, Patient


@pytest.fixture
def clinician(db):
    user = get_user_model().objects.create_user("dr.ml", password="pw-for-tests-1")
    clinic = Clinic.objects.create(name="Analysis Clinic")
    Membership.objects.create(user=user, clinic=clinic)
    return user


@pytest.fixture
def lesion(clinician):
    patient = Patient.objects.create(
        clinic=clinician.clinics.get(), medical_record_number="ML-1", first_name="Ana", last_name="Lyse"
    )
    return Lesion.objects.create(patient=patient, label="Back mole", body_site=Lesion.BodySite.POSTERIOR_TORSO)
