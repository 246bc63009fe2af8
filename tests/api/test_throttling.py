"""Per-user and anonymous request rates: configured from the environment, enforced with 429."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from tests.helpers import token_client

BASE_DIR = Path(__file__).resolve().parents[2]


def test_every_view_is_throttled_per_user_and_per_anonymous_address() -> None:
    config = settings.REST_FRAMEWORK

    assert config["DEFAULT_THROTTLE_CLASSES"] == [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ]
    assert set(config["DEFAULT_THROTTLE_RATES"]) == {"anon", "user"}


def test_the_rates_come_from_the_environment() -> None:
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.REST_FRAMEWORK['DEFAULT_THROTTLE_RATES'])"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "API_THROTTLE_USER": "7/min",
        "API_THROTTLE_ANON": "3/hour",
    }

    output = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=BASE_DIR, capture_output=True, text=True, check=True
    )

    assert output.stdout.strip() == "{'anon': '3/hour', 'user': '7/min'}"


@pytest.fixture
def tiny_rates(monkeypatch: pytest.MonkeyPatch) -> None:
    # DRF reads the rates once, into the throttle class: override them there.
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"user": "3/min", "anon": "2/min"})


def test_a_user_over_the_rate_gets_429(tiny_rates: None, clinician: Any, outsider: Any) -> None:
    client = token_client(clinician)
    url = reverse("api-patient-list")

    statuses = [client.get(url).status_code for _ in range(4)]
    other_user = token_client(outsider).get(url)

    assert statuses == [200, 200, 200, 429]
    response = client.get(url)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert other_user.status_code == 200  # counted per user


def test_anonymous_callers_over_the_rate_get_429(tiny_rates: None, clinician: Any) -> None:
    client = APIClient()
    url = reverse("api-token")
    body = {"username": "clinician", "password": "wrong"}

    statuses = [client.post(url, body, format="json").status_code for _ in range(3)]

    assert statuses == [400, 400, 429]  # password guessing is slowed down too


def test_a_forged_forwarded_for_does_not_reset_the_anonymous_rate(tiny_rates: None, clinician: Any) -> None:
    client = APIClient()
    url = reverse("api-token")
    body = {"username": "clinician", "password": "wrong"}

    statuses = [
        client.post(url, body, format="json", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(3)
    ]

    assert statuses == [400, 400, 429]


def test_behind_a_trusted_proxy_anonymous_clients_are_counted_apart(
    tiny_rates: None, clinician: Any, settings: Any
) -> None:
    settings.TRUSTED_PROXY_COUNT = 1
    client = APIClient(REMOTE_ADDR="10.0.0.2")
    url = reverse("api-token")
    body = {"username": "clinician", "password": "wrong"}

    first = [client.post(url, body, format="json", HTTP_X_FORWARDED_FOR="203.0.113.1").status_code for _ in range(3)]
    second = client.post(url, body, format="json", HTTP_X_FORWARDED_FOR="203.0.113.2").status_code

    assert first == [400, 400, 429]
    assert second == 400
