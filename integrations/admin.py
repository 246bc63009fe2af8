from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from integrations.models import IntegrationClient


@admin.register(IntegrationClient)
class IntegrationClientAdmin(admin.ModelAdmin[IntegrationClient]):
    """Read-only: clients are made where their secret can be shown once (the clinic admin's page, the command)."""

    list_display = ["name", "client_id", "clinic", "scope", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["clinic"]
    search_fields = ["name", "client_id"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
