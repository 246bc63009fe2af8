"""Shared fixtures: isolated media, weights and cache, the four callers, records and photos.

Callers, as in every access test: ``clinician`` and ``clinic_admin`` are members of
``clinic``; ``outsider`` is a clinician of ``other_clinic``; anonymous is the bare ``client``.
Every folder's tests use these; a folder's own conftest adds only what is its own. One thread for
torch and BLAS is set by tests/__init__.py, before anything loads them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.utils import override_settings
from rest_framework.test import APIClient

from clinic.models import Clinic, Membership
from lesions.models import Lesion, LesionImage, Patient, Visit
from tests.factories import (
    ClinicFactory,
    LesionFactory,
    LesionImageFactory,
    PatientFactory,
    PredictionFactory,
    VisitFactory,
    make_jpeg,
    member,
)
from tests.helpers import (
    SAMPLE_PHOTOS_DIR,
    dark_spot_segmenter,
    token_client,
    write_test_segmenter,
    write_tiny_model,
)

# --- isolation -----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def django_db_modify_db_settings(
    django_db_modify_db_settings: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[None]:
    # ml/apps.py registers every manifest in ML_WEIGHTS_DIR on post_migrate: the test database
    # is migrated against an empty folder, so no ModelVersion exists whatever ml/weights holds.
    with override_settings(ML_WEIGHTS_DIR=tmp_path_factory.mktemp("ml-weights-at-migrate")):
        yield


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    # A database kept with --reuse-db may still hold rows registered by an older run.
    from ml.models import ModelVersion, Prediction

    with django_db_blocker.unblock():
        Prediction.objects.all().delete()
        ModelVersion.objects.all().delete()


def _own_folder(settings: Any, tmp_path: Path, setting: str, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    setattr(settings, setting, folder)
    return folder


@pytest.fixture(autouse=True)
def media_root(settings: Any, tmp_path: Path) -> Path:
    """Every test stores its files in its own folder, never in media/."""
    return _own_folder(settings, tmp_path, "MEDIA_ROOT", "media")


@pytest.fixture(autouse=True)
def ml_weights_dir(settings: Any, tmp_path: Path) -> Path:
    """An empty weights folder: no model is registered or run unless a test puts one here."""
    return _own_folder(settings, tmp_path, "ML_WEIGHTS_DIR", "ml-weights")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


DATABASE_FIXTURES = {
    "db",
    "transactional_db",
    "live_server",
    "django_db_reset_sequences",
    "django_db_serialized_rollback",
}


@pytest.fixture(autouse=True)
def fresh_throttle_counts(request: pytest.FixtureRequest) -> Iterator[None]:
    """Throttle counters live in the shared cache (the database's, or Redis): each test starts with none.

    The database cache is a table of the test database: a test that has no database has nothing to clear
    (and may not reach it); one that has it gets it first, as its own fixtures would set it up."""
    uses_database = bool(DATABASE_FIXTURES & set(request.fixturenames)) or request.node.get_closest_marker("django_db")
    if uses_database:
        request.getfixturevalue("_django_db_helper")
    elif settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache"):
        yield
        return
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="session")
def tiny_models_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("weights-source")
    write_tiny_model(folder, "tiny_effnet")
    return folder


@pytest.fixture
def tiny_weights_dir(tiny_models_source: Path, tmp_path: Path, settings: Any, db: None) -> Iterator[Path]:
    """A weights folder with one tiny EfficientNet, registered as the active default model."""
    import shutil

    from ml.analysis import classifiers_clear
    from ml.services import model_versions_sync

    folder = tmp_path / "weights"
    shutil.copytree(tiny_models_source, folder)
    settings.ML_WEIGHTS_DIR = folder
    settings.ML_DEFAULT_MODEL = ""
    classifiers_clear()
    model_versions_sync(weights_dir=folder)
    yield folder
    classifiers_clear()


@pytest.fixture
def segmenter(request: pytest.FixtureRequest, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A segmentation model installed in the weights folder (beside ``tiny_weights_dir``'s model if the test has it).

    The app finds its manifest as it finds a shipped one; loading it gives ``DarkSpotNet``, whose
    outline is known (the dark lesion), so outline tests are about the app, not about a model.
    """
    from ml import outlines

    if "tiny_weights_dir" in request.fixturenames:
        request.getfixturevalue("tiny_weights_dir")
    settings.ML_SEGMENTATION_MODEL = ""
    outlines.segmenters_clear()
    monkeypatch.setattr(outlines, "segmenter_build", dark_spot_segmenter)
    yield write_test_segmenter(Path(settings.ML_WEIGHTS_DIR))
    outlines.segmenters_clear()


@pytest.fixture
def media_files(media_root: Path) -> Callable[[], list[Path]]:
    """Call it to list every file currently stored under MEDIA_ROOT."""

    def files() -> list[Path]:
        return sorted(path for path in media_root.rglob("*") if path.is_file())

    return files


# --- the four callers ----------------------------------------------------------------------


@pytest.fixture
def clinic(db: None) -> Clinic:
    return ClinicFactory(name="Riverside Test Clinic")


@pytest.fixture
def other_clinic(db: None) -> Clinic:
    return ClinicFactory(name="Hillview Test Clinic")


@pytest.fixture
def clinician(clinic: Clinic) -> Any:
    return member(clinic, "clinician")


@pytest.fixture
def clinic_admin(clinic: Clinic) -> Any:
    return member(clinic, "clinic-admin", Membership.Role.ADMIN)


@pytest.fixture
def outsider(other_clinic: Clinic) -> Any:
    return member(other_clinic, "outsider")


@pytest.fixture
def login(client: Client) -> Callable[[Any], Client]:
    """``login(user)`` logs ``client`` in as that user (``None`` leaves it anonymous)."""

    def log_in(user: Any) -> Client:
        if user is not None:
            client.force_login(user)
        return client

    return log_in


@pytest.fixture
def clinician_client(login: Callable[[Any], Client], clinician: Any) -> Client:
    return login(clinician)


@pytest.fixture
def api_as(request: pytest.FixtureRequest) -> Callable[[str], APIClient]:
    """``api_as("clinician")``: a token client for a caller of tests.helpers.CALLERS (anonymous: none)."""

    def make(caller: str) -> APIClient:
        return token_client(None if caller == "anonymous" else request.getfixturevalue(caller))

    return make


# --- records -------------------------------------------------------------------------------


@pytest.fixture
def patient(clinic: Clinic) -> Patient:
    return PatientFactory(clinic=clinic, first_name="Margaret", last_name="Hale", medical_record_number="RD-1001")


@pytest.fixture
def lesion(patient: Patient) -> Lesion:
    return LesionFactory(patient=patient, label="Left shoulder mole")


@pytest.fixture
def visit(patient: Patient, clinician: Any) -> Visit:
    return VisitFactory(patient=patient, clinician=clinician)


@pytest.fixture
def lesion_image(lesion: Lesion, visit: Visit, clinician: Any) -> LesionImage:
    return LesionImageFactory(lesion=lesion, visit=visit, uploaded_by=clinician)


@pytest.fixture
def prediction(lesion_image: LesionImage) -> Any:
    """A finished prediction of ``lesion_image`` with heatmap and CAM files."""
    return PredictionFactory(image=lesion_image)


# --- photos --------------------------------------------------------------------------------


@pytest.fixture
def photo_bytes() -> bytes:
    """A real 200×150 JPEG."""
    return make_jpeg(200, 150)


@pytest.fixture
def jpeg_file(photo_bytes: bytes) -> SimpleUploadedFile:
    """The same JPEG as an upload (a fresh object each test: an upload can be read once)."""
    return SimpleUploadedFile("lesion.jpg", photo_bytes, content_type="image/jpeg")


@pytest.fixture
def sample_photos_dir() -> Path:
    """lesions/fixtures/ham10000_sample/images/: committed real HAM10000 dermoscopy photos."""
    return SAMPLE_PHOTOS_DIR


@pytest.fixture
def sample_photo_path(sample_photos_dir: Path) -> Path:
    """One real dermoscopy photo from the committed HAM10000 sample."""
    return sorted(sample_photos_dir.glob("*.jpg"))[0]
