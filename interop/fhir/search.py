"""FHIR search parameters of Patient (identifier, family, birthdate, _id) and paging, as ORM filters.

A parameter repeated is AND, comma-separated values in one parameter are OR (FHIR's rules).
Unknown parameters are refused (``SearchError``, 400) rather than ignored: a misspelt filter
must not quietly return every patient of the clinic. A search is at most ``MAX_PARAMETERS``
parameters of at most ``MAX_VALUES`` values each (``SearchTooCostly``, 400): each value is one
more condition in one SQL expression, and SQLite refuses an expression tree deeper than 1,000.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet
from django.http import QueryDict

from clinic.numbers import whole_number
from interop.fhir import codes

DEFAULT_COUNT = 20
MAX_COUNT = 100
MAX_PAGE = 1_000_000
MAX_PARAMETERS = 20  # query parameters in one request, a repeated one counted each time
MAX_VALUES = 100  # comma-separated values in one parameter
# Parameters every search and $everything takes; _format is FHIR's Accept override (JSON only here).
PAGING = {"_count", "page", "_format"}
PATIENT_PARAMETERS = {"identifier", "family", "family:exact", "family:contains", "birthdate", "_id"}
DATE = re.compile(r"^(?P<prefix>eq|ne|gt|lt|ge|le)?(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2}))?)?$")


class SearchError(ValueError):
    """A search the server cannot carry out as asked (answered 400 with an OperationOutcome)."""

    code = "invalid"  # the OperationOutcome's issue type


class SearchTooCostly(SearchError):
    """More parameters or values than one search may have."""

    code = "too-costly"


@dataclass(frozen=True)
class Page:
    count: int
    number: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.count


def _positive_int(params: QueryDict, name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    value = whole_number(raw)
    if value is None or value < 1:
        raise SearchError(f"{name} must be a whole number of at least 1 in the digits 0-9, not {raw!r}.")
    return value


def page_of(params: QueryDict) -> Page:
    count = min(_positive_int(params, "_count", DEFAULT_COUNT), MAX_COUNT)
    number = _positive_int(params, "page", 1)
    if number > MAX_PAGE:
        raise SearchError(f"page is out of range (at most {MAX_PAGE:,}).")
    return Page(count=count, number=number)


def refuse_too_costly(params: QueryDict) -> None:
    """At most MAX_PARAMETERS parameters (repeats counted) of at most MAX_VALUES values each."""
    occurrences = [(name, raw) for name, values in params.lists() for raw in values]
    if len(occurrences) > MAX_PARAMETERS:
        raise SearchTooCostly(
            f"Too many parameters ({len(occurrences)}): a search takes at most {MAX_PARAMETERS}, repeats counted."
        )
    for name, raw in occurrences:
        if raw.count(",") >= MAX_VALUES:
            raise SearchTooCostly(
                f"Too many values in {name} ({raw.count(',') + 1}): a parameter takes at most {MAX_VALUES}."
            )


def refuse_unknown(params: QueryDict, known: Iterable[str]) -> None:
    refuse_too_costly(params)
    unknown = sorted(set(params) - set(known) - PAGING)
    if unknown:
        raise SearchError(f"Unknown or unsupported search parameter(s): {', '.join(unknown)}.")
    fmt = params.get("_format")
    if fmt and fmt not in {"json", "application/json", "application/fhir+json"}:
        raise SearchError(f"_format {fmt!r} is not served: this server speaks JSON only.")


def _values(params: QueryDict, name: str) -> list[list[str]]:
    """Each occurrence of the parameter (AND) as its comma-separated values (OR)."""
    return [[value for value in raw.split(",")] for raw in params.getlist(name)]


def _identifier(value: str, clinics: list[Any]) -> Q:
    if "|" in value:
        system, _, code = value.partition("|")
    else:
        system, code = None, value
    condition = Q()
    if system:  # a system names one clinic's record numbers; another system matches nothing
        by_system = {codes.identifier_system(clinic): clinic for clinic in clinics}
        clinic = by_system.get(system)
        if clinic is None:
            return Q(pk__in=[])
        condition &= Q(clinic=clinic)
    if code:
        condition &= Q(medical_record_number=code)
    elif not system:
        raise SearchError("identifier needs a value: [system]|[code].")
    return condition


def _date_range(value: str) -> tuple[str, dt.date, dt.date]:
    match = DATE.match(value)
    if match is None:
        raise SearchError(f"birthdate {value!r} is not a date: [eq|ne|gt|lt|ge|le]YYYY[-MM[-DD]].")
    prefix = match["prefix"] or "eq"
    try:
        year = int(match["year"])
        if match["day"]:
            start = end = dt.date(year, int(match["month"]), int(match["day"]))
        elif match["month"]:
            month = int(match["month"])
            start = dt.date(year, month, 1)
            end = dt.date(year, month, calendar.monthrange(year, month)[1])
        else:
            start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    except ValueError as exc:
        raise SearchError(f"birthdate {value!r} is not a date.") from exc
    return prefix, start, end


def _birthdate(value: str) -> Q:
    prefix, start, end = _date_range(value)
    within = Q(date_of_birth__gte=start, date_of_birth__lte=end)
    return {
        "eq": within,
        "ne": ~within & Q(date_of_birth__isnull=False),
        "gt": Q(date_of_birth__gt=end),
        "lt": Q(date_of_birth__lt=start),
        "ge": Q(date_of_birth__gte=start),
        "le": Q(date_of_birth__lte=end),
    }[prefix]


def _family(value: str, modifier: str) -> Q:
    if not value:
        raise SearchError("family needs a value.")
    lookup = {"": "istartswith", "exact": "exact", "contains": "icontains"}[modifier]
    return Q(**{f"last_name__{lookup}": value})


def _uuid(value: str) -> Q:
    try:
        return Q(uuid=uuid.UUID(value))
    except ValueError:
        return Q(pk__in=[])  # not one of our ids: matches nothing


def patient_search(queryset: QuerySet[Any], params: QueryDict, clinics: list[Any]) -> QuerySet[Any]:
    """The caller's patients (``queryset``, already scoped) that match the search parameters."""
    refuse_unknown(params, PATIENT_PARAMETERS)
    conditions = []
    for values in _values(params, "identifier"):
        conditions.append(_any(_identifier(value, clinics) for value in values))
    for name, modifier in (("family", ""), ("family:exact", "exact"), ("family:contains", "contains")):
        for values in _values(params, name):
            conditions.append(_any(_family(value, modifier) for value in values))
    for values in _values(params, "birthdate"):
        conditions.append(_any(_birthdate(value) for value in values))
    for values in _values(params, "_id"):
        conditions.append(_any(_uuid(value) for value in values))
    for condition in conditions:
        queryset = queryset.filter(condition)
    return queryset


def _any(conditions: Iterable[Q]) -> Q:
    combined = Q(pk__in=[])
    for condition in conditions:
        combined |= condition
    return combined
