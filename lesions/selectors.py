"""Scoped reads of patient data for pages and API (all through clinic.selectors.scoped)."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Max, Q, QuerySet

from clinic.selectors import scoped
from lesions.models import Patient


def patient_list(user: Any, *, search: str = "") -> QuerySet[Patient]:
    qs = scoped(Patient, user).select_related("clinic")
    search = search.strip()
    if search:
        terms = Q()
        for word in search.split():
            terms &= (
                Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(medical_record_number__icontains=word)
            )
        qs = qs.filter(terms)
    # Meta.ordering is dropped from GROUP BY queries, so the aggregate needs an explicit order.
    return qs.annotate(lesion_count=Count("lesions", distinct=True), last_visit=Max("visits__date")).order_by(
        "last_name", "first_name", "pk"
    )
