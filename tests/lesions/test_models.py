"""The rules on the records themselves (clean()), which pages, API and services all run."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from lesions.models import Lesion, LesionImage, Patient
from ml.engine.inference.context import ISIC_SITES
from ml.engine.labels import HAM10000_CLASSES
from tests.factories import PatientFactory


def test_a_confirmed_diagnosis_is_one_of_the_models_classes_or_other() -> None:
    assert Lesion.Diagnosis.values == [*HAM10000_CLASSES, "other"]


def test_body_sites_are_the_isic_sites_the_model_reads_as_patient_context() -> None:
    # The analysis encodes Lesion.body_site by these strings (ml.engine.inference.context): they must not drift apart.
    assert Lesion.BodySite.values == list(ISIC_SITES)


@pytest.mark.django_db
def test_the_date_of_confirmation_may_be_today_but_not_tomorrow(patient: Patient) -> None:
    today = timezone.localdate()
    lesion = Lesion(patient=patient, label="x", body_site="head/neck", diagnosis="mel", diagnosis_confirmation="histo")

    lesion.diagnosis_date = today
    lesion.full_clean()
    lesion.diagnosis_date = today + dt.timedelta(days=1)
    with pytest.raises(ValidationError) as refused:
        lesion.full_clean()

    assert refused.value.message_dict == {"diagnosis_date": ["The date of confirmation cannot be in the future."]}


@pytest.mark.django_db
def test_a_taken_record_number_is_one_message_on_its_field(patient: Patient) -> None:
    clash = PatientFactory.build(clinic=patient.clinic, medical_record_number=patient.medical_record_number)

    with pytest.raises(ValidationError) as refused:
        clash.full_clean()

    assert refused.value.message_dict == {"medical_record_number": [Patient.MRN_TAKEN]}


@pytest.mark.parametrize("value", [0.0, -0.02, 5.01, float("nan"), float("inf")])
def test_a_pixel_size_must_be_positive_and_plausible(value: float) -> None:
    image = LesionImage(image_type="dermoscopic", mm_per_pixel=value)
    with pytest.raises(ValidationError) as raised:
        image.clean()
    assert raised.value.message_dict == {"mm_per_pixel": [LesionImage.PIXEL_SIZE_RANGE]}


def test_a_photos_own_pixel_size_wins_over_its_types_default(settings: Any) -> None:
    settings.PIXEL_SIZE_MM_DEFAULTS = {"dermoscopic": 0.02}
    own = LesionImage(image_type="dermoscopic", mm_per_pixel=0.015)
    typed = LesionImage(image_type="dermoscopic")
    other = LesionImage(image_type="clinical_overview")

    own.clean()
    assert (own.pixel_size_mm, own.pixel_size_source) == (0.015, "measured for this photo")
    assert (typed.pixel_size_mm, typed.pixel_size_source) == (0.02, "default for dermoscopic photos")
    assert (other.pixel_size_mm, other.pixel_size_source) == (None, "")
