from __future__ import annotations

from auditlog.models import LogEntry
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from clinic.forms import AuditFilterForm
from clinic.models import Membership
from clinic.selectors import memberships_for_user

AUDIT_PAGE_SIZE = 50


@login_required
@require_GET
def audit_trail(request: HttpRequest) -> HttpResponse:
    """The audit trail of the clinics the user administers (clinic admins only)."""
    admin_of = [m.clinic for m in memberships_for_user(request.user).filter(role=Membership.Role.ADMIN)]
    if not admin_of:
        raise PermissionDenied("Only a clinic admin can read the audit trail.")
    entries = (
        LogEntry.objects.filter(additional_data__clinic_id__in=[c.id for c in admin_of])
        .select_related("actor", "content_type")
        .order_by("-timestamp", "-id")
    )
    filters = AuditFilterForm(request.GET)
    if not filters.is_valid():  # an unknown action or an overlong name: say so, list nothing
        context = {"filters": filters, "clinics": admin_of, "page": None}
        return render(request, "clinic/audit_trail.html", context, status=400)
    action, actor = filters.cleaned_data["action"], filters.cleaned_data["actor"]
    if action is not None:
        entries = entries.filter(action=action)
    if actor:
        entries = entries.filter(actor__username=actor)
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "clinic/audit_trail.html",
        {
            "page": page,
            "clinics": admin_of,
            "filters": filters,
            "action": "" if action is None else action,
            "actor": actor,
        },
    )
