"""A clinic admin makes an integration client in the browser, the system logs in with it over HTTP
(client credentials, then Bearer on /fhir/), and the admin revokes it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def http(url: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    body = urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_an_admin_creates_a_client_that_logs_in_and_then_revokes_it(
    page: Any, log_in: Callable[[Any], None], clinic_admin: Any, patient: Any, live_server: Any, screenshot: Any
) -> None:
    log_in(clinic_admin)
    page.get_by_role("link", name="Integrations").click()
    page.wait_for_url("**/clinic/integrations/")
    page.fill("#id_name", "Hospital interface engine")
    page.get_by_label("system/Patient.rs", exact=True).check()
    page.get_by_role("button", name="Create client").click()
    page.wait_for_selector("#client-secret")
    screenshot("integration-client-created")
    client_id = page.inner_text("#client-id")
    secret = page.inner_text("#client-secret")

    basic = b64encode(f"{client_id}:{secret}".encode()).decode()
    status, token = http(
        f"{live_server.url}/oauth/token/", {"grant_type": "client_credentials"}, {"Authorization": f"Basic {basic}"}
    )
    assert status == 200, token
    bearer = {"Authorization": f"Bearer {token['access_token']}"}
    status, bundle = http(f"{live_server.url}/fhir/Patient?identifier=RD-1001", headers=bearer)
    assert status == 200
    assert bundle["entry"][0]["resource"]["id"] == str(patient.uuid)

    page.get_by_role("link", name="Back to integrations").click()
    page.wait_for_url("**/clinic/integrations/")
    assert secret not in page.content()
    page.get_by_role("button", name="Revoke").click()
    page.wait_for_selector("text=is revoked")
    screenshot("integration-client-revoked")

    assert http(f"{live_server.url}/fhir/Patient", headers=bearer)[0] == 401
