"""The lesion page as a history and the patient page with flags and the body map."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from followup.flags_sync import lesion_flags_sync
from lesions.models import Lesion, Patient
from ml.models import ModelVersion
from tests.factories import LesionFactory, ModelVersionFactory
from tests.helpers import MELANOMA, NAEVUS, photo_with


@pytest.fixture
def model(db: None) -> ModelVersion:
    return ModelVersionFactory(name="effnet-default", is_default=True)


def test_the_lesion_page_shows_status_diagnosis_and_flags_on_top(
    clinician_client: Client, lesion: Lesion, model: ModelVersion
) -> None:
    lesion.diagnosis, lesion.diagnosis_confirmation, lesion.diagnosis_date = "mel", "histo", dt.date(2024, 7, 1)
    lesion.status = Lesion.Status.EXCISED
    lesion.save()
    photo_with(lesion, dt.date(2024, 1, 10), model, NAEVUS)
    photo_with(lesion, dt.date(2024, 6, 1), model, MELANOMA)

    response = clinician_client.get(reverse("lesion-detail", args=[lesion.uuid]))

    html = response.content.decode()
    followup = response.context["followup"]
    assert followup.flags == []  # an excised lesion raises no flag
    assert {note.kind for note in followup.notes} == {"top_class_changed", "malignant_rose"}
    top, history = html.split('class="section-title"')
    assert "Excised" in top
    assert "Melanoma</strong>" in top and "Histopathology, 2024-07-01" in top
    assert "Top class changed" in top  # a note, not a flag
    assert "Malignant +58 pts" not in top
    assert reverse("lesion-compare", args=[lesion.uuid]) in top
    assert history.index("2024-06-01") < history.index("2024-01-10")  # newest first


def test_each_visit_of_the_history_shows_the_analysis(
    clinician_client: Client, lesion: Lesion, model: ModelVersion
) -> None:
    photo_with(lesion, dt.date(2024, 1, 10), model, NAEVUS)
    photo_with(lesion, dt.date(2024, 6, 1), model, MELANOMA)

    html = clinician_client.get(reverse("lesion-detail", args=[lesion.uuid])).content.decode()
    history = html.split('class="section-title"')[1]

    assert history.count('class="bars"') == 2
    assert history.count('<li class="bar') == 14
    assert "Melanoma <strong>62%</strong>" in history
    assert "Melanocytic naevus <strong>83%</strong>" in history
    assert history.count("prediction-heatmap") == 0  # url names never leak; the urls do:
    assert history.count("/heatmap.png") == 2


def test_the_lesion_page_without_analyses_says_so(clinician_client: Client, lesion_image: Any) -> None:
    response = clinician_client.get(reverse("lesion-detail", args=[lesion_image.lesion.uuid]))

    html = response.content.decode()
    assert "There are no analyses of this lesion yet" in html
    assert "No model is installed" in html
    assert 'id="trend-data"' not in html
    assert "chart.js" not in html


def test_the_patient_page_lists_flagged_then_highest_risk_lesions(
    clinician_client: Client, patient: Patient, model: ModelVersion
) -> None:
    calm = LesionFactory(patient=patient, label="A calm")
    risky = LesionFactory(patient=patient, label="B risky")
    changed = LesionFactory(patient=patient, label="C changed")
    for lesion, first, latest in [(calm, NAEVUS, NAEVUS), (risky, MELANOMA, MELANOMA), (changed, NAEVUS, MELANOMA)]:
        photo_with(lesion, dt.date(2024, 1, 10), model, first)
        photo_with(lesion, dt.date(2024, 6, 1), model, latest)
    new = LesionFactory(patient=patient, label="D new", body_site=Lesion.BodySite.POSTERIOR_TORSO)
    photo_with(new, dt.date(2024, 6, 1), model, None)

    response = clinician_client.get(reverse("patient-detail", args=[patient.uuid]))

    assert [lesion.label for lesion in response.context["lesions"]] == ["C changed", "D new", "B risky", "A calm"]
    html = response.content.decode()
    assert html.count('class="lesion-row flagged"') == 2
    assert "New lesion" in html
    assert "malignant <strong>67%</strong>" in html


def test_the_body_map_has_a_labelled_link_per_lesion(
    clinician_client: Client, patient: Patient, model: ModelVersion
) -> None:
    back = LesionFactory(patient=patient, label="Back mole", body_site=Lesion.BodySite.POSTERIOR_TORSO)
    palm = LesionFactory(patient=patient, label="Palm spot", body_site=Lesion.BodySite.PALMS_SOLES)
    photo_with(back, dt.date(2024, 1, 10), model, NAEVUS)
    photo_with(back, dt.date(2024, 6, 1), model, MELANOMA)
    photo_with(palm, dt.date(2024, 1, 10), model, NAEVUS)
    photo_with(palm, dt.date(2024, 6, 1), model, NAEVUS)

    response = clinician_client.get(reverse("patient-detail", args=[patient.uuid]))

    html = response.content.decode()
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert svg.count('class="marker') == 2
    assert f'href="{back.get_absolute_url()}" class="marker flagged"' in svg
    assert f'href="{palm.get_absolute_url()}" class="marker"' in svg
    assert (
        'aria-label="Lesion 1: Back mole, Posterior torso (back), flagged: Malignant +58 pts; Top class changed' in svg
    )
    assert 'aria-label="Lesion 2: Palm spot, Palms / soles (front)"' in svg
    markers = {m.followup.lesion.label: m for m in response.context["markers"]}
    assert markers["Back mole"].view == "posterior"


def test_flags_use_the_configured_threshold(
    clinician_client: Client, lesion: Lesion, model: ModelVersion, settings: Any
) -> None:
    settings.FOLLOWUP_MALIGNANT_RISE_THRESHOLD = 0.10
    photo_with(lesion, dt.date(2024, 1, 10), model, NAEVUS)  # malignant 9%
    photo_with(lesion, dt.date(2024, 6, 1), model, {**NAEVUS, "mel": 0.13, "nv": 0.76})  # malignant 16%
    assert clinician_client.get(reverse("lesion-detail", args=[lesion.uuid])).context["followup"].flags == []

    settings.FOLLOWUP_MALIGNANT_RISE_THRESHOLD = 0.05
    lesion_flags_sync(lesion=lesion)  # the worker decides with the setting in force when it runs
    (flag,) = clinician_client.get(reverse("lesion-detail", args=[lesion.uuid])).context["followup"].flags
    assert flag.kind == "malignant_rise" and flag.status == "open"


def test_a_trend_chart_gets_its_data_as_json(clinician_client: Client, lesion: Lesion, model: ModelVersion) -> None:
    photo_with(lesion, dt.date(2024, 1, 10), model, NAEVUS)
    photo_with(lesion, dt.date(2024, 3, 1), model, None)
    photo_with(lesion, dt.date(2024, 6, 1), model, MELANOMA)

    html = clinician_client.get(reverse("lesion-detail", args=[lesion.uuid])).content.decode()

    start = html.index('<script id="trend-data" type="application/json">') + len(
        '<script id="trend-data" type="application/json">'
    )
    data = json.loads(html[start : html.index("</script>", start)])
    assert data["labels"] == ["2024-01-10", "2024-03-01", "2024-06-01"]
    series = {s["code"]: s["values"] for s in data["series"]}
    assert series["mel"] == [6.0, None, 62.0]
    assert series["malignant"] == [9.0, None, 67.0]
    assert "vendor/chart.js-4.6.1.umd.min.js" in html
    assert "not analysed" in html  # the table under the chart


@pytest.mark.parametrize(("caller", "expected"), [("clinician", 200), ("clinic_admin", 200), ("outsider", 404)])
@pytest.mark.parametrize(
    ("url_name", "record"),
    [
        ("lesion-compare", "lesion"),
        ("lesion-histopathology", "lesion"),
        ("visit-report", "visit"),
    ],
)
def test_the_follow_up_pages_are_scoped_to_the_clinic(
    request: pytest.FixtureRequest, login: Any, prediction: Any, url_name: str, record: str, caller: str, expected: int
) -> None:
    url = reverse(url_name, args=[request.getfixturevalue(record).uuid])

    assert login(request.getfixturevalue(caller)).get(url).status_code == expected


@pytest.mark.parametrize("url_name", ["lesion-compare", "lesion-histopathology", "visit-report", "clinic-agreement"])
def test_the_follow_up_pages_need_a_login(client: Client, prediction: Any, url_name: str) -> None:
    args = (
        []
        if url_name == "clinic-agreement"
        else [prediction.image.visit.uuid if url_name == "visit-report" else prediction.image.lesion.uuid]
    )

    response = client.get(reverse(url_name, args=args))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_the_patient_page_shows_no_lesion_of_another_patient(
    clinician_client: Client, patient: Patient, model: ModelVersion
) -> None:
    other = LesionFactory(patient__clinic=patient.clinic, label="Someone else's mole")
    photo_with(other, dt.date(2024, 6, 1), model, MELANOMA)

    response = clinician_client.get(reverse("patient-detail", args=[patient.uuid]))

    assert response.context["followups"] == []
    assert "Someone else" not in response.content.decode()
