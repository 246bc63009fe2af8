from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from clinic.models import Membership
from clinic.selectors import memberships_for_user


def clinic_roles(request: HttpRequest) -> dict[str, Any]:
    """Whether the user administers a clinic (shows the audit trail link)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"is_clinic_admin": False}
    return {"is_clinic_admin": memberships_for_user(user).filter(role=Membership.Role.ADMIN).exists()}
