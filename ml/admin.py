from django.contrib import admin

from clinic.admin import AuditedAdmin
from ml.models import ModelVersion, Prediction


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = ["name", "architecture", "is_active", "is_default", "test_accuracy"]
    list_filter = ["is_active", "architecture"]
    readonly_fields = ["weights_sha256", "metrics", "manifest_file"]


@admin.register(Prediction)
class PredictionAdmin(AuditedAdmin):
    list_display = ["uuid", "model_version", "status", "top_class", "confidence", "created_at"]
    list_filter = ["status", "model_version", "top_class"]
    readonly_fields = [f.name for f in Prediction._meta.fields]
