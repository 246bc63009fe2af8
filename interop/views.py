"""The visit report as PDF, beside the printable page: same access check, same audit entry, not cached."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from clinic.selectors import get_for_user_or_404
from followup.report import visit_report
from interop.pdf import visit_report_pdf as render_pdf
from lesions.models import Visit

VISITS = Visit.objects.select_related("patient", "patient__clinic", "clinician")


def pdf_response(visit: Visit, user: Any) -> HttpResponse:
    """The PDF report of a visit the caller was allowed to read."""
    printed_by = user.get_full_name() or user.get_username()
    content = render_pdf(visit_report(visit), printed_by=printed_by, printed_at=timezone.localtime())
    response = HttpResponse(content, content_type="application/pdf")
    # The file name says no more than the URL: no patient name in a downloads folder.
    response["Content-Disposition"] = f'inline; filename="visit-report-{visit.date:%Y-%m-%d}-{visit.uuid}.pdf"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


@login_required
@require_GET
def visit_report_pdf(request: HttpRequest, uuid: UUID) -> HttpResponse:
    visit = get_for_user_or_404(Visit, request.user, uuid, VISITS)
    return pdf_response(visit, request.user)
