from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.shortcuts import render
from django.template import loader
from django.utils import timezone
from django.views.decorators.http import require_GET

from clinic import audit_trail as trail
from clinic.forms import AuditFilterForm
from clinic.models import Clinic, Membership
from clinic.selectors import memberships_for_user

AUDIT_PAGE_SIZE = 50


def _administered(request: HttpRequest) -> list[Clinic]:
    admin_of = [m.clinic for m in memberships_for_user(request.user).filter(role=Membership.Role.ADMIN)]
    if not admin_of:
        raise PermissionDenied("Only a clinic admin can read the audit trail.")
    return admin_of


def _filtered(request: HttpRequest, admin_of: list[Clinic]) -> tuple[AuditFilterForm, Any]:
    """The filter form and the entries it selects (None when the filters are refused: the form says why)."""
    filters = AuditFilterForm(request.GET)
    if not filters.is_valid():  # an unknown action, a bad date, an overlong name
        return filters, None
    try:
        return filters, trail.entries_for([c.id for c in admin_of], filters.cleaned_data)
    except trail.UnknownPatient as exc:
        filters.add_error("patient", str(exc))
        return filters, None


@login_required
@require_GET
def audit_trail(request: HttpRequest) -> HttpResponse:
    """The audit trail of the clinics the user administers (clinic admins only), in plain words."""
    admin_of = _administered(request)
    filters, entries = _filtered(request, admin_of)
    members = (
        get_user_model()
        .objects.filter(memberships__clinic__in=admin_of)
        .distinct()
        .order_by("username")
        .values_list("username", flat=True)
    )
    context: dict[str, Any] = {"filters": filters, "clinics": admin_of, "members": list(members), "page": None}
    if entries is None:
        return render(request, "clinic/audit_trail.html", context, status=400)
    page = Paginator(entries, AUDIT_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context.update({"page": page, "lines": trail.lines(page.object_list), "query": query.urlencode()})
    return render(request, "clinic/audit_trail.html", context)


@login_required
@require_GET
def audit_trail_csv(request: HttpRequest) -> HttpResponseBase:
    """The audit trail with the page's filters as CSV; no cell can run as a spreadsheet formula."""
    admin_of = _administered(request)
    filters, entries = _filtered(request, admin_of)
    if entries is None:
        errors = "; ".join(f"{filters.fields[f].label}: {' '.join(map(str, e))}" for f, e in filters.errors.items())
        return HttpResponse(errors, status=400, content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(
        trail.csv_rows(entries.iterator(chunk_size=500)), content_type="text/csv; charset=utf-8"
    )
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="audit-trail-{stamp}.csv"'
    return response


# --- styled error pages (config/urls.py handler403, handler404, handler500) --------------------


def error_403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/403.html", {"reason": _reason(exception)}, status=403)


def error_404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "errors/404.html", {}, status=404)


def error_500(request: HttpRequest) -> HttpResponse:
    # Rendered without context processors or a database: whatever failed may fail again.
    return HttpResponse(loader.get_template("errors/500.html").render({}), status=500)


def _reason(exception: Exception | None) -> str:
    # PermissionDenied messages here are written for the user ("Only a clinic admin can ...").
    message = str(exception) if isinstance(exception, PermissionDenied) else ""
    return message if message and len(message) < 200 else ""
