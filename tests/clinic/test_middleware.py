"""Every response: the client's address behind trusted proxies, no caching of patient data, the CSP."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from clinic.middleware import client_address
from tests.helpers import token_client


def meta(peer: str, forwarded: str | None = None) -> dict[str, str]:
    return {"REMOTE_ADDR": peer, **({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {})}


def test_without_trusted_proxies_the_peer_is_the_client_whatever_it_forwards() -> None:
    assert client_address(meta("10.1.2.3", "203.0.113.66"), 0) == "10.1.2.3"


def test_behind_one_proxy_the_entry_it_appended_is_the_client() -> None:
    assert client_address(meta("10.0.0.2", "1.2.3.4, 203.0.113.66"), 1) == "203.0.113.66"


def test_behind_two_proxies_the_entry_the_outer_one_appended_is_the_client() -> None:
    assert client_address(meta("10.0.0.3", "1.2.3.4, 203.0.113.66, 10.0.0.2"), 2) == "203.0.113.66"


def test_a_request_with_fewer_entries_than_proxies_counts_as_its_peer() -> None:
    assert client_address(meta("10.9.9.9"), 1) == "10.9.9.9"
    assert client_address(meta("10.9.9.9", "203.0.113.66"), 2) == "10.9.9.9"


@pytest.mark.parametrize("forwarded", ["not-an-ip<b>", "203.0.113.66:8080", ""])
def test_an_entry_that_is_not_an_address_is_not_trusted(forwarded: str) -> None:
    assert client_address(meta("10.0.0.2", forwarded), 1) == "10.0.0.2"


def test_addresses_are_normalised_and_garbage_peers_are_none() -> None:
    assert client_address(meta("2001:DB8::0001"), 0) == "2001:db8::1"
    assert client_address(meta("unix:/run/gunicorn.sock"), 0) is None


def cache_directives(response: Any) -> set[str]:
    return {part.strip() for part in response["Cache-Control"].split(",")}


def test_pages_with_patient_data_are_not_stored(clinician_client: Client, patient: Any) -> None:
    for url in (reverse("patient-list"), reverse("patient-detail", args=[patient.uuid])):
        response = clinician_client.get(url)
        assert response.status_code == 200
        assert "no-store" in cache_directives(response)


def test_api_answers_with_patient_data_are_not_stored(clinician: Any, patient: Any) -> None:
    response = token_client(clinician).get(reverse("api-patient-detail", args=[patient.uuid]))

    assert response.status_code == 200
    assert "no-store" in cache_directives(response)


def test_photo_and_heatmap_files_are_not_stored(clinician_client: Client, clinician: Any, prediction: Any) -> None:
    responses = [
        clinician_client.get(reverse("lesion-image-file", args=[prediction.image.uuid])),
        clinician_client.get(reverse("prediction-heatmap", args=[prediction.uuid])),
        token_client(clinician).get(reverse("api-image-file", args=[prediction.image.uuid])),
        token_client(clinician).get(reverse("api-prediction-heatmap", args=[prediction.uuid])),
    ]

    for response in responses:
        assert response.status_code == 200
        assert "no-store" in cache_directives(response)
        assert "max-age=3600" not in response["Cache-Control"]


def test_pages_carry_a_content_security_policy_without_inline_script(clinician_client: Client) -> None:
    policy = clinician_client.get(reverse("patient-list"))["Content-Security-Policy"]

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["default-src"] == "'self'"
    assert directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in directives["style-src"]


@pytest.mark.parametrize("url_name", ["patient-list", "login"])
def test_no_page_has_an_inline_script(client: Client, clinician: Any, url_name: str) -> None:
    if url_name != "login":
        client.force_login(clinician)
    response = client.get(reverse(url_name))
    html = response.content.decode()

    assert response.status_code == 200 and "<script" in html
    for tag in html.split("<script")[1:]:
        opening = tag.split(">", 1)[0]
        assert "src=" in opening or 'type="application/json"' in opening, f"inline script: <script{opening}>"
