"""``manage.py integration_client``: create, list or revoke a clinic's OAuth 2.0 clients from a shell.

The same services as the clinic admin's page (``/clinic/integrations/``); the secret is printed
once, in the JSON of ``create``, and kept only hashed.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.urls import reverse

from clinic.models import Clinic
from integrations import services
from integrations.models import IntegrationClient


def clinic_named(text: str) -> Clinic:
    try:
        return Clinic.objects.get(uuid=UUID(text))
    except ValueError:
        pass
    except Clinic.DoesNotExist as exc:
        raise CommandError(f"No clinic with the id {text}") from exc
    clinics = list(Clinic.objects.filter(name=text))
    if len(clinics) != 1:
        raise CommandError(f"{len(clinics)} clinics are named {text!r}: give the clinic's uuid")
    return clinics[0]


class Command(BaseCommand):
    help = "Create (prints the secret once), list or revoke integration clients (OAuth 2.0 client credentials)."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        create = actions.add_parser("create", help="a new client of a clinic")
        create.add_argument("--clinic", required=True, help="the clinic's name or uuid")
        create.add_argument("--name", required=True)
        create.add_argument("--scope", required=True, help='SMART v2 system scopes, e.g. "system/Patient.rs"')
        listing = actions.add_parser("list", help="every client, one JSON object a line")
        listing.add_argument("--clinic", help="the clinic's name or uuid")
        revoke = actions.add_parser("revoke", help="revoke a client (its tokens deleted)")
        revoke.add_argument("client_id")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        if action == "create":
            try:
                client, secret = services.integration_client_create(
                    clinic=clinic_named(options["clinic"]),
                    name=options["name"],
                    scope=options["scope"],
                    created_by=None,
                )
            except ValidationError as exc:
                raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())) from exc
            body = {**self.describe(client), "client_secret": secret, "token_endpoint": reverse("oauth-token")}
            self.stdout.write(json.dumps(body))
        elif action == "list":
            clients = IntegrationClient.objects.select_related("clinic")
            if options["clinic"]:
                clients = clients.filter(clinic=clinic_named(options["clinic"]))
            for client in clients:
                self.stdout.write(json.dumps(self.describe(client)))
        else:
            found = IntegrationClient.objects.filter(client_id=options["client_id"]).first()
            if found is None:
                raise CommandError(f"No client {options['client_id']}")
            tokens = services.integration_client_revoke(client=found, revoked_by=None)
            self.stdout.write(f"Revoked {found.name} ({found.client_id}); {tokens} token(s) deleted.")

    @staticmethod
    def describe(client: IntegrationClient) -> dict[str, Any]:
        return {
            "client_id": client.client_id,
            "name": client.name,
            "clinic": client.clinic.name,
            "scope": client.scope,
            "created": client.created_at.isoformat(),
            "last_used": client.last_used_at.isoformat() if client.last_used_at else None,
            "revoked": client.revoked_at.isoformat() if client.revoked_at else None,
        }
