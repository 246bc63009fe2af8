"""Pages that the other browser tests do not visit still work under the Content-Security-Policy.

The ``page`` fixture fails a test on any script error and on anything the policy blocked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from tests.factories import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_patient_list_and_forms_work_under_the_policy(
    page: Any, log_in: Callable[[Any], None], clinician: Any, patient: Any
) -> None:
    log_in(clinician)
    response = page.goto("/patients/")

    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "no-store" in response.headers["cache-control"]
    page.get_by_role("link", name="Hale, Margaret").click()
    page.wait_for_url(f"**/patients/{patient.uuid}/")
    page.goto(f"/patients/{patient.uuid}/visits/new/")
    page.wait_for_selector("input[type=file]")


def test_the_api_docs_render_under_the_policy(page: Any) -> None:
    page.goto("/api/v1/docs/")

    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    assert page.locator(".swagger-ui .opblock").count() > 5


def test_the_admin_works_under_the_policy(page: Any, db: None) -> None:
    get_user_model().objects.create_superuser("root", "root@example.org", PASSWORD)
    page.goto("/admin/login/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.locator("input[type=submit]").click()
    page.wait_for_url("**/admin/")
    page.goto("/admin/lesions/patient/add/")
    page.wait_for_selector("#patient_form")
