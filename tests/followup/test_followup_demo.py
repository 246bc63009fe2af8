"""The seeded demo shows a real follow-up: Margaret Hale's lesion has three visits."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from followup.management.commands.seed_demo import DEMO_PASSWORD
from lesions.models import Lesion, Patient
from ml.models import Prediction

pytestmark = pytest.mark.django_db


def demo_lesion() -> Lesion:
    patient = Patient.objects.get(medical_record_number="RD-1001", first_name="Margaret", last_name="Hale")
    return max(patient.lesions.all(), key=lambda lesion: lesion.images.values("visit").distinct().count())


def logged_in_as_ben(client: Client) -> Client:
    response = client.post(reverse("login"), {"username": "dr.ben", "password": DEMO_PASSWORD})
    assert response.status_code == 302
    return client


def test_margaret_hales_lesion_has_three_visits_and_its_pages_render_without_a_model(client: Client) -> None:
    call_command("seed_demo", stdout=StringIO())
    lesion = demo_lesion()
    client = logged_in_as_ben(client)

    history = client.get(lesion.get_absolute_url())
    compare = client.get(reverse("lesion-compare", args=[lesion.uuid]))
    patient_page = client.get(lesion.patient.get_absolute_url())

    assert len(history.context["timeline"]) >= 3
    assert "There are no analyses of this lesion yet" in history.content.decode()
    assert compare.status_code == 200
    assert compare.context["a"].date < compare.context["b"].date
    assert compare.content.decode().count("no model is installed") == 2
    assert len(patient_page.context["markers"]) == lesion.patient.lesions.count()


@pytest.mark.usefixtures("tiny_weights_dir")
@pytest.mark.slow
def test_with_a_model_the_demo_history_has_a_trend_and_a_comparison(
    client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # the analyses queued on commit, run eagerly
        call_command("seed_demo", stdout=StringIO())
    lesion = demo_lesion()
    assert not Prediction.objects.exclude(status=Prediction.Status.DONE).exists()
    client = logged_in_as_ben(client)

    history = client.get(lesion.get_absolute_url())
    compare = client.get(reverse("lesion-compare", args=[lesion.uuid]))

    trend = history.context["trend"]
    assert len(trend["labels"]) >= 3
    assert all(value is not None for value in trend["series"][-1]["values"])
    assert history.context["analysed_count"] >= 3
    html = compare.content.decode()
    assert html.count('<li class="bar') == 14
    assert len(compare.context["differences"]) == 8
