"""FHIR search (R4 http.html#search): Patient's parameters as ORM filters, and the result parameters.

A parameter repeated is AND, comma-separated values in one parameter are OR (FHIR's rules).
Unknown parameters are handled as R4 says: ignored, and named in a warning the Bundle carries
(``Search.warnings``), unless the client asks ``Prefer: handling=strict``: then they are
refused (``SearchError``, 400), so that a misspelt filter need not quietly return every patient
of the clinic. A search is at most ``MAX_PARAMETERS`` parameters of at most ``MAX_VALUES``
values each (``SearchTooCostly``, 400, whatever the handling): each value is one more condition
in one SQL expression, and SQLite refuses an expression tree deeper than 1,000.

Result parameters: ``_count`` (0: the total only), ``page``, ``_summary`` (true, false, data,
count), ``_elements``, ``_total`` (none, estimate, accurate), ``_sort`` (on indexed fields),
``_pretty`` and ``_format`` (JSON only; XML is a 406, see ``negotiation``).
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
from interop.models import PatientIdentifier

DEFAULT_COUNT = 20
MAX_COUNT = 100
MAX_PAGE = 1_000_000
MAX_PARAMETERS = 20  # query parameters in one request, a repeated one counted each time
MAX_VALUES = 100  # comma-separated values in one parameter
# Parameters every search and $everything takes (R4's result parameters that are served here).
RESULT_PARAMETERS = {"_count", "page", "_format", "_pretty", "_summary", "_elements", "_total"}
PATIENT_PARAMETERS = {"identifier", "family", "family:exact", "family:contains", "birthdate", "_id"}
SUMMARY_VALUES = {"true", "false", "data", "count"}  # _summary=text needs a narrative, which no resource has
TOTAL_VALUES = {"none", "estimate", "accurate"}
# _sort keys -> the indexed columns they order by (clinic, last_name, first_name; uuid unique).
PATIENT_SORT: dict[str, tuple[str, ...]] = {"family": ("last_name",), "given": ("first_name",), "_id": ("uuid",)}
PATIENT_DEFAULT_ORDER = ("last_name", "first_name", "pk")
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

    @property
    def count_only(self) -> bool:
        return self.count == 0


def _whole(params: QueryDict, name: str, default: int, least: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    value = whole_number(raw)
    if value is None or value < least:
        raise SearchError(f"{name} must be a whole number of at least {least} in the digits 0-9, not {raw!r}.")
    return value


def page_of(params: QueryDict) -> Page:
    """The page asked for; ``_count=0`` (R4: the total only) is a page of no entries."""
    count = min(_whole(params, "_count", DEFAULT_COUNT, 0), MAX_COUNT)
    if params.get("_summary") == "count":
        count = 0
    number = _whole(params, "page", 1, 1)
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


def check(params: QueryDict, known: Iterable[str], *, strict: bool, sort_keys: Iterable[str] = ()) -> list[str]:
    """The warnings of a search whose parameters are ``known``: what is ignored and why.

    Under ``strict`` handling the first problem is a ``SearchError`` instead. Too many
    parameters or values (here), and a ``_count`` or ``page`` that is no number (``page_of``),
    are errors either way.
    """
    refuse_too_costly(params)
    problems = []
    unknown = sorted(set(params) - set(known) - RESULT_PARAMETERS - ({"_sort"} if sort_keys else set()))
    if unknown:
        problems.append(f"Unknown or unsupported search parameter(s), ignored: {', '.join(unknown)}.")
    for name, allowed in (("_summary", SUMMARY_VALUES), ("_total", TOTAL_VALUES)):
        for raw in params.getlist(name):
            if raw not in allowed:
                problems.append(f"{name}={raw!r} is not served (one of {', '.join(sorted(allowed))}), ignored.")
    if params.get("_summary") not in (None, "false") and params.get("_elements"):
        problems.append("_summary and _elements together: _elements is ignored.")
    allowed_sorts = set(sort_keys)
    for raw in params.getlist("_sort") if allowed_sorts else []:
        for key in raw.split(","):
            if key.removeprefix("-") not in allowed_sorts:
                problems.append(
                    f"_sort={key!r} is not served (sorts on: {', '.join(sorted(allowed_sorts)) or 'none'}), ignored."
                )
    if strict and problems:
        raise SearchError(
            problems[0].removesuffix(", ignored.").replace(", ignored:", ":") + " (Prefer: handling=strict)"
        )
    return problems


def sort_order(params: QueryDict, keys: dict[str, tuple[str, ...]], default: tuple[str, ...]) -> list[str]:
    """The ORM ordering of ``_sort`` (its served keys, in order, then the default as tie-break)."""
    order: list[str] = []
    for raw in params.getlist("_sort"):
        for key in raw.split(","):
            descending = key.startswith("-")
            for column in keys.get(key.removeprefix("-"), ()):
                if column not in {c.removeprefix("-") for c in order}:
                    order.append(f"-{column}" if descending else column)
    return order + [column for column in default if column not in {c.removeprefix("-") for c in order}]


def summary_of(params: QueryDict) -> str | None:
    """``"true"``/``"count"`` when a summary is asked for (data and false are the full resources)."""
    value = params.get("_summary")
    return value if value in {"true", "count"} else None


def elements_of(params: QueryDict) -> list[str] | None:
    if params.get("_summary") not in (None, "false"):
        return None
    raw = ",".join(params.getlist("_elements"))
    names = [name.strip() for name in raw.split(",") if name.strip()]
    return names or None


def total_wanted(params: QueryDict) -> bool:
    return params.get("_total") != "none"


def pretty(params: QueryDict) -> bool:
    return params.get("_pretty") == "true"


def _values(params: QueryDict, name: str) -> list[list[str]]:
    """Each occurrence of the parameter (AND) as its comma-separated values (OR)."""
    return [[value for value in raw.split(",")] for raw in params.getlist(name)]


def _other_identifier(**lookups: str) -> Q:
    """Patients with an identifier of another system (kept in interop's PatientIdentifier)."""
    return Q(pk__in=PatientIdentifier.objects.filter(**lookups).values("patient_id"))


def _identifier(value: str, clinics: list[Any]) -> Q:
    """``[system]|[code]``: a clinic's system names its record numbers; any other system, the
    identifiers kept from other systems; a code alone matches either."""
    if "|" in value:
        system, _, code = value.partition("|")
    else:
        system, code = None, value
    if not system and not code:
        raise SearchError("identifier needs a value: [system]|[code].")
    if system is None:
        return Q(medical_record_number=code) | _other_identifier(value=code)
    if not system:  # "|code": an identifier without a system, which none is here
        return Q(pk__in=[])
    by_system = {codes.identifier_system(clinic): clinic for clinic in clinics}
    clinic = by_system.get(system)
    if clinic is not None:
        return Q(clinic=clinic, medical_record_number=code) if code else Q(clinic=clinic)
    return _other_identifier(system=system, value=code) if code else _other_identifier(system=system)


def _date_range(value: str, name: str = "birthdate") -> tuple[str, dt.date, dt.date]:
    match = DATE.match(value)
    if match is None:
        raise SearchError(f"{name} {value!r} is not a date: [eq|ne|gt|lt|ge|le]YYYY[-MM[-DD]].")
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
        raise SearchError(f"{name} {value!r} is not a date.") from exc
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
    """The caller's patients (``queryset``, already scoped) that match the search parameters.

    Parameters other than Patient's are not looked at here: the caller decides (``check``).
    """
    refuse_too_costly(params)
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


def instant_of(params: QueryDict, name: str) -> dt.datetime | None:
    """An instant parameter (``_since``): YYYY-MM-DDThh:mm:ss[.sss](Z|±hh:mm), or a date (its midnight, UTC)."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    text = raw.strip().replace(" ", "+")  # a '+' in a query string arrives as a space
    try:
        if len(text) == 10:
            return dt.datetime.combine(dt.date.fromisoformat(text), dt.time(), tzinfo=dt.UTC)
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SearchError(f"{name} {raw!r} is not an instant: YYYY-MM-DDThh:mm:ss with Z or an offset.") from exc
    if moment.tzinfo is None:
        raise SearchError(f"{name} {raw!r} needs a time zone (Z or an offset).")
    return moment.astimezone(dt.UTC)


def date_bound(params: QueryDict, name: str, *, first: bool) -> dt.date | None:
    """A date parameter of $everything (``start``, ``end``): YYYY[-MM[-DD]], the first or last day it names."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    match = DATE.match(raw)
    if match is None or match["prefix"]:
        raise SearchError(f"{name} {raw!r} is not a date: YYYY[-MM[-DD]].")
    _, start, end = _date_range(raw, name)
    return start if first else end
