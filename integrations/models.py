"""An integration: an OAuth 2.0 client (django-oauth-toolkit's Application) bound to one clinic.

Each client acts through its own service user, a member (clinician role) of its clinic that
cannot log in (no usable password, not staff): the FHIR views read ``request.user`` through the
one access check (``clinic.selectors``) like for any clinician, so a client sees its clinic's
records only, and the audit trail names the client's service user as the actor. What the
client may do on top of that is its SMART scopes (``integrations.scopes``).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models
from oauth2_provider.models import Application

from clinic.audit import ClinicAuditMixin
from clinic.models import Clinic, TimeStampedModel
from integrations import scopes

if TYPE_CHECKING:
    from django.contrib.auth.models import User


class IntegrationClient(ClinicAuditMixin, TimeStampedModel):
    CLINIC_PATH = "clinic"

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="integration_clients")
    name = models.CharField(max_length=100)
    # Removed on revocation (its tokens with it); the row stays, for the list and the audit trail.
    application = models.OneToOneField(
        Application, on_delete=models.SET_NULL, null=True, blank=True, related_name="integration"
    )
    client_id = models.CharField(max_length=100, unique=True)
    scope = models.TextField(help_text="The SMART v2 system scopes granted, space-separated.")
    service_user: models.OneToOneField[User, User] = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="integration_client"
    )
    created_by: models.ForeignKey[User | None, User | None] = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True, db_index=True)
    revoked_by: models.ForeignKey[User | None, User | None] = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["clinic", "name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(revoked_at__isnull=True) | models.Q(application__isnull=True),
                name="integration_revoked_has_no_application",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.client_id}) @ {self.clinic}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.application_id is not None

    @property
    def granted(self) -> list[scopes.Scope]:
        return scopes.parse_scopes(self.scope)
