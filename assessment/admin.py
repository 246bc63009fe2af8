from __future__ import annotations

from django.contrib import admin

from assessment.models import DermoscopyChecklist, VisitAddendum, VisitAssessment
from clinic.admin import AuditedAdmin


@admin.register(DermoscopyChecklist)
class DermoscopyChecklistAdmin(AuditedAdmin[DermoscopyChecklist]):
    list_display = ["image", "seven_point_score", "total_dermoscopy_score", "three_point_score", "updated_at"]
    readonly_fields = [f.name for f in DermoscopyChecklist._meta.fields]  # written through the pages and API only


@admin.register(VisitAssessment)
class VisitAssessmentAdmin(AuditedAdmin[VisitAssessment]):
    list_display = ["visit", "plan", "signed_by", "signed_at"]
    readonly_fields = [f.name for f in VisitAssessment._meta.fields]  # a signed visit is read-only everywhere


@admin.register(VisitAddendum)
class VisitAddendumAdmin(AuditedAdmin[VisitAddendum]):
    list_display = ["visit", "author", "created_at"]
    readonly_fields = [f.name for f in VisitAddendum._meta.fields]
