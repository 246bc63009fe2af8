from django.contrib import admin

from clinic.admin import AuditedAdmin
from followup.models import LesionFlag, PhotoAlignment


@admin.register(LesionFlag)
class LesionFlagAdmin(AuditedAdmin[LesionFlag]):
    list_display = ["title", "lesion", "code", "status", "raised_at", "reviewed_by"]
    list_filter = ["code", "status"]
    search_fields = ["title", "lesion__label", "lesion__patient__last_name"]
    readonly_fields = ["uuid", "lesion", "photo", "raised_at", "reviewed_by", "reviewed_at", "created_at", "updated_at"]


@admin.register(PhotoAlignment)
class PhotoAlignmentAdmin(AuditedAdmin[PhotoAlignment]):
    list_display = ["photo", "reference", "status", "quality", "scale", "rotation_deg"]
    list_filter = ["status"]
    readonly_fields = [f.name for f in PhotoAlignment._meta.fields]
