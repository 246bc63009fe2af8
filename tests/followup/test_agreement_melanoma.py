"""The agreement page's melanoma flag figures and the result vocabulary's mapping (followup.agreement)."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import reverse

from followup.agreement import SMALL_N_MELANOMAS, agreement_summary, wilson_interval
from lesions.models import Patient
from ml.models import Prediction
from tests.factories import LesionFactory, ModelVersionFactory
from tests.followup.rows import prediction, timeline
from tests.helpers import MELANOMA, NAEVUS, photo_with


def lesion(term: str, dx: str) -> SimpleNamespace:
    return SimpleNamespace(histopathology=term, diagnosis=dx, diagnosis_date=None, result_display=term)


def test_the_flags_sensitivity_counts_melanomas_in_situ_and_invasive() -> None:
    cases = [
        (lesion("melanoma_in_situ", "mel"), timeline(prediction("nv", melanoma_flag=False))),  # missed
        (lesion("melanoma_invasive", "mel"), timeline(prediction("mel", melanoma_flag=True))),
        (lesion("melanoma_invasive", "mel"), timeline(prediction("nv", melanoma_flag=True))),
        (lesion("melanoma_in_situ", "mel"), timeline(prediction("nv", melanoma_flag=None))),  # no threshold
        (lesion("dysplastic_naevus", "nv"), timeline(prediction("nv", melanoma_flag=True))),  # not a melanoma
    ]

    melanoma = agreement_summary(cases).melanoma

    assert (melanoma.flagged, melanoma.assessed, melanoma.without_flag) == (2, 3, 1)
    assert melanoma.percent == 66.7
    assert [case.lesion.histopathology for case in melanoma.missed] == ["melanoma_in_situ"]
    assert melanoma.small_n


def test_per_result_rows_count_each_term_as_its_class() -> None:
    cases = [
        (lesion("solar_lentigo", "bkl"), timeline(prediction("bkl"))),
        (lesion("seborrhoeic_keratosis", "bkl"), timeline(prediction("nv"))),
        (lesion("squamous_cell_carcinoma", "other"), timeline(prediction("akiec"))),
    ]

    rows = {row.code: row for row in agreement_summary(cases).per_term}

    assert (rows["solar_lentigo"].model_class, rows["solar_lentigo"].agreed) == ("bkl", 1)
    assert rows["seborrhoeic_keratosis"].agreed == 0
    assert rows["squamous_cell_carcinoma"].model_class == ""  # counts as other


def test_there_is_no_small_n_warning_with_enough_melanomas() -> None:
    cases = [(lesion("melanoma_invasive", "mel"), timeline(prediction("mel", melanoma_flag=True)))] * SMALL_N_MELANOMAS

    melanoma = agreement_summary(cases).melanoma

    assert not melanoma.small_n and melanoma.percent == 100.0
    low, high = melanoma.interval_percent or (0, 0)
    assert 80 < low < 90 and high == 100.0


@pytest.mark.parametrize(("k", "n", "low", "high"), [(9, 10, 0.596, 0.982), (0, 5, 0.0, 0.434)])
def test_the_wilson_interval(k: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(k, n)
    assert interval is not None
    assert interval[0] == pytest.approx(low, abs=0.001) and interval[1] == pytest.approx(high, abs=0.001)
    assert wilson_interval(0, 0) is None


def test_the_page_highlights_missed_melanomas_and_warns_of_few_cases(
    clinician_client: Client, patient: Patient
) -> None:
    model = ModelVersionFactory(name="effnet-default", is_default=True)
    confirmed = {"diagnosis": "mel", "diagnosis_confirmation": "histo", "diagnosis_date": dt.date(2024, 7, 1)}
    missed = LesionFactory(patient=patient, label="Missed one", histopathology="melanoma_in_situ", **confirmed)
    caught = LesionFactory(
        patient=patient,
        label="Caught one",
        histopathology="melanoma_invasive",
        breslow_thickness_mm=1.1,
        ulceration=False,
        **confirmed,
    )
    photo_with(missed, dt.date(2024, 6, 1), model, NAEVUS)
    photo_with(caught, dt.date(2024, 6, 1), model, MELANOMA)
    Prediction.objects.filter(image__lesion=missed).update(melanoma_flag=False)
    Prediction.objects.filter(image__lesion=caught).update(melanoma_flag=True)

    page = clinician_client.get(reverse("clinic-agreement")).content.decode()

    assert "Sensitivity 50.0%" in page and "1 of 2 confirmed melanomas" in page
    assert 'id="small-n-warning"' in page
    missed_table = page.split('id="missed-melanomas"', 1)[1].split("</table>", 1)[0]
    assert "Missed one" in missed_table and "Caught one" not in missed_table
    assert "Invasive melanoma, Breslow 1.10 mm, not ulcerated" in page
