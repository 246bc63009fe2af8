"""What analyses new photos: the ensemble as default, the quality bar, and both decisions stored with the context."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from django.urls import reverse

from lesions.models import Patient, Visit
from lesions.services import lesion_image_create
from ml.analysis import patient_context, prediction_run
from ml.engine.inference.context import PatientContext
from ml.models import ModelVersion, Prediction
from ml.services import model_versions_sync
from tests.helpers import PASSING_TEST_METRICS, sample_photo, token_client, write_ensemble, write_tiny_model

pytestmark = pytest.mark.django_db


def test_the_ensemble_is_the_default_and_models_below_the_bar_stay_inactive(tiny_weights_dir: Path) -> None:
    write_tiny_model(tiny_weights_dir, "second", seed=1)
    write_tiny_model(tiny_weights_dir, "aaa_resnet", architecture="resnet18")
    write_ensemble(tiny_weights_dir, ["tiny_effnet", "second"])
    ModelVersion.objects.update(is_default=False)  # as on a fresh database
    model_versions_sync(weights_dir=tiny_weights_dir)
    versions = {v.name: v for v in ModelVersion.objects.all()}
    assert set(versions) == {"tiny_effnet", "second", "aaa_resnet", "deployed"}
    assert versions["deployed"].is_default and versions["deployed"].is_active
    assert versions["deployed"].architecture.startswith("ensemble of 2")
    # Members and the ResNet measured below the bar: registered, not run.
    assert [n for n, v in versions.items() if v.is_active] == ["deployed"]


def test_a_model_passing_the_bar_analyses_photos_beside_the_default(tiny_weights_dir: Path, lesion) -> None:
    write_tiny_model(tiny_weights_dir, "aaa_good", architecture="resnet18", metrics=PASSING_TEST_METRICS)
    model_versions_sync(weights_dir=tiny_weights_dir)
    active = set(ModelVersion.objects.filter(is_active=True).values_list("name", flat=True))
    assert active == {"tiny_effnet", "aaa_good"}
    assert ModelVersion.objects.get(name="tiny_effnet").is_default
    visit = Visit.objects.create(patient=lesion.patient)
    image = lesion_image_create(lesion=lesion, visit=visit, photo=sample_photo())
    assert sorted(p.model_version.name for p in image.predictions.all()) == ["aaa_good", "tiny_effnet"]


def test_the_context_is_the_patients_age_at_the_visit_sex_and_the_lesions_site(lesion) -> None:
    patient: Patient = lesion.patient
    patient.date_of_birth = dt.date(1960, 5, 10)
    patient.sex = Patient.Sex.MALE
    patient.save()
    lesion.body_site = "posterior torso"
    lesion.save()
    visit = Visit.objects.create(patient=patient, date=dt.date(2020, 5, 9))
    image = lesion_image_create(lesion=lesion, visit=visit, photo=sample_photo())
    assert patient_context(image) == PatientContext(age=59, sex="male", site="posterior torso")
    patient.sex = Patient.Sex.OTHER
    patient.date_of_birth = None
    patient.save()
    image.refresh_from_db()
    assert patient_context(image) == PatientContext(age=None, sex=None, site="posterior torso")


def test_an_ensemble_analysis_stores_both_decisions_and_the_context(
    tiny_weights_dir: Path, lesion, clinician, client, monkeypatch
) -> None:
    monkeypatch.setattr("ml.tasks.prediction_send", lambda prediction_id: None)
    write_tiny_model(tiny_weights_dir, "second", seed=1)
    # A threshold of 0 flags every photo: the flag's path through the app is what is tested here.
    write_ensemble(tiny_weights_dir, ["tiny_effnet", "second"], melanoma_threshold=0.0)
    model_versions_sync(weights_dir=tiny_weights_dir, default="deployed")
    patient = lesion.patient
    patient.date_of_birth = dt.date(1950, 1, 1)
    patient.save()
    visit = Visit.objects.create(patient=patient, date=dt.date(2026, 6, 1))
    image = lesion_image_create(lesion=lesion, visit=visit, photo=sample_photo())
    prediction = prediction_run(prediction_id=image.predictions.get(model_version__name="deployed").pk)
    assert prediction is not None and prediction.status == Prediction.Status.DONE
    assert prediction.melanoma_flag is True and prediction.melanoma_threshold == 0.0
    # The tiny ensemble has no fusion head, so it reads no context and stores none.
    assert prediction.context == {}
    assert prediction.heatmap

    body = token_client(clinician).get(reverse("api-prediction-detail", args=[prediction.uuid])).json()
    assert body["melanoma_flag"] is True and body["melanoma_threshold"] == 0.0
    assert body["model_version"]["name"] == "deployed"

    client.force_login(clinician)
    page = client.get(reverse("lesion-detail", args=[lesion.uuid])).content.decode()
    assert "Suspicious for melanoma" in page
    visit_page = client.get(reverse("visit-detail", args=[visit.uuid])).content.decode()
    assert "consider excision/biopsy or specialist review" in visit_page


def test_a_single_model_without_a_threshold_raises_no_flag(tiny_weights_dir: Path, lesion, monkeypatch) -> None:
    monkeypatch.setattr("ml.tasks.prediction_send", lambda prediction_id: None)
    visit = Visit.objects.create(patient=lesion.patient)
    image = lesion_image_create(lesion=lesion, visit=visit, photo=sample_photo())
    prediction = prediction_run(prediction_id=image.predictions.get().pk)
    assert prediction is not None and prediction.melanoma_flag is None and prediction.melanoma_threshold is None
    manifest = json.loads((tiny_weights_dir / "tiny_effnet.json").read_text())
    assert manifest.get("melanoma_threshold") is None
