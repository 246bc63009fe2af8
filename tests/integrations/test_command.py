"""``manage.py integration_client``: create prints the secret once, list shows no secret, revoke works."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from clinic.models import Clinic
from integrations.models import IntegrationClient
from tests.helpers import client_token


def run(*args: str) -> str:
    out = StringIO()
    call_command("integration_client", *args, stdout=out)
    return out.getvalue()


def test_create_list_and_revoke(clinic: Clinic) -> None:
    created = json.loads(run("create", "--clinic", clinic.name, "--name", "Engine", "--scope", "system/Patient.rs"))

    assert created["token_endpoint"] == "/oauth/token/"
    assert client_token(created["client_id"], created["client_secret"]).status_code == 200
    listed = [json.loads(line) for line in run("list", "--clinic", str(clinic.uuid)).splitlines()]
    assert [(c["client_id"], c["scope"]) for c in listed] == [(created["client_id"], "system/Patient.rs")]
    assert "client_secret" not in listed[0]

    assert "Revoked Engine" in run("revoke", created["client_id"])
    assert not IntegrationClient.objects.get().is_active
    assert client_token(created["client_id"], created["client_secret"]).status_code == 401


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--clinic", "Nowhere", "--scope", "system/Patient.rs"], "0 clinics are named 'Nowhere'"),
        (["--clinic", "Riverside Test Clinic", "--scope", "system/Patient.write"], "scope: 'system/Patient.write'"),
    ],
)
def test_create_names_what_is_wrong(clinic: Clinic, args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("create", "--name", "Engine", *args)
    assert not IntegrationClient.objects.exists()
