"""Styled error pages: 403, 404 and 500 in the site's layout, never Django's bare ones."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client, RequestFactory

from clinic.views import error_500


def test_an_unknown_page_is_the_styled_404(clinician_client: Client) -> None:
    response = clinician_client.get("/no/such/page/")

    assert response.status_code == 404
    html = response.content.decode()
    assert "<h1>Not found</h1>" in html
    assert "app.css" in html and "topnav" in html


def test_another_clinics_patient_is_the_styled_404(login: Any, outsider: Any, patient: Any) -> None:
    response = login(outsider).get(patient.get_absolute_url())

    assert response.status_code == 404
    assert "belongs to a clinic you are not a member of" in response.content.decode()


def test_the_500_page_is_styled_and_needs_no_database(rf: RequestFactory) -> None:
    response = error_500(rf.get("/"))  # no db fixture: a query here would fail the test

    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html and "app.css" in html


@pytest.mark.django_db
def test_the_project_uses_these_handlers() -> None:
    from config import urls

    assert (urls.handler403, urls.handler404, urls.handler500) == (
        "clinic.views.error_403",
        "clinic.views.error_404",
        "clinic.views.error_500",
    )


def test_the_api_still_answers_json_for_a_missing_record(api_as: Any) -> None:
    response = api_as("clinician").get("/api/v1/patients/00000000-0000-0000-0000-000000000000/")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("application/json")
