"""The token endpoint (/oauth/token/): client credentials by HTTP Basic or in the body, scopes within
the client's grant, secrets hashed, no refresh token; a client's failed authentications pause that
client only, never a user's login, and a user lockout never stops a client."""

from __future__ import annotations

from typing import Any

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import AccessToken, Application

from clinic.models import Clinic
from integrations.services import integration_client_revoke
from tests.factories import PASSWORD
from tests.helpers import basic_auth, client_token, integration_client, token_request


def test_a_client_gets_a_bearer_token_for_its_scopes_by_http_basic(clinic: Clinic) -> None:
    client, secret = integration_client(clinic, "system/Patient.rs system/Observation.rs")

    response = client_token(client.client_id, secret)

    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"].split() == ["system/Patient.rs", "system/Observation.rs"]
    assert "refresh_token" not in body
    assert "no-store" in response["Cache-Control"]
    token = AccessToken.objects.get()
    assert token.application == client.application
    assert body["access_token"] not in {token.token, token.token_checksum}  # stored hashed only
    assert token.user is None  # the client acts as its service user on the FHIR views


def test_a_client_can_send_its_credentials_in_the_body(clinic: Clinic) -> None:
    client, secret = integration_client(clinic, "system/Patient.rs")

    response = token_request(
        {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret}
    )

    assert response.status_code == 200
    assert response.json()["scope"] == "system/Patient.rs"


def test_the_secret_is_kept_only_as_a_hash(clinic: Clinic) -> None:
    _, secret = integration_client(clinic, "system/Patient.rs")

    stored = Application.objects.get().client_secret
    assert stored != secret
    assert check_password(secret, stored)


@pytest.mark.parametrize("scope", ["system/Patient.crs", "system/Observation.rs", "patient/Patient.rs", "openid"])
def test_a_scope_beyond_the_grant_is_refused(clinic: Clinic, scope: str) -> None:
    client, secret = integration_client(clinic, "system/Patient.rs")

    response = client_token(client.client_id, secret, scope=scope)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert not AccessToken.objects.exists()


def test_a_wildcard_grant_covers_a_narrower_scope(clinic: Clinic) -> None:
    client, secret = integration_client(clinic, "system/*.rs")

    response = client_token(client.client_id, secret, scope="system/Observation.r system/Patient.rs")

    assert response.status_code == 200
    assert response.json()["scope"] == "system/Observation.r system/Patient.rs"


@pytest.mark.parametrize("grant_type", ["password", "authorization_code", "refresh_token", ""])
def test_only_client_credentials_are_served(clinic: Clinic, grant_type: str) -> None:
    client, secret = integration_client(clinic, "system/Patient.rs")

    response = token_request({"grant_type": grant_type}, HTTP_AUTHORIZATION=basic_auth(client.client_id, secret))

    assert response.status_code == 400
    assert response.json()["error"] == "unsupported_grant_type"


def test_a_wrong_secret_is_a_401(clinic: Clinic) -> None:
    client, _ = integration_client(clinic, "system/Patient.rs")

    response = client_token(client.client_id, "wrong")

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    assert not AccessToken.objects.exists()


@pytest.mark.parametrize(
    "authorization",
    ["", "Basic !!!", "Basic " + "w7/Dvw==", "Bearer abc"],
    ids=["none", "not-base64", "not-utf8", "bearer"],
)
def test_missing_or_malformed_credentials_are_a_401(db: None, authorization: str) -> None:
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}

    response = token_request({"grant_type": "client_credentials"}, **headers)

    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


@pytest.mark.parametrize("field", ["client_id", "client_secret", "scope", "grant_type"])
def test_a_nul_in_a_parameter_is_a_400(clinic: Clinic, field: str) -> None:
    client, secret = integration_client(clinic, "system/Patient.rs")
    data = {"grant_type": "client_credentials", "client_id": client.client_id, "client_secret": secret}
    data[field] = data.get(field, "system/Patient.rs") + "\x00"

    response = token_request(data)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert not AccessToken.objects.exists()


def test_a_nul_in_the_basic_client_id_is_a_400(db: None) -> None:
    response = token_request({"grant_type": "client_credentials"}, HTTP_AUTHORIZATION=basic_auth("ab\x00c", "x"))

    assert response.status_code == 400


def test_a_revoked_client_gets_no_token(clinic: Clinic) -> None:
    client, secret = integration_client(clinic, "system/Patient.rs")
    integration_client_revoke(client=client, revoked_by=None)

    response = client_token(client.client_id, secret)

    assert response.status_code == 401


# --- lockouts: clients and users apart -------------------------------------------------------


def fail(client_id: str, times: int) -> None:
    for _ in range(times):
        assert client_token(client_id, "wrong").status_code == 401


def test_bad_secrets_lock_out_that_client_only(clinic: Clinic) -> None:
    locked, locked_secret = integration_client(clinic, "system/Patient.rs", name="Engine A")
    other, other_secret = integration_client(clinic, "system/Patient.rs", name="Engine B")

    fail(locked.client_id, settings.OAUTH_CLIENT_FAILURE_LIMIT)
    refused = client_token(locked.client_id, locked_secret)

    assert refused.status_code == 429
    assert int(refused["Retry-After"]) == int(settings.OAUTH_CLIENT_COOLOFF.total_seconds())
    assert client_token(other.client_id, other_secret).status_code == 200


def test_a_good_secret_before_the_limit_forgets_the_failures(clinic: Clinic) -> None:
    client, secret = integration_client(clinic, "system/Patient.rs")

    fail(client.client_id, settings.OAUTH_CLIENT_FAILURE_LIMIT - 1)
    assert client_token(client.client_id, secret).status_code == 200
    fail(client.client_id, settings.OAUTH_CLIENT_FAILURE_LIMIT - 1)

    assert client_token(client.client_id, secret).status_code == 200


def test_a_clients_failures_never_lock_out_a_user(clinic: Clinic, clinician: Any) -> None:
    client, _ = integration_client(clinic, "system/Patient.rs")

    fail(client.client_id, settings.OAUTH_CLIENT_FAILURE_LIMIT)
    for _ in range(settings.AXES_FAILURE_LIMIT):  # on past the client's lockout
        assert client_token(client.client_id, "wrong").status_code == 429
    login = Client().post(reverse("login"), {"username": clinician.username, "password": PASSWORD})
    api_login = Client().post(reverse("api-token"), {"username": clinician.username, "password": PASSWORD})

    assert not AccessAttempt.objects.exists()
    assert login.status_code == 302
    assert api_login.status_code == 200


def test_a_locked_out_address_and_user_never_stop_a_client(clinic: Clinic, clinician: Any) -> None:
    client, secret = integration_client(clinic, "system/Patient.rs")
    browser = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        browser.post(reverse("login"), {"username": clinician.username, "password": "wrong"})
    assert Client().post(reverse("login"), {"username": clinician.username, "password": PASSWORD}).status_code != 302

    # the same address (the test client's 127.0.0.1) as the locked-out logins
    response = client_token(client.client_id, secret)

    assert response.status_code == 200
