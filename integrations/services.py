"""Creating and revoking integration clients (a clinic admin's pages call these)."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from oauth2_provider.generators import generate_client_secret
from oauth2_provider.models import AccessToken, Application, RefreshToken

from clinic.models import Clinic, Membership
from integrations import scopes
from integrations.models import IntegrationClient


def integration_client_create(
    *, clinic: Clinic, name: str, scope: str, created_by: Any
) -> tuple[IntegrationClient, str]:
    """A new client of ``clinic`` with the SMART scopes ``scope``: the row and its secret, shown only now.

    django-oauth-toolkit stores the secret hashed. Raises ``ValidationError`` for a bad name or scope.
    """
    name = name.strip()
    if not name:
        raise ValidationError({"name": "A client needs a name."})
    try:
        granted = scopes.parse_scopes(scope)
    except scopes.ScopeInvalid as exc:
        raise ValidationError({"scope": str(exc)}) from exc
    if not granted:
        raise ValidationError({"scope": "A client needs at least one scope."})
    secret = generate_client_secret()
    with transaction.atomic():
        service_user = get_user_model()(
            username=f"integration-{uuid.uuid4().hex[:16]}", first_name=name[:150], last_name="(integration)"
        )
        service_user.set_unusable_password()  # acts only through its client's tokens, never logs in
        service_user.save()
        Membership.objects.create(user=service_user, clinic=clinic, role=Membership.Role.CLINICIAN)
        application = Application(
            name=name,
            client_type=Application.CLIENT_CONFIDENTIAL,
            authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
            client_secret=secret,
            hash_client_secret=True,
        )
        application.save()
        client = IntegrationClient.objects.create(
            clinic=clinic,
            name=name,
            application=application,
            client_id=application.client_id,
            scope=" ".join(str(s) for s in granted),
            service_user=service_user,
            created_by=created_by,
        )
    return client, secret


def integration_client_revoke(*, client: IntegrationClient, revoked_by: Any) -> int:
    """Revoke ``client``: its tokens deleted, its id no longer authenticates; returns how many tokens went."""
    with transaction.atomic():
        client = IntegrationClient.objects.select_for_update().get(pk=client.pk)
        if not client.is_active:
            return 0
        application = client.application
        client.application = None
        client.revoked_at = timezone.now()
        client.revoked_by = revoked_by
        client.save()
        deleted = 0
        if application is not None:
            RefreshToken.objects.filter(application=application).delete()
            deleted, _ = AccessToken.objects.filter(application=application).delete()
            application.delete()
        Membership.objects.filter(user=client.service_user).delete()
        service_user = client.service_user
        service_user.is_active = False
        service_user.save(update_fields=["is_active"])
    return deleted
