"""Which integration clients a user may manage: those of the clinics they administer."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from clinic.models import Clinic, Membership
from clinic.selectors import memberships_for_user
from integrations.models import IntegrationClient


def administered_clinics(user: Any) -> list[Clinic]:
    return [m.clinic for m in memberships_for_user(user).filter(role=Membership.Role.ADMIN).order_by("clinic__name")]


def clients_for_admin(user: Any) -> QuerySet[IntegrationClient]:
    clinic_ids = [clinic.pk for clinic in administered_clinics(user)]
    return IntegrationClient.objects.filter(clinic_id__in=clinic_ids).select_related("clinic", "created_by")


def client_for_admin_or_404(user: Any, uuid: Any) -> IntegrationClient:
    """A client of a clinic ``user`` administers, or 404 (another clinic's is not revealed)."""
    client = clients_for_admin(user).filter(uuid=uuid).first()
    if client is None:
        raise Http404("No such client")
    return client
