from __future__ import annotations

from django.apps import AppConfig


class AssessmentConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "assessment"
    verbose_name = "Dermoscopy checklists and the clinician's assessment of a visit"
