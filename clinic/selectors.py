"""The one place that decides which records a user may see.

Every model holding patient data names the lookup path from itself to its ``Clinic`` in a
``CLINIC_PATH`` class attribute; ``scoped`` filters any such model to the user's clinics and
``get_for_user_or_404`` fetches one row by public UUID, answering 404 (never 403) for rows of
other clinics so that their existence is not revealed.
"""

from __future__ import annotations

from typing import Any, TypeVar
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404

from clinic.audit import audit_access
from clinic.models import Clinic, Membership

M = TypeVar("M", bound=Model)


def clinics_for_user(user: Any) -> QuerySet[Clinic]:
    if not getattr(user, "is_authenticated", False):
        return Clinic.objects.none()
    return Clinic.objects.filter(memberships__user=user).distinct()


def memberships_for_user(user: Any) -> QuerySet[Membership]:
    if not getattr(user, "is_authenticated", False):
        return Membership.objects.none()
    return Membership.objects.filter(user=user).select_related("clinic")


def is_clinic_admin(user: Any, clinic: Clinic) -> bool:
    return memberships_for_user(user).filter(clinic=clinic, role=Membership.Role.ADMIN).exists()


def scoped(model: type[M], user: Any, queryset: QuerySet[M] | None = None) -> QuerySet[M]:
    """Rows of ``model`` that belong to one of the user's clinics."""
    qs = queryset if queryset is not None else model._default_manager.all()
    if not getattr(user, "is_authenticated", False):
        return qs.none()
    path = model.CLINIC_PATH  # type: ignore[attr-defined]
    clinic_ids = Membership.objects.filter(user=user).values("clinic_id")
    return qs.filter(**{f"{path}_id__in" if path else "id__in": clinic_ids})


def get_for_user_or_404(
    model: type[M], user: Any, uuid: UUID | str, queryset: QuerySet[M] | None = None, *, audit: bool = True
) -> M:
    """One row by public UUID, or 404 if it does not exist or belongs to another clinic.

    ``audit=False`` leaves the read off the trail, for a caller that records it itself (a
    status poll records one read per page view, not one per poll).
    """
    try:
        instance = scoped(model, user, queryset).get(uuid=uuid)
    except (model.DoesNotExist, ValueError, ValidationError) as exc:  # type: ignore[attr-defined]
        # A malformed id string makes the UUIDField raise ValidationError: same 404 as a missing row.
        raise Http404(f"No {model._meta.verbose_name} found") from exc
    if audit:
        audit_access(instance)  # every read of a record passes here, so every read is on the trail
    return instance
