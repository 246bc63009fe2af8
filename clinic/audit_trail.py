"""The audit trail page's reads: entries of the admin's clinics, filtered, in plain words, as CSV.

The records an entry is about are fetched once per page, per kind, so that each line can name
them as a clinician would ("Ada Okafor viewed patient Oskar Nyström (RD-1)"); a model says what
it is called on the trail with ``audit_name`` (``clinic.audit.ClinicAuditMixin``).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from auditlog.models import LogEntry
from django.apps import apps
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

VERBS = {
    LogEntry.Action.CREATE: "added",
    LogEntry.Action.UPDATE: "changed",
    LogEntry.Action.DELETE: "deleted",
    LogEntry.Action.ACCESS: "viewed",
}
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


@dataclass(frozen=True)
class Line:
    """One entry of the trail as the page and the CSV show it."""

    entry: LogEntry
    who: str
    sentence: str
    changed_fields: list[str]


class UnknownPatient(ValueError):
    """The patient filter names no patient of the admin's clinics."""


def subject_model() -> type[Model] | None:
    """The model the trail is about (the patient), found by its flag so that this app imports none above it."""
    return next((m for m in apps.get_models() if getattr(m, "AUDIT_SUBJECT", False)), None)


def entries_for(clinic_ids: Sequence[int], filters: dict[str, Any]) -> QuerySet[LogEntry]:
    """The clinics' entries, newest first, narrowed by the cleaned filters (UnknownPatient)."""
    entries: QuerySet[LogEntry] = (
        LogEntry.objects.filter(additional_data__clinic_id__in=list(clinic_ids))
        .select_related("actor", "content_type")
        .order_by("-timestamp", "-id")
    )
    if filters.get("action") is not None:
        entries = entries.filter(action=filters["action"])
    if filters.get("actor"):
        entries = entries.filter(actor__username=filters["actor"])
    zone = timezone.get_current_timezone()
    if start := filters.get("date_from"):
        entries = entries.filter(timestamp__gte=dt.datetime.combine(start, dt.time.min, tzinfo=zone))
    if end := filters.get("date_to"):
        entries = entries.filter(
            timestamp__lt=dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=zone)
        )
    if text := filters.get("patient"):
        entries = entries.filter(_about_patient(clinic_ids, text))
    return entries


def _about_patient(clinic_ids: Sequence[int], text: str) -> Q:
    """Entries about the patient the filter names, about their records, and list pages that showed them."""
    model: Any = subject_model()
    patients: list[Model] = list(model.audit_subject_lookup(clinic_ids, text)) if model is not None else []
    if not patients:
        raise UnknownPatient(f"No patient of your clinic has the record number or id {text!r}.")
    about = Q()
    for patient in patients:
        about |= (
            Q(additional_data__patient_id=patient.pk)
            | Q(
                content_type__app_label=patient._meta.app_label,
                content_type__model=patient._meta.model_name,
                object_pk=str(patient.pk),
            )
            | Q(additional_data__patients__icontains=f",{patient.pk},")
        )
    return about


def person(user: Any) -> str:
    if user is None:
        return "System"
    return str(user.get_full_name()).strip() or str(user.username)


def _records(entries: Sequence[LogEntry]) -> dict[tuple[int, str], Model]:
    """The records the entries are about, still there, by (content type, pk): one query per kind."""
    wanted: dict[int, set[str]] = {}
    for entry in entries:
        if entry.object_pk:
            wanted.setdefault(entry.content_type_id, set()).add(entry.object_pk)
    found: dict[tuple[int, str], Model] = {}
    types = {entry.content_type_id: entry.content_type for entry in entries}
    for type_id, pks in wanted.items():
        model = types[type_id].model_class()
        if model is None:
            continue
        path = getattr(model, "CLINIC_PATH", "")
        related = "__".join(path.split("__")[:-1])  # what its name is made of: everything up to the clinic
        rows = model._default_manager.filter(pk__in=pks)
        if related:
            rows = rows.select_related(related)
        found.update({(type_id, str(row.pk)): row for row in rows})
    return found


def name_of(record: Model) -> str:
    """What the trail calls a record: its own ``audit_name``, else its kind and what it belongs to."""
    if callable(own := getattr(record, "audit_name", None)):
        return str(own())
    kind = record._meta.verbose_name
    path = getattr(type(record), "CLINIC_PATH", "")
    first_hop = path.split("__")[0] if "__" in path else ""
    parent = getattr(record, first_hop, None) if first_hop else None
    if parent is not None and callable(getattr(parent, "audit_name", None)):
        return f"the {kind} of {parent.audit_name()}"
    return f"{kind} {record}"


def lines(entries: Iterable[LogEntry]) -> list[Line]:
    """The entries in plain words."""
    entries = list(entries)
    records = _records(entries)
    shown = []
    for entry in entries:
        who = person(entry.actor)
        verb = VERBS.get(entry.action, "used")
        record = records.get((entry.content_type_id, entry.object_pk))
        if not entry.object_pk:  # a list page: one entry per page shown
            what = f"the {entry.object_repr[:1].lower()}{entry.object_repr[1:]}"
        elif record is not None:
            what = name_of(record)
        else:  # removed since: what it was called then
            what = f"{entry.content_type.name} {entry.object_repr}"
        fields = list(entry.changes_dict) if entry.action == LogEntry.Action.UPDATE else []
        shown.append(Line(entry=entry, who=who, sentence=f"{who} {verb} {what}", changed_fields=fields))
    return shown


def safe_cell(value: Any) -> str:
    """A CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


CSV_HEADER = ["time (UTC)", "user", "username", "action", "entry", "record type", "changed fields", "address"]


def csv_rows(entries: Iterable[LogEntry], *, chunk: int = 500) -> Iterable[str]:
    """The entries as CSV text, a header first, in chunks of rows (read in chunks, named per chunk)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    batch: list[LogEntry] = []

    def flush() -> str:
        for line in lines(batch):
            e = line.entry
            writer.writerow(
                [
                    safe_cell(cell)
                    for cell in (
                        e.timestamp.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
                        line.who,
                        e.actor.username if e.actor else "",
                        VERBS.get(e.action, ""),
                        line.sentence,
                        e.content_type.name,
                        " ".join(line.changed_fields),
                        e.remote_addr or "",
                    )
                ]
            )
        batch.clear()
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text

    yield flush()
    for entry in entries:
        batch.append(entry)
        if len(batch) >= chunk:
            yield flush()
    yield flush()
