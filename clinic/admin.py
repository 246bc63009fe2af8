from django.contrib import admin

from clinic.audit import audit_access
from clinic.models import Clinic, Membership


class AuditedAdmin(admin.ModelAdmin):
    """Admin pages of patient data: opening a record puts a read on the audit trail."""

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method == "GET":
            obj = self.get_object(request, object_id)
            if obj is not None:
                audit_access(obj)
        return super().change_view(request, object_id, form_url, extra_context)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ["name", "uuid", "created_at"]
    search_fields = ["name"]
    inlines = [MembershipInline]


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "clinic", "role"]
    list_filter = ["role", "clinic"]
    search_fields = ["user__username", "clinic__name"]
    autocomplete_fields = ["user", "clinic"]
