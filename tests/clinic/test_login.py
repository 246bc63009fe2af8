from __future__ import annotations

from typing import Any

from django.test import Client
from django.urls import reverse

from tests.factories import PASSWORD


def test_it_logs_in_and_goes_to_the_patient_list(client: Client, clinician: Any) -> None:
    response = client.post(reverse("login"), {"username": clinician.username, "password": PASSWORD})

    assert response.status_code == 302
    assert response.url == reverse("patient-list")


def test_it_returns_to_the_page_asked_for(client: Client, clinician: Any, patient: Any) -> None:
    url = patient.get_absolute_url()

    response = client.post(
        f"{reverse('login')}?next={url}", {"username": clinician.username, "password": PASSWORD, "next": url}
    )

    assert response.url == url


def test_it_refuses_a_wrong_password(client: Client, clinician: Any) -> None:
    response = client.post(reverse("login"), {"username": clinician.username, "password": "wrong"})

    assert response.status_code == 200
    assert not response.wsgi_request.user.is_authenticated


def test_the_home_page_sends_anonymous_callers_to_log_in(client: Client) -> None:
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_logging_out_ends_the_session(clinician_client: Client) -> None:
    clinician_client.post(reverse("logout"))

    assert clinician_client.get(reverse("patient-list")).status_code == 302
