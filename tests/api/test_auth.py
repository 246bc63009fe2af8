"""Tokens: obtained with username and password, revoked to log out; session auth still works."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from lesions.models import Patient
from tests.factories import PASSWORD


def _obtain(client: APIClient, username: str, password: str = PASSWORD, fmt: str = "json") -> Any:
    return client.post(reverse("api-token"), {"username": username, "password": password}, format=fmt)


def _with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.mark.parametrize("fmt", ["json", "multipart"])
def test_it_gives_a_token_for_username_and_password(clinician: Any, patient: Patient, fmt: str) -> None:
    response = _obtain(APIClient(), "clinician", fmt=fmt)

    assert response.status_code == 200
    key = response.json()["token"]
    assert Token.objects.get(user=clinician).key == key
    patients = _with_token(key).get(reverse("api-patient-list"))
    assert patients.status_code == 200
    assert patients.json()["results"][0]["id"] == str(patient.uuid)


def test_it_gives_the_same_token_until_it_is_revoked(clinician: Any) -> None:
    first = _obtain(APIClient(), "clinician").json()["token"]

    assert _obtain(APIClient(), "clinician").json()["token"] == first


@pytest.mark.parametrize(
    ("username", "password"), [("clinician", "wrong-password"), ("nobody", PASSWORD), ("clinician", "")]
)
def test_it_refuses_wrong_credentials(clinician: Any, username: str, password: str) -> None:
    response = _obtain(APIClient(), username, password)

    assert response.status_code == 400
    assert not Token.objects.exists()


def test_it_refuses_inactive_users(clinician: Any) -> None:
    clinician.is_active = False
    clinician.save()

    assert _obtain(APIClient(), "clinician").status_code == 400


@pytest.mark.parametrize("how", ["post-revoke", "delete-token"])
def test_a_revoked_token_answers_401(clinician: Any, how: str) -> None:
    key = _obtain(APIClient(), "clinician").json()["token"]
    client = _with_token(key)

    revoke = client.post if how == "post-revoke" else client.delete
    response = revoke(reverse("api-token-revoke" if how == "post-revoke" else "api-token"))

    assert response.status_code == 204
    assert not Token.objects.filter(key=key).exists()
    after = client.get(reverse("api-patient-list"))
    assert after.status_code == 401
    assert after.json()["detail"] == "Invalid token."


def test_a_new_login_after_revoking_gives_a_new_token_even_with_the_old_header(clinician: Any) -> None:
    old = _obtain(APIClient(), "clinician").json()["token"]
    client = _with_token(old)
    client.post(reverse("api-token-revoke"))

    response = _obtain(client, "clinician")  # still sending the revoked token

    assert response.status_code == 200
    assert response.json()["token"] != old
    assert _with_token(response.json()["token"]).get(reverse("api-patient-list")).status_code == 200


@pytest.mark.parametrize("method", ["post", "delete"])
def test_revoking_needs_authentication(method: str) -> None:
    url = reverse("api-token-revoke") if method == "post" else reverse("api-token")

    response = getattr(APIClient(), method)(url)

    assert response.status_code == 401


def test_a_malformed_token_header_answers_401(db: None) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not a token")

    assert client.get(reverse("api-patient-list")).status_code == 401


def test_the_browsable_api_works_with_a_session(client: Client, clinician: Any, patient: Patient) -> None:
    client.force_login(clinician)

    as_json = client.get(reverse("api-patient-list"))
    as_html = client.get(reverse("api-patient-list"), HTTP_ACCEPT="text/html")

    assert as_json.status_code == 200
    assert as_json.json()["count"] == 1
    assert as_html.status_code == 200
    assert b"Hale" in as_html.content


def test_session_callers_can_revoke_their_token(client: Client, clinician: Any) -> None:
    key = _obtain(APIClient(), "clinician").json()["token"]
    csrf_client = Client(enforce_csrf_checks=False)
    csrf_client.force_login(clinician)

    response = csrf_client.post(reverse("api-token-revoke"))

    assert response.status_code == 204
    assert not Token.objects.filter(key=key).exists()
