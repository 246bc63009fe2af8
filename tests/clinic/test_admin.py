"""The Django admin: every registered model's pages render for a superuser."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from tests.factories import LesionOutlineFactory, MembershipFactory, PredictionFactory, UserFactory
from tests.helpers import integration_client

PROJECT_APPS = {"clinic", "integrations", "lesions", "ml", "followup"}
REGISTERED = sorted(f"{model._meta.app_label}.{model._meta.model_name}" for model in admin.site._registry)


@pytest.fixture
def superuser_client(client: Client, db: None) -> Client:
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def records(lesion_image: Any) -> Any:
    """At least one row of every model of the project."""
    from followup.models import LesionFlag, PhotoAlignment
    from lesions.models import CaptureProfile

    MembershipFactory(clinic=lesion_image.lesion.patient.clinic)
    integration_client(lesion_image.lesion.patient.clinic, "system/Patient.rs")
    LesionOutlineFactory(image=lesion_image)
    CaptureProfile.objects.create(clinic=lesion_image.lesion.patient.clinic, name="Dermatoscope", field_of_view_mm=20)
    PhotoAlignment.objects.create(photo=lesion_image, reference=lesion_image, status="not_needed", quality=1.0)
    LesionFlag.objects.create(lesion=lesion_image.lesion, photo=lesion_image, code="growth", title="Grew +30%")
    return PredictionFactory(image=lesion_image)


def test_the_admin_covers_every_project_model() -> None:
    project = {label for label in REGISTERED if label.split(".")[0] in PROJECT_APPS}

    assert project == {
        "clinic.clinic",
        "clinic.membership",
        "integrations.integrationclient",
        "lesions.patient",
        "lesions.lesion",
        "lesions.visit",
        "lesions.lesionimage",
        "lesions.captureprofile",
        "ml.modelversion",
        "ml.prediction",
        "ml.lesionoutline",
        "followup.lesionflag",
        "followup.photoalignment",
    }


@pytest.mark.parametrize("label", REGISTERED)
def test_the_changelist_renders(superuser_client: Client, records: Any, label: str) -> None:
    app_label, model_name = label.split(".")

    response = superuser_client.get(reverse(f"admin:{app_label}_{model_name}_changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count >= (1 if app_label in PROJECT_APPS else 0)


@pytest.mark.parametrize("label", [label for label in REGISTERED if label.split(".")[0] in PROJECT_APPS])
def test_the_change_page_renders(superuser_client: Client, records: Any, label: str) -> None:
    app_label, model_name = label.split(".")
    model = next(m for m in admin.site._registry if m._meta.label_lower == label)

    response = superuser_client.get(
        reverse(f"admin:{app_label}_{model_name}_change", args=[model._default_manager.first().pk])
    )

    assert response.status_code == 200


def test_the_admin_is_closed_to_clinicians(clinician_client: Client) -> None:
    response = clinician_client.get(reverse("admin:lesions_patient_changelist"))

    assert response.status_code == 302
    assert response.url.startswith(reverse("admin:login"))
