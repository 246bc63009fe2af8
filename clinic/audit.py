"""Audit trail of patient data: who read or changed which record, when, from where.

Changes are logged by django-auditlog for every registered model (actor and address come from
its middleware). Reads are logged here, from the one access check (``get_for_user_or_404``),
list pages and the admin, as auditlog ACCESS entries. Each entry carries the record's clinic
in ``additional_data`` so that a clinic admin can browse their own clinic's trail. Entries
are append-only: updating or deleting one raises.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from auditlog.models import LogEntry
from auditlog.registry import auditlog
from auditlog.signals import accessed
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


class ClinicAuditMixin:
    """Mixed into audited models: auditlog stores this with every entry about the record."""

    def get_additional_data(self) -> dict[str, Any]:
        return {"clinic_id": clinic_id_of(self)}  # type: ignore[arg-type]


def audit_access(instance: Model) -> None:
    """Record that the current user read this record (a no-op for models not audited)."""
    if auditlog.contains(type(instance)):
        accessed.send(sender=type(instance), instance=instance)


def audit_access_many(instances: Iterable[Model]) -> None:
    for instance in instances:
        audit_access(instance)


@receiver(pre_save, sender=LogEntry, dispatch_uid="audit_append_only_save")
def _refuse_changes(sender: type[LogEntry], instance: LogEntry, **kwargs: Any) -> None:
    if instance.pk is not None and LogEntry.objects.filter(pk=instance.pk).exists():
        raise AuditTrailIsAppendOnly("audit entries cannot be changed")


@receiver(pre_delete, sender=LogEntry, dispatch_uid="audit_append_only_delete")
def _refuse_deletes(sender: type[LogEntry], instance: LogEntry, **kwargs: Any) -> None:
    raise AuditTrailIsAppendOnly("audit entries cannot be deleted")
