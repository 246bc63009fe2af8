"""Audit trail of patient data: who read or changed which record, when, from where.

Changes are logged by django-auditlog for every registered model (actor and address come from
its middleware). Reads are logged here, from the one access check (``get_for_user_or_404``),
list pages and the admin, as auditlog ACCESS entries: one per record opened, one per list page
shown (``audit_list_view``, naming the records listed). Each entry carries the record's clinic
in ``additional_data`` so that a clinic admin can browse their own clinic's trail. Entries
are append-only: updating or deleting one raises.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from auditlog.signals import accessed
from django.contrib.contenttypes.models import ContentType
from django.db.models import Model
from django.db.models.signals import pre_delete, pre_save
from django.dispatch import receiver


class AuditTrailIsAppendOnly(Exception):
    """Audit entries can be added, never changed or removed."""


def clinic_id_of(instance: Model) -> int | None:
    """The clinic a record belongs to, following its model's CLINIC_PATH."""
    path = getattr(type(instance), "CLINIC_PATH", None)
    if path is None:
        return None
    target: Any = instance
    *hops, last = path.split("__")
    for hop in hops:
        target = getattr(target, hop, None)
        if target is None:
            return None
    return getattr(target, f"{last}_id", None)


def patient_id_of(instance: Model) -> int | None:
    """The patient a record is about: itself for an audit subject, else the ``patient`` on its CLINIC_PATH."""
    if getattr(type(instance), "AUDIT_SUBJECT", False):
        return instance.pk  # type: ignore[no-any-return]
    path = getattr(type(instance), "CLINIC_PATH", "") or ""
    hops = path.split("__")[:-1]  # the hops before the clinic
    if not hops or hops[-1] != "patient":
        return None
    target: Any = instance
    for hop in hops[:-1]:
        target = getattr(target, hop, None)
        if target is None:
            return None
    return getattr(target, "patient_id", None)


class ClinicAuditMixin:
    """Mixed into audited models: auditlog stores this with every entry about the record.

    A model whose rows are the people the trail is about (the patient) sets ``AUDIT_SUBJECT`` and
    ``audit_subject_lookup``; every model may give ``audit_name`` (what the trail calls the record).
    """

    AUDIT_SUBJECT = False

    def get_additional_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {"clinic_id": clinic_id_of(self)}  # type: ignore[arg-type]
        if (patient_id := patient_id_of(self)) is not None:  # type: ignore[arg-type]
            data["patient_id"] = patient_id
        return data


def audit_access(instance: Model) -> None:
    """Record that the current user read this record (a no-op for models not audited)."""
    if auditlog.contains(type(instance)):
        accessed.send(sender=type(instance), instance=instance)


def audit_access_many(instances: Iterable[Model]) -> None:
    """One read per record: for pages that show each record in full (a FHIR bundle's resources)."""
    for instance in instances:
        audit_access(instance)


def audit_list_view(instances: Iterable[Model], *, page: str) -> list[LogEntry]:
    """One read for a list page shown, per clinic, naming the records listed (not one entry per row).

    The entry's ``additional_data`` keeps the listed records' ids and their patients' (``,1,2,``:
    a text that a filter can match on SQLite and PostgreSQL alike).
    """
    by_clinic: dict[int | None, list[Model]] = {}
    for instance in instances:
        if auditlog.contains(type(instance)):
            by_clinic.setdefault(clinic_id_of(instance), []).append(instance)
    entries = []
    for clinic_id, rows in by_clinic.items():
        model = type(rows[0])
        patients = sorted({p for p in (patient_id_of(row) for row in rows) if p is not None})
        name = model._meta.verbose_name if len(rows) == 1 else model._meta.verbose_name_plural
        entries.append(
            LogEntry.objects.create(
                content_type=ContentType.objects.get_for_model(model),
                object_pk="",
                object_repr=f"{page} ({len(rows)} {name})",
                action=LogEntry.Action.ACCESS,
                changes=None,
                additional_data={
                    "clinic_id": clinic_id,
                    "list": page,
                    "listed": _id_list(row.pk for row in rows),
                    "patients": _id_list(patients),
                    "count": len(rows),
                },
            )
        )
    return entries


def _id_list(ids: Iterable[Any]) -> str:
    return "," + ",".join(str(i) for i in ids) + ","


@receiver(pre_save, sender=LogEntry, dispatch_uid="audit_append_only_save")
def _refuse_changes(sender: type[LogEntry], instance: LogEntry, **kwargs: Any) -> None:
    if instance.pk is not None and LogEntry.objects.filter(pk=instance.pk).exists():
        raise AuditTrailIsAppendOnly("audit entries cannot be changed")


@receiver(pre_delete, sender=LogEntry, dispatch_uid="audit_append_only_delete")
def _refuse_deletes(sender: type[LogEntry], instance: LogEntry, **kwargs: Any) -> None:
    raise AuditTrailIsAppendOnly("audit entries cannot be deleted")
