from django.contrib import admin

from clinic.admin import AuditedAdmin
from lesions.models import CaptureProfile, Lesion, LesionImage, Patient, Visit


@admin.register(Patient)
class PatientAdmin(AuditedAdmin[Patient]):
    list_display = ["last_name", "first_name", "medical_record_number", "clinic", "date_of_birth"]
    list_filter = ["clinic", "sex", "fitzpatrick_skin_type"]
    search_fields = ["last_name", "first_name", "medical_record_number"]
    readonly_fields = ["uuid", "created_at", "updated_at"]


@admin.register(Lesion)
class LesionAdmin(AuditedAdmin[Lesion]):
    list_display = ["label", "patient", "body_site", "status", "histopathology", "followup_interval_months"]
    list_filter = ["body_site", "status", "diagnosis", "histopathology", "followup_interval_months"]
    search_fields = ["label", "patient__last_name", "patient__medical_record_number"]
    autocomplete_fields = ["patient"]
    readonly_fields = ["uuid", "created_at", "updated_at"]


@admin.register(CaptureProfile)
class CaptureProfileAdmin(admin.ModelAdmin[CaptureProfile]):
    list_display = ["name", "clinic", "image_type", "field_of_view_mm"]
    list_filter = ["clinic", "image_type"]
    readonly_fields = ["uuid", "created_at", "updated_at"]


@admin.register(Visit)
class VisitAdmin(AuditedAdmin[Visit]):
    list_display = ["date", "patient", "clinician"]
    list_filter = ["date"]
    search_fields = ["patient__last_name", "patient__medical_record_number"]
    autocomplete_fields = ["patient"]
    readonly_fields = ["uuid", "created_at", "updated_at"]


@admin.register(LesionImage)
class LesionImageAdmin(AuditedAdmin[LesionImage]):
    list_display = ["uuid", "lesion", "visit", "image_type", "width", "height", "created_at"]
    list_filter = ["image_type"]
    readonly_fields = [
        "uuid",
        "image",
        "thumbnail",
        "content_type",
        "width",
        "height",
        "file_size",
        "sha256",
        "uploaded_by",
        "created_at",
        "updated_at",
    ]
    autocomplete_fields = ["lesion", "visit"]
