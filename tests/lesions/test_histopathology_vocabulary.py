"""The histopathology vocabulary (lesions.histopathology): its mapping, its rules through the API, old records."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.urls import reverse

from lesions import histopathology as histo
from lesions.models import Lesion, Patient
from lesions.services import lesion_update
from ml.engine.labels import HAM10000_CLASSES
from tests.factories import LesionFactory
from tests.helpers import token_client

REQUIRED = {
    "melanoma_in_situ",
    "melanoma_invasive",
    "dysplastic_naevus",
    "common_naevus",
    "seborrhoeic_keratosis",
    "solar_lentigo",
    "lichen_planus_like_keratosis",
    "actinic_keratosis",
    "bowens_disease",
    "squamous_cell_carcinoma",
    "basal_cell_carcinoma",
    "dermatofibroma",
    "vascular_lesion",
    "other",
}


def test_the_vocabulary_has_the_clinics_results_each_mapped_to_one_class_or_none() -> None:
    assert set(histo.BY_CODE) >= REQUIRED
    for term in histo.TERMS:
        assert term.model_class in (*HAM10000_CLASSES, "")
        assert term.snomed == "" or (term.snomed.isdigit() and 6 <= len(term.snomed) <= 18 and term.snomed_display)
    assert histo.diagnosis_of("melanoma_in_situ") == histo.diagnosis_of("melanoma_invasive") == "mel"
    assert histo.diagnosis_of("squamous_cell_carcinoma") == "other"  # HAM10000 has no invasive SCC
    assert histo.diagnosis_of("bowens_disease") == "akiec"
    assert {histo.diagnosis_of(code) for code in ("seborrhoeic_keratosis", "solar_lentigo")} == {"bkl"}


def test_every_old_diagnosis_keeps_its_meaning() -> None:
    for diagnosis in (*HAM10000_CLASSES, "other"):
        assert histo.diagnosis_of(histo.term_for_diagnosis(diagnosis)) == diagnosis


def test_the_snomed_codes_are_the_checked_ones() -> None:
    assert histo.BY_CODE["melanoma_invasive"].snomed == "93655004"
    assert histo.BY_CODE["basal_cell_carcinoma"].snomed == "254701007"
    assert histo.BY_CODE["squamous_cell_carcinoma"].snomed == "254651007"
    assert histo.BY_CODE["actinic_keratosis"].snomed == "201101007"


# --- the API ------------------------------------------------------------------------------------


def test_the_api_takes_a_result_and_derives_the_class(clinician: Any, lesion: Lesion) -> None:
    response = token_client(clinician).patch(
        reverse("api-lesion-detail", kwargs={"uuid": lesion.uuid}),
        {
            "histopathology": "melanoma_invasive",
            "breslow_thickness_mm": 0.6,
            "ulceration": False,
            "diagnosis_confirmation": "histo",
        },
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["histopathology"], body["diagnosis"], body["histopathology_snomed"]) == (
        "melanoma_invasive",
        "mel",
        "93655004",
    )
    assert body["breslow_thickness_mm"] == 0.6 and body["ulceration"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"histopathology": "melanoma_invasive", "diagnosis_confirmation": "histo"}, "breslow_thickness_mm"),
        (
            {"histopathology": "melanoma_in_situ", "breslow_thickness_mm": 0.4, "diagnosis_confirmation": "histo"},
            "breslow_thickness_mm",
        ),
        ({"histopathology": "solar_lentigo", "ulceration": True, "diagnosis_confirmation": "histo"}, "ulceration"),
        ({"histopathology": "other", "diagnosis_confirmation": "histo"}, "histopathology_text"),
        ({"histopathology": "squamous", "diagnosis_confirmation": "histo"}, "histopathology"),
        ({"followup_interval_months": 5}, "followup_interval_months"),
    ],
)
def test_the_api_refuses_a_result_against_its_rules(
    clinician: Any, lesion: Lesion, body: dict[str, Any], field: str
) -> None:
    response = token_client(clinician).patch(
        reverse("api-lesion-detail", kwargs={"uuid": lesion.uuid}), body, format="json"
    )

    assert response.status_code == 400
    assert field in response.json()
    lesion.refresh_from_db()
    assert (lesion.histopathology, lesion.diagnosis, lesion.followup_interval_months) == ("", "", None)


def test_a_class_given_alone_becomes_the_term_that_keeps_its_meaning(clinician: Any, patient: Patient) -> None:
    response = token_client(clinician).post(
        reverse("api-patient-lesions", args=[patient.uuid]),
        {"label": "Back", "body_site": "posterior torso", "diagnosis": "bkl", "diagnosis_confirmation": "histo"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert response.json()["histopathology"] == "benign_keratosis_unspecified"


def test_a_class_changed_alone_replaces_a_result_of_another_class(lesion: Lesion) -> None:
    lesion_update(lesion=lesion, histopathology="solar_lentigo", diagnosis_confirmation="histo")
    lesion_update(lesion=lesion, diagnosis="bkl")
    assert lesion.histopathology == "solar_lentigo"  # same class: the exact result is kept

    lesion_update(lesion=lesion, diagnosis="bcc")
    assert (lesion.histopathology, lesion.diagnosis) == ("basal_cell_carcinoma", "bcc")

    lesion_update(lesion=lesion, histopathology="", diagnosis_confirmation="")
    assert (lesion.histopathology, lesion.diagnosis) == ("", "")


def test_the_follow_up_interval_is_set_through_the_api(clinician: Any, lesion: Lesion) -> None:
    response = token_client(clinician).patch(
        reverse("api-lesion-detail", kwargs={"uuid": lesion.uuid}), {"followup_interval_months": 3}, format="json"
    )

    assert response.status_code == 200 and response.json()["followup_interval_months"] == 3


# --- old records ------------------------------------------------------------------------------------


def test_the_migration_gives_old_diagnoses_their_term(patient: Patient) -> None:
    migration = importlib.import_module("lesions.migrations.0009_lesion_histopathology_followup_interval")
    old = {
        dx: LesionFactory(patient=patient, diagnosis=dx, diagnosis_confirmation="histo")
        for dx in ("mel", "df", "other")
    }
    Lesion.objects.update(histopathology="", histopathology_text="")  # as they were before the migration

    migration.terms_from_diagnoses(django_apps, None)

    terms = {dx: Lesion.objects.get(pk=lesion.pk) for dx, lesion in old.items()}
    assert terms["mel"].histopathology == "melanoma_unspecified" and terms["mel"].diagnosis == "mel"
    assert terms["df"].histopathology == "dermatofibroma"
    assert terms["other"].histopathology == "other" and terms["other"].histopathology_text
    terms["other"].full_clean()  # an old "other" stays valid under the new rules


def test_fhir_gives_the_result_in_words_beside_its_class(clinician: Any, lesion: Lesion) -> None:
    lesion_update(
        lesion=lesion,
        histopathology="melanoma_invasive",
        breslow_thickness_mm=2.4,
        ulceration=True,
        diagnosis_confirmation="histo",
    )

    response = token_client(clinician).get(f"/fhir/BodyStructure/{lesion.uuid}")

    morphology = response.json()["morphology"]
    assert morphology["coding"][0]["code"] == "mel"
    assert morphology["text"].startswith("Invasive melanoma, Breslow 2.40 mm, ulcerated, confirmed by histopathology")
