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
