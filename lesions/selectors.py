"""Scoped reads of patient data for pages and API (all through clinic.selectors.scoped)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from django.db.models import Count, Max, Q, QuerySet

from clinic.selectors import scoped
from lesions.models import Patient
from lesions.search import normalise

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
# Each word adds a LIKE condition or two: a thousand of them exceed SQLite's expression depth (a
# 500) and make PostgreSQL scan for nothing. A name and a record number need far fewer.
SEARCH_MAX_WORDS = 8
SEARCH_MAX_LENGTH = 200


class SearchRejected(ValueError):
    """A search too long to run; the message says why, for the user."""


def search_terms(search: str) -> list[str]:
    """The words of a patient search, or SearchRejected when there are too many or it is too long."""
    if len(search) > SEARCH_MAX_LENGTH:
        raise SearchRejected(f"The search is {len(search)} characters long; the limit is {SEARCH_MAX_LENGTH}.")
    words = search.split()
    if len(words) > SEARCH_MAX_WORDS:
        raise SearchRejected(f"The search has {len(words)} words; the limit is {SEARCH_MAX_WORDS}.")
    return words


def patient_list(user: Any, *, search: str = "") -> QuerySet[Patient]:
    """The user's patients with lesion count and last visit; ``search`` words must all match (SearchRejected).

    A word matches a name or record number whatever its case and accents ("tomas" finds Tomás), or
    a date of birth written YYYY-MM-DD.
    """
    qs = scoped(Patient, user).select_related("clinic")
    words = search_terms(search)
    if words:
        terms = Q()
        for word in words:
            term = Q(search_text__contains=normalise(word))
            if born := _date_of_birth(word):
                term |= Q(date_of_birth=born)
            terms &= term
        qs = qs.filter(terms)
    # Meta.ordering is dropped from GROUP BY queries, so the aggregate needs an explicit order.
    return qs.annotate(lesion_count=Count("lesions", distinct=True), last_visit=Max("visits__date")).order_by(
        "last_name", "first_name", "pk"
    )


def _date_of_birth(word: str) -> dt.date | None:
    if not ISO_DATE.fullmatch(word):
        return None
    try:
        return dt.date.fromisoformat(word)
    except ValueError:  # 2020-13-45: searched as text only
        return None
