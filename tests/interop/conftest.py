"""A patient seen at two visits, with analysed and outlined photos.

The callers, their API clients (``api_as``) and the fresh throttle counts come from
tests/conftest.py: ``clinician`` and ``clinic_admin`` of ``clinic``, ``outsider`` of
``other_clinic``, and anonymous.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from lesions.models import Lesion, LesionImage, Patient, Visit
from ml.models import ModelVersion, Prediction
from tests.factories import LesionFactory, ModelVersionFactory
from tests.helpers import MELANOMA, NAEVUS, PASSING_TEST_METRICS, outline_with, photo_with

EARLIER = dt.date(2024, 1, 10)
LATER = dt.date(2024, 5, 1)


@dataclass
class Records:
    patient: Patient
    model: ModelVersion
    mole: Lesion
    back: Lesion
    earlier: Visit
    later: Visit
    mole_earlier: LesionImage
    mole_later: LesionImage
    back_later: LesionImage

    def prediction(self, image: LesionImage) -> Prediction:
        return image.predictions.get(model_version=self.model)


@pytest.fixture
def records(patient: Patient, clinician: Any) -> Records:
    """Margaret Hale: a mole seen at two visits (outlined, with a pixel size, the later one flagged for
    melanoma) and a back lesion first seen at the later visit (analysed, not outlined)."""
    model = ModelVersionFactory(name="efficientnet_test", is_default=True, metrics=PASSING_TEST_METRICS)
    mole = LesionFactory(patient=patient, label="Left shoulder mole", body_site=Lesion.BodySite.UPPER_EXTREMITY)
    back = LesionFactory(
        patient=patient,
        label="Naevus below the scapula",
        body_site=Lesion.BodySite.POSTERIOR_TORSO,
        body_site_detail="left side",
    )
    mole_earlier = photo_with(mole, EARLIER, model, NAEVUS)
    mole_later = photo_with(mole, LATER, model, MELANOMA)
    back_later = photo_with(back, LATER, model, NAEVUS)
    for image in (mole_earlier, mole_later):
        image.mm_per_pixel = 0.05
        image.save()
    outline_with(mole_earlier, area_fraction=0.10)
    outline_with(mole_later, area_fraction=0.15, colours={"dark_brown": 0.6, "blue_grey": 0.4})
    Prediction.objects.filter(image=mole_later).update(melanoma_flag=True, melanoma_threshold=0.3, cam_in_lesion=0.8)
    Prediction.objects.filter(image__in=[mole_earlier, back_later]).update(melanoma_flag=False, melanoma_threshold=0.3)
    later = mole_later.visit
    later.clinician = clinician
    later.notes = "Mole darker since January."
    later.save()
    return Records(
        patient=patient,
        model=model,
        mole=mole,
        back=back,
        earlier=mole_earlier.visit,
        later=later,
        mole_earlier=mole_earlier,
        mole_later=mole_later,
        back_later=back_later,
    )
