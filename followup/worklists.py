"""The clinic's worklists: flags awaiting review, follow-ups due or overdue, histology awaited.

Flags awaiting review are ``selectors.open_flags`` (the same list as /clinic/flags/). A follow-up
is due when a monitored lesion with a follow-up interval has had no photo for that long since its
last visit (or since it was recorded, before its first photo); it is listed from
``DUE_SOON_DAYS`` before its due date, and overdue after it. Histology is awaited for a biopsied
or excised lesion until a result confirmed by histopathology is recorded.

Callers pass clinics they reached through the one access check (``clinic.selectors``).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db.models import Max, Q

from followup import selectors
from followup.models import LesionFlag
from lesions.models import Lesion

DUE_SOON_DAYS = 14
MAX_ITEMS = 500


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, the month's last day where it is shorter (31 Jan + 1 = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def followup_due_date(last_seen: dt.date, interval_months: int) -> dt.date:
    return add_months(last_seen, interval_months)


@dataclass(frozen=True)
class FollowUpDue:
    lesion: Lesion
    last_seen: dt.date
    due: dt.date
    today: dt.date

    @property
    def overdue(self) -> bool:
        return self.due < self.today

    @property
    def days_overdue(self) -> int:
        return max(0, (self.today - self.due).days)

    @property
    def state(self) -> str:
        return "overdue" if self.overdue else "due"

    @property
    def what(self) -> str:
        months = self.lesion.followup_interval_months
        when = (
            f"overdue by {self.days_overdue} day{'s' if self.days_overdue != 1 else ''}"
            if self.overdue
            else f"due {self.due:%Y-%m-%d}"
        )
        return f"{months}-month follow-up photo {when} (last seen {self.last_seen:%Y-%m-%d})"


@dataclass(frozen=True)
class HistologyPending:
    lesion: Lesion
    last_seen: dt.date

    @property
    def what(self) -> str:
        return f"{self.lesion.get_status_display()}: histopathology result awaited"


def _last_seen(lesion: Any) -> dt.date:
    latest: dt.date | None = lesion.last_visit_date
    return latest if latest is not None else lesion.created_at.date()


def _clinic_lesions(clinics: Iterable[Any]) -> Any:
    return (
        Lesion.objects.filter(patient__clinic__in=list(clinics))
        .select_related("patient")
        .annotate(last_visit_date=Max("images__visit__date"))
    )


def followups_due(clinics: Iterable[Any], *, today: dt.date, soon_days: int = DUE_SOON_DAYS) -> list[FollowUpDue]:
    """Monitored lesions whose follow-up photo is due within ``soon_days`` or overdue, most overdue first."""
    lesions = _clinic_lesions(clinics).filter(status=Lesion.Status.MONITORING, followup_interval_months__isnull=False)
    horizon = today + dt.timedelta(days=soon_days)
    items = []
    for lesion in lesions:
        last_seen = _last_seen(lesion)
        due = followup_due_date(last_seen, lesion.followup_interval_months)
        if due <= horizon:
            items.append(FollowUpDue(lesion=lesion, last_seen=last_seen, due=due, today=today))
    items.sort(key=lambda item: (item.due, item.lesion.patient.last_name, item.lesion.label))
    return items[:MAX_ITEMS]


def histology_pending(clinics: Iterable[Any]) -> list[HistologyPending]:
    """Biopsied or excised lesions without a result confirmed by histopathology, longest waiting first."""
    lesions = _clinic_lesions(clinics).filter(
        Q(status__in=[Lesion.Status.BIOPSIED, Lesion.Status.EXCISED])
        & ~Q(diagnosis_confirmation=Lesion.Confirmation.HISTOPATHOLOGY)
    )
    items = [HistologyPending(lesion=lesion, last_seen=_last_seen(lesion)) for lesion in lesions]
    items.sort(key=lambda item: (item.last_seen, item.lesion.patient.last_name, item.lesion.label))
    return items[:MAX_ITEMS]


@dataclass(frozen=True)
class Worklists:
    flags_awaiting_review: list[LesionFlag]
    followups_due: list[FollowUpDue]
    histology_pending: list[HistologyPending]

    @property
    def lesions(self) -> list[Lesion]:
        """Every lesion the lists show (for the audit of the page view)."""
        seen: dict[int, Lesion] = {}
        for flag in self.flags_awaiting_review:
            seen.setdefault(flag.lesion.pk, flag.lesion)
        for due in self.followups_due:
            seen.setdefault(due.lesion.pk, due.lesion)
        for pending in self.histology_pending:
            seen.setdefault(pending.lesion.pk, pending.lesion)
        return list(seen.values())


def clinic_worklists(clinics: Iterable[Any], *, today: dt.date) -> Worklists:
    clinics = list(clinics)
    return Worklists(
        flags_awaiting_review=list(selectors.open_flags(clinics)[:MAX_ITEMS]),
        followups_due=followups_due(clinics, today=today),
        histology_pending=histology_pending(clinics),
    )


def next_followup(lesion: Any, *, last_seen: dt.date | None) -> dt.date | None:
    """When a lesion's next follow-up photo is due (None without an interval or while not monitored)."""
    if lesion.followup_interval_months is None or lesion.status != Lesion.Status.MONITORING:
        return None
    start = last_seen if last_seen is not None else lesion.created_at.date()
    return followup_due_date(start, lesion.followup_interval_months)
