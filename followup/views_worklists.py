"""The clinic's worklists page: flags awaiting review, follow-ups due or overdue, histology awaited."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from clinic.audit import audit_list_view
from clinic.selectors import clinics_for_user
from followup import worklists


@login_required
@require_GET
def clinic_worklists(request: HttpRequest) -> HttpResponse:
    """The three worklists of the user's clinics, each item linking to where its work is done."""
    lists = worklists.clinic_worklists(clinics_for_user(request.user), today=timezone.localdate())
    audit_list_view(lists.lesions, page="Worklists")  # one entry: the page shows these lesions and their patients
    return render(request, "followup/worklists.html", {"lists": lists, "due_soon_days": worklists.DUE_SOON_DAYS})
