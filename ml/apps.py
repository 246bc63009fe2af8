from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _register_model_versions(sender: AppConfig, **kwargs: Any) -> None:
    from ml.services import model_versions_sync

    model_versions_sync()


class MlConfig(AppConfig):
    name = "ml"
    verbose_name = "Models and predictions"

    def ready(self) -> None:
        # Manifests shipped in ML_WEIGHTS_DIR become ModelVersion rows on every migrate.
        post_migrate.connect(_register_model_versions, sender=self, dispatch_uid="ml_register_models")
