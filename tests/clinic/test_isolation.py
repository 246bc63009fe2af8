"""The shared fixtures keep tests away from the project's media/ and ml/weights/ folders."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.files.storage import default_storage

from ml.models import ModelVersion


def test_files_go_to_a_temporary_media_root(media_root: Path) -> None:
    assert Path(settings.MEDIA_ROOT) == media_root
    assert Path(default_storage.path("x.jpg")).parent == media_root
    assert media_root != settings.BASE_DIR / "media"


def test_no_model_is_registered_and_the_weights_folder_is_empty(db: None, ml_weights_dir: Path) -> None:
    assert Path(settings.ML_WEIGHTS_DIR) == ml_weights_dir
    assert list(ml_weights_dir.iterdir()) == []
    assert not ModelVersion.objects.exists()
