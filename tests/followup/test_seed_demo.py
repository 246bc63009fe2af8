from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db.models import Count
from django.test import Client
from django.urls import reverse

from clinic.models import Clinic, Membership
from followup.management.commands.seed_demo import DEMO_PASSWORD
from lesions.models import Lesion, LesionImage, Patient, Visit

pytestmark = pytest.mark.django_db


def seed(*args: str) -> str:
    out = StringIO()
    call_command("seed_demo", *args, stdout=out)
    return out.getvalue()


def test_it_creates_the_demo_and_prints_the_logins(media_files: Any) -> None:
    output = seed()

    for username in ("dr.ada", "dr.ben", "dr.cara"):
        assert f"{username}" in output
    assert DEMO_PASSWORD in output
    assert "Log in at http://127.0.0.1:8000/ with:" in output
    assert "Log in at http://0.0.0.0:8080/ with:" in seed("--url", "http://0.0.0.0:8080/")
    assert "No trained model" in output  # the tests' weights folder is empty
    assert "No segmentation model installed: lesions are not outlined or measured." in output
    assert set(Clinic.objects.values_list("name", flat=True)) == {"Riverside Dermatology", "Hillview Skin Clinic"}
    assert get_user_model().objects.count() == 3
    assert Membership.objects.filter(role=Membership.Role.ADMIN).count() == 1
    assert Patient.objects.count() == 7
    assert not Patient.objects.annotate(n=Count("lesions")).filter(n=0).exists()
    assert Lesion.objects.annotate(n=Count("images__visit", distinct=True)).filter(n__gte=3).exists()
    assert len(media_files()) == 2 * LesionImage.objects.count() > 0  # each photo and its thumbnail


def test_it_keeps_each_visit_in_the_patients_clinic() -> None:
    seed()

    for visit in Visit.objects.select_related("patient", "clinician"):
        assert visit.clinician.memberships.filter(clinic=visit.patient.clinic).exists()


def test_running_it_twice_does_not_duplicate(media_files: Any) -> None:
    seed()
    counts = (Patient.objects.count(), Lesion.objects.count(), Visit.objects.count(), LesionImage.objects.count())

    output = seed()

    assert "already exist" in output
    assert (Patient.objects.count(), Lesion.objects.count(), Visit.objects.count(), LesionImage.objects.count()) == (
        counts
    )
    assert len(media_files()) == 2 * counts[3]
    assert get_user_model().objects.count() == 3


def test_a_demo_clinician_logs_in_and_sees_their_patients(client: Client) -> None:
    seed()

    response = client.post(reverse("login"), {"username": "dr.cara", "password": DEMO_PASSWORD}, follow=True)

    assert response.redirect_chain[-1][0] == reverse("patient-list")
    html = response.content.decode()
    assert "Baxter, George" in html
    assert "Haddad, Amira" in html
    assert "Hale" not in html  # a patient of the other clinic


def test_with_models_every_demo_photo_is_outlined_and_no_closed_lesion_or_change_of_magnification_is_flagged(
    tiny_weights_dir: Any, segmenter: Any, django_capture_on_commit_callbacks: Any
) -> None:
    # One seeding for both checks: with the models installed it aligns every follow-up photo (~15 s).
    from followup.models import LesionFlag, PhotoAlignment
    from ml.models import LesionOutline

    with django_capture_on_commit_callbacks(execute=True):  # the queued work runs where a commit would
        output = seed()

    assert "Lesion outlines and measurements: dark_spot" in output
    outlines = LesionOutline.objects.all()
    assert outlines.count() == LesionImage.objects.count() > 0
    assert all(outline.status == LesionOutline.Status.DONE for outline in outlines)

    closed = Lesion.objects.filter(status__in=[Lesion.Status.EXCISED, Lesion.Status.RESOLVED])
    assert closed.exists()
    assert not LesionFlag.objects.filter(lesion__in=closed, status=LesionFlag.Status.OPEN).exists()
    benign = Lesion.objects.filter(diagnosis__in=["nv", "bkl", "df", "vasc"], diagnosis_confirmation="histo")
    assert not LesionFlag.objects.filter(lesion__in=benign, status=LesionFlag.Status.OPEN).exists()
    # The demo's follow-ups are real re-captures at other magnifications: none is taken for growth.
    assert PhotoAlignment.objects.exclude(status=PhotoAlignment.Status.NOT_NEEDED).exists()
    assert not LesionFlag.objects.filter(code=LesionFlag.Code.GROWTH).exists()
