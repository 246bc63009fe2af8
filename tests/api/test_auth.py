"""Tokens: one per login (device), obtained with username and password, expiring, revoked to log out
or by a password change; a locked-out login answers 429; session auth still works."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import CONSTANTS
from rest_framework.test import APIClient

from lesions.models import Patient
from tests.factories import PASSWORD


def _obtain(client: APIClient, username: str, password: str = PASSWORD, fmt: str = "json") -> Any:
    return client.post(reverse("api-token"), {"username": username, "password": password}, format=fmt)


def _stored(key: str) -> Any:
    """The stored rows of a token (only its first characters and a hash are kept)."""
    return AuthToken.objects.filter(token_key=key[: CONSTANTS.TOKEN_KEY_LENGTH])


def _with_token(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.mark.parametrize("fmt", ["json", "multipart"])
def test_it_gives_a_token_for_username_and_password(clinician: Any, patient: Patient, fmt: str) -> None:
    response = _obtain(APIClient(), "clinician", fmt=fmt)

    assert response.status_code == 200
    key = response.json()["token"]
    assert _stored(key).get().user == clinician
    assert key not in {row.digest for row in AuthToken.objects.all()}  # only its hash is stored
    patients = _with_token(key).get(reverse("api-patient-list"))
    assert patients.status_code == 200
    assert patients.json()["results"][0]["id"] == str(patient.uuid)


def test_each_login_gets_its_own_token_so_each_device_logs_out_alone(clinician: Any) -> None:
    phone = _obtain(APIClient(), "clinician").json()["token"]
    tablet = _obtain(APIClient(), "clinician").json()["token"]

    assert phone != tablet
    assert _with_token(phone).post(reverse("api-token-revoke")).status_code == 204
    assert _with_token(phone).get(reverse("api-patient-list")).status_code == 401
    assert _with_token(tablet).get(reverse("api-patient-list")).status_code == 200


def test_the_token_expires_after_the_configured_time(clinician: Any, settings: Any) -> None:
    response = _obtain(APIClient(), "clinician").json()
    key = response["token"]
    expiry = dt.datetime.fromisoformat(response["expiry"].replace("Z", "+00:00"))
    assert abs(expiry - (timezone.now() + settings.REST_KNOX["TOKEN_TTL"])) < dt.timedelta(minutes=1)

    _stored(key).update(expiry=timezone.now() - dt.timedelta(seconds=1))

    after = _with_token(key).get(reverse("api-patient-list"))
    assert after.status_code == 401
    assert not _stored(key).exists()


def test_a_password_change_revokes_every_token_of_the_user(clinician: Any, outsider: Any) -> None:
    phone = _obtain(APIClient(), "clinician").json()["token"]
    tablet = _obtain(APIClient(), "clinician").json()["token"]
    elsewhere = _obtain(APIClient(), "outsider").json()["token"]

    clinician.set_password("a-new-password-2")
    clinician.save()

    assert _with_token(phone).get(reverse("api-patient-list")).status_code == 401
    assert _with_token(tablet).get(reverse("api-patient-list")).status_code == 401
    assert _with_token(elsewhere).get(reverse("api-patient-list")).status_code == 200
    assert _obtain(APIClient(), "clinician", "a-new-password-2").status_code == 200


def test_saving_a_user_without_a_new_password_keeps_the_tokens(clinician: Any) -> None:
    key = _obtain(APIClient(), "clinician").json()["token"]

    clinician.first_name = "Renamed"
    clinician.save()

    assert _with_token(key).get(reverse("api-patient-list")).status_code == 200


@pytest.mark.parametrize(
    ("username", "password"), [("clinician", "wrong-password"), ("nobody", PASSWORD), ("clinician", "")]
)
def test_it_refuses_wrong_credentials(clinician: Any, username: str, password: str) -> None:
    response = _obtain(APIClient(), username, password)

    assert response.status_code == 400
    assert not AuthToken.objects.exists()


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
    assert not _stored(key).exists()
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
    assert not _stored(key).exists()


def test_a_locked_out_login_answers_429_with_a_message(clinician: Any, settings: Any) -> None:
    client = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _obtain(client, "clinician", "wrong-password").status_code == 400

    locking = _obtain(client, "clinician", "wrong-password")
    locked = _obtain(client, "clinician")  # even the right password, now

    for response in (locking, locked):
        assert response.status_code == 429
        assert "Too many failed logins" in response.json()["detail"]
        assert int(response["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    assert not AuthToken.objects.exists()


def test_another_users_token_logins_do_not_clear_the_failures_against_a_username(
    clinician: Any, outsider: Any, settings: Any
) -> None:
    client = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _obtain(client, "clinician", "wrong-password").status_code == 400
        assert _obtain(client, "outsider").status_code == 200

    assert _obtain(client, "clinician", "wrong-password").status_code == 429
    assert _obtain(client, "clinician").status_code == 429
    assert not AuthToken.objects.filter(user=clinician).exists()


def test_a_token_login_clears_the_users_own_earlier_failures(clinician: Any, settings: Any) -> None:
    client = APIClient()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        _obtain(client, "clinician", "wrong-password")
    assert _obtain(client, "clinician").status_code == 200

    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _obtain(client, "clinician", "wrong-password").status_code == 400


def test_a_login_over_the_token_cap_revokes_the_users_oldest_token(
    clinician: Any, outsider: Any, settings: Any
) -> None:
    settings.API_TOKEN_LIMIT_PER_USER = 3
    others = _obtain(APIClient(), "outsider").json()["token"]
    keys = []
    for _ in range(4):
        response = _obtain(APIClient(), "clinician")
        assert response.status_code == 200  # a new login is never refused for the cap
        keys.append(response.json()["token"])

    url = reverse("api-patient-list")
    statuses = [_with_token(key).get(url).status_code for key in keys]

    assert statuses == [401, 200, 200, 200]  # the oldest went
    assert AuthToken.objects.filter(user=clinician).count() == 3
    assert _with_token(others).get(url).status_code == 200  # another user's tokens are not counted


@pytest.mark.django_db
def test_a_username_longer_than_any_account_s_is_a_400_not_a_database_error() -> None:
    from axes.models import AccessAttempt

    response = APIClient().post("/api/v1/auth/token/", {"username": "u" * 300, "password": "x"}, format="json")

    assert response.status_code == 400
    assert "username" in response.json()
    assert not AccessAttempt.objects.exists()  # refused before django-axes records the attempt
