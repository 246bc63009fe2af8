from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate

from lesions.signals import lesion_image_stored


def _register_model_versions(sender: AppConfig, **kwargs: Any) -> None:
    from ml import services

    services.model_versions_sync()


def _queue_analysis(sender: type, image: Any, **kwargs: Any) -> None:
    from ml import services

    services.lesion_image_analyses_create(image=image)


class MlConfig(AppConfig):
    name = "ml"
    verbose_name = "Models and predictions"

    def ready(self) -> None:
        # Manifests shipped in ML_WEIGHTS_DIR become ModelVersion rows on every migrate.
        post_migrate.connect(_register_model_versions, sender=self, dispatch_uid="ml_register_models")
        # Every stored photo gets a pending prediction per active model (and an outline), queued on commit.
        lesion_image_stored.connect(_queue_analysis, dispatch_uid="ml_queue_analysis")
