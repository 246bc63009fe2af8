"""Lockout after repeated failed logins, per username and per address."""

from __future__ import annotations

import pytest
from django.urls import reverse

PASSWORD = "right-password-1"


@pytest.fixture
def doctor(clinician):
    clinician.set_password(PASSWORD)
    clinician.save()
    return clinician


def attempt(client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(reverse("login"), {"username": username, "password": password}, REMOTE_ADDR=address)


def test_a_correct_login_works(client, doctor):
    response = attempt(client, doctor.username, PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("patient-list")


def test_it_locks_the_account_after_the_configured_failures(client, doctor, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, doctor.username, "wrong").status_code == 200  # form error, still allowed
    response = attempt(client, doctor.username, "wrong")
    assert response.status_code == 429
    # now even the right password is refused, from any address
    locked = attempt(client, doctor.username, PASSWORD, address="10.9.9.9")
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    assert "_auth_user_id" not in client.session


def test_it_locks_an_address_that_tries_many_usernames(client, doctor, settings):
    for number in range(settings.AXES_FAILURE_LIMIT):
        attempt(client, f"guess{number}", "wrong", address="10.6.6.6")
    assert attempt(client, doctor.username, PASSWORD, address="10.6.6.6").status_code == 429
    assert attempt(client, doctor.username, PASSWORD, address="10.7.7.7").status_code == 302


def test_failures_below_the_limit_are_forgotten_after_a_success(client, doctor, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, doctor.username, "wrong")
    assert attempt(client, doctor.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, doctor.username, "wrong").status_code == 200


def test_another_users_good_logins_do_not_clear_the_failures_against_a_username(
    client, doctor, outsider, settings
) -> None:
    # The attack: wrong passwords for the victim, each followed by the attacker's own good login
    # from the same address, which must not wipe the victim's failures.
    outsider.set_password("attacker-password-1")
    outsider.save()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert attempt(client, doctor.username, "wrong").status_code == 200
        assert attempt(client, outsider.username, "attacker-password-1").status_code == 302
        client.logout()

    assert attempt(client, doctor.username, "wrong").status_code == 429
    assert attempt(client, doctor.username, PASSWORD, address="10.9.9.9").status_code == 429


def test_a_good_login_clears_only_the_users_own_failures(client, doctor, outsider, settings) -> None:
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        attempt(client, outsider.username, "wrong", address="10.2.2.2")
    assert attempt(client, doctor.username, PASSWORD, address="10.2.2.2").status_code == 302
    client.logout()

    assert attempt(client, outsider.username, "wrong", address="10.3.3.3").status_code == 429


def via_proxy(client, username: str, password: str, client_address: str):
    """A login through the README's nginx (10.0.0.2), which appends the client's address."""
    return client.post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR=f"198.51.100.1, {client_address}",
    )


def test_behind_a_trusted_proxy_each_client_address_is_locked_on_its_own(client, doctor, settings) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    for number in range(settings.AXES_FAILURE_LIMIT):
        via_proxy(client, f"guess{number}", "wrong", "203.0.113.5")

    assert via_proxy(client, doctor.username, PASSWORD, "203.0.113.5").status_code == 429
    assert via_proxy(client, doctor.username, PASSWORD, "203.0.113.77").status_code == 302


def test_without_a_trusted_proxy_a_forged_forwarded_for_does_not_escape_the_address_lock(
    client, doctor, settings
) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    for number in range(settings.AXES_FAILURE_LIMIT):
        via_proxy(client, f"guess{number}", "wrong", f"203.0.113.{number}")

    assert via_proxy(client, doctor.username, PASSWORD, "203.0.113.99").status_code == 429
