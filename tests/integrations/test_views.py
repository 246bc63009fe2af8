"""A clinic admin's integration pages: list, create (the secret shown once), revoke; clinicians get 403,
other clinics' clients are neither listed nor revocable (404), every create and revoke is audited."""

from __future__ import annotations

from typing import Any

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import AccessToken, Application

from clinic.models import Clinic, Membership
from integrations.models import IntegrationClient
from tests.factories import member
from tests.helpers import bearer_client, client_token, integration_client

LIST = reverse("integration-clients")


def revoke_url(client: IntegrationClient) -> str:
    return reverse("integration-client-revoke", kwargs={"uuid": client.uuid})


def create(browser: Client, clinic: Clinic, name: str = "Hospital interface engine", **data: Any) -> Any:
    form = {"clinic": str(clinic.pk), "name": name, "scopes": ["system/Patient.rs", "system/Observation.rs"], **data}
    return browser.post(LIST, form)


@pytest.mark.parametrize("caller", ["clinician", "outsider"])
def test_a_clinician_cannot_see_or_change_clients(
    login: Any, request: pytest.FixtureRequest, clinic: Clinic, caller: str
) -> None:
    client, _ = integration_client(clinic, "system/Patient.rs")
    browser = login(request.getfixturevalue(caller))

    assert browser.get(LIST).status_code == 403
    assert create(browser, clinic).status_code == 403
    assert browser.post(revoke_url(client)).status_code == 403
    assert IntegrationClient.objects.get().is_active
    assert IntegrationClient.objects.count() == 1


def test_anonymous_is_sent_to_the_login(client: Client, db: None) -> None:
    response = client.get(LIST)

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_an_admin_lists_their_clinics_clients_only(
    login: Any, clinic_admin: Any, clinic: Clinic, other_clinic: Clinic
) -> None:
    ours, _ = integration_client(clinic, "system/Patient.rs", name="Our engine")
    theirs, _ = integration_client(other_clinic, "system/Patient.rs", name="Their engine")

    response = login(clinic_admin).get(LIST)

    assert response.status_code == 200
    page = response.content.decode()
    assert "Our engine" in page and ours.client_id in page and "system/Patient.rs" in page and "never" in page
    assert "Their engine" not in page and theirs.client_id not in page
    assert b"Integrations" in response.content  # the nav link, for admins


def test_creating_shows_the_secret_once_and_it_works(login: Any, clinic_admin: Any, clinic: Clinic) -> None:
    browser = login(clinic_admin)

    response = create(browser, clinic)

    assert response.status_code == 201
    client = IntegrationClient.objects.get()
    secret = response.context["secret"]
    assert secret in response.content.decode() and client.client_id in response.content.decode()
    assert (client.clinic, client.name, client.created_by) == (clinic, "Hospital interface engine", clinic_admin)
    assert client.scope == "system/Patient.rs system/Observation.rs"
    assert secret not in browser.get(LIST).content.decode()
    assert client_token(client.client_id, secret).status_code == 200
    # its service user: a clinician of that clinic only, who cannot log in
    membership = Membership.objects.get(user=client.service_user)
    assert (membership.clinic, membership.role) == (clinic, Membership.Role.CLINICIAN)
    assert not client.service_user.has_usable_password()
    assert not client.service_user.is_staff


@pytest.mark.parametrize(
    ("data", "field"),
    [({"scopes": []}, "scopes"), ({"scopes": ["system/Encounter.rs"]}, "scopes"), ({"name": "  "}, "name")],
)
def test_a_bad_form_is_a_400_naming_the_field_and_stores_nothing(
    login: Any, clinic_admin: Any, clinic: Clinic, data: dict[str, Any], field: str
) -> None:
    response = create(login(clinic_admin), clinic, **data)

    assert response.status_code == 400
    assert response.context["form"].errors[field]
    assert not IntegrationClient.objects.exists()
    assert not Application.objects.exists()


def test_an_admin_cannot_create_a_client_for_another_clinic(
    login: Any, clinic_admin: Any, clinic: Clinic, other_clinic: Clinic
) -> None:
    response = create(login(clinic_admin), other_clinic)

    assert response.status_code == 400
    assert response.context["form"].errors["clinic"]
    assert not IntegrationClient.objects.exists()


def test_revoking_deletes_the_tokens_and_the_id_stops_working(login: Any, clinic_admin: Any, clinic: Clinic) -> None:
    api = bearer_client(clinic, "system/Patient.rs")
    client = IntegrationClient.objects.get()
    assert AccessToken.objects.filter(application=client.application).exists()

    response = login(clinic_admin).post(revoke_url(client))

    assert response.status_code == 302
    client.refresh_from_db()
    assert not client.is_active and client.revoked_by == clinic_admin
    assert not AccessToken.objects.exists() and not Application.objects.exists()
    assert not Membership.objects.filter(user=client.service_user).exists()
    assert api.get("/fhir/Patient").status_code == 401
    assert "revoked" in login(clinic_admin).get(LIST).content.decode()


def test_another_clinics_client_cannot_be_revoked(login: Any, clinic_admin: Any, other_clinic: Clinic) -> None:
    client, _ = integration_client(other_clinic, "system/Patient.rs")

    response = login(clinic_admin).post(revoke_url(client))

    assert response.status_code == 404
    client.refresh_from_db()
    assert client.is_active


def test_revoke_answers_post_only(login: Any, clinic_admin: Any, clinic: Clinic) -> None:
    client, _ = integration_client(clinic, "system/Patient.rs")

    assert login(clinic_admin).get(revoke_url(client)).status_code == 405
    client.refresh_from_db()
    assert client.is_active


def test_creating_and_revoking_are_on_the_clinics_audit_trail(login: Any, clinic_admin: Any, clinic: Clinic) -> None:
    browser = login(clinic_admin)
    create(browser, clinic)
    client = IntegrationClient.objects.get()
    browser.post(revoke_url(client))

    entries = LogEntry.objects.get_for_object(client).order_by("pk")
    assert [entry.action for entry in entries] == [LogEntry.Action.CREATE, LogEntry.Action.UPDATE]
    assert all(entry.actor == clinic_admin for entry in entries)
    assert all(entry.additional_data == {"clinic_id": clinic.pk} for entry in entries)
    assert "Hospital interface engine" in browser.get(reverse("audit-trail")).content.decode()


def test_an_admin_of_two_clinics_picks_the_clinic(
    login: Any, clinic_admin: Any, clinic: Clinic, other_clinic: Clinic
) -> None:
    member_of_both = member(other_clinic, clinic_admin.username, Membership.Role.ADMIN)

    response = create(login(member_of_both), other_clinic)

    assert response.status_code == 201
    assert IntegrationClient.objects.get().clinic == other_clinic
