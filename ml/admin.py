from django.contrib import admin

from clinic.admin import AuditedAdmin
from ml.models import LesionOutline, ModelVersion, Prediction


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin[ModelVersion]):
    list_display = ["name", "architecture", "is_active", "is_default", "test_accuracy"]
    list_filter = ["is_active", "architecture"]
    readonly_fields = ["weights_sha256", "metrics", "manifest_file"]


@admin.register(Prediction)
class PredictionAdmin(AuditedAdmin[Prediction]):
    list_display = ["uuid", "model_version", "status", "top_class", "confidence", "cam_in_lesion", "created_at"]
    list_filter = ["status", "model_version", "top_class"]
    readonly_fields = [f.name for f in Prediction._meta.fields]


@admin.register(LesionOutline)
class LesionOutlineAdmin(AuditedAdmin[LesionOutline]):
    list_display = ["uuid", "image", "status", "segmenter_name", "confidence", "created_at"]
    list_filter = ["status", "segmenter_name"]
    readonly_fields = [f.name for f in LesionOutline._meta.fields]
