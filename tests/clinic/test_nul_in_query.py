"""A NUL character in a query parameter is a 400 with a message, on pages and in the API, never a 500."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from clinic.auth import api_token_create
from clinic.middleware import NUL_MESSAGE


@pytest.mark.django_db
def test_a_page_search_with_nul_is_refused(clinician_client: Client) -> None:
    response = clinician_client.get(reverse("patient-list"), {"q": "ada\x00"})

    assert response.status_code == 400
    assert NUL_MESSAGE in response.content.decode()


@pytest.mark.django_db
def test_an_api_search_with_nul_is_refused(client: Client, clinician) -> None:
    _, token = api_token_create(user=clinician)
    # The request schemathesis found: GET /api/v1/patients/?search=%00...&page=1418043
    response = client.get(
        "/api/v1/patients/?search=%00%F4%87%B1%A7%F1%B7%88%A8%C2%B2&page=1418043",
        HTTP_AUTHORIZATION=f"Token {token}",
    )

    assert response.status_code == 400
    assert response.json() == {"detail": NUL_MESSAGE}


@pytest.mark.django_db
def test_a_nul_in_a_parameter_name_is_refused_too(clinician_client: Client) -> None:
    assert clinician_client.get(reverse("patient-list") + "?a%00b=1").status_code == 400


@pytest.mark.django_db
def test_ordinary_searches_still_work(clinician_client: Client) -> None:
    assert clinician_client.get(reverse("patient-list"), {"q": "ada"}).status_code == 200
