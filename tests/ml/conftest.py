"""Fixtures for the Django side of the analysis: tiny random-initialised models on disk."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from clinic.models import Clinic, Membership
from lesions.models import Lesion, Patient
from tests.ml.engine.synthetic import write_tiny_model as engine_tiny_model

SAMPLE = Path(__file__).resolve().parents[2] / "lesions" / "fixtures" / "ham10000_sample" / "images"


def write_tiny_model(folder: Path, name: str, architecture: str = "tf_efficientnet_lite0", seed: int = 0) -> Path:
    """The engine tests' tiny random model, with a temperature and metrics like a shipped manifest."""
    manifest = engine_tiny_model(folder, name, architecture, seed, temperature=1.5, metrics={"test": {"accuracy": 0.5}})
    return manifest.path


@pytest.fixture(scope="session")
def tiny_models_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("weights-source")
    write_tiny_model(folder, "tiny_effnet")
    return folder


@pytest.fixture
def tiny_weights_dir(tiny_models_source: Path, tmp_path: Path, settings, db) -> Path:
    """A weights folder with one tiny EfficientNet, registered as the active default model."""
    import shutil

    from ml.services import classifiers_clear, model_versions_sync

    folder = tmp_path / "weights"
    shutil.copytree(tiny_models_source, folder)
    settings.ML_WEIGHTS_DIR = folder
    settings.ML_DEFAULT_MODEL = ""
    classifiers_clear()
    model_versions_sync(weights_dir=folder)
    yield folder
    classifiers_clear()


def sample_photo(name: str = "photo.jpg") -> SimpleUploadedFile:
    path = sorted(SAMPLE.glob("*.jpg"))[0]
    return SimpleUploadedFile(name, path.read_bytes(), content_type="image/jpeg")


def upload_visit(client, lesion: Lesion, photo: SimpleUploadedFile):
    return client.post(
        reverse("visit-create", args=[lesion.patient.uuid]),
        {
            "date": "2026-11-01",
            "notes": "",
            "photos-TOTAL_FORMS": "1",
            "photos-INITIAL_FORMS": "0",
            "photos-MIN_NUM_FORMS": "0",
            "photos-MAX_NUM_FORMS": "12",
            "photos-0-lesion": str(lesion.uuid),
            "photos-0-image_type": "dermoscopic",
            "photos-0-photo": photo,
        },
    )


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


@pytest.fixture
def run_on_commit(monkeypatch):
    """Tests run inside a transaction that never commits: run on-commit hooks (task queueing) at once."""
    from django.db import transaction

    monkeypatch.setattr(transaction, "on_commit", lambda func, using=None, robust=False: func())
