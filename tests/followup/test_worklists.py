"""The clinic's worklists (followup.worklists): the page, the API, and the rules of what is due."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from followup.flags_sync import flag_review
from followup.models import LesionFlag
from followup.worklists import add_months, followups_due, histology_pending, next_followup
from lesions.models import Lesion, Patient
from tests.factories import LesionFactory, LesionImageFactory, PatientFactory, VisitFactory, visit_form_data
from tests.helpers import sample_photo, token_client

# --- the rules ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2026, 1, 31), 1, dt.date(2026, 2, 28)),  # a shorter month: its last day
        (dt.date(2024, 1, 31), 1, dt.date(2024, 2, 29)),  # leap year
        (dt.date(2026, 11, 15), 3, dt.date(2027, 2, 15)),  # over the year's end
        (dt.date(2026, 6, 30), 12, dt.date(2027, 6, 30)),
        (dt.date(2026, 12, 1), 24, dt.date(2028, 12, 1)),
    ],
)
def test_months_are_added_as_calendar_months(day: dt.date, months: int, expected: dt.date) -> None:
    assert add_months(day, months) == expected


def _seen(lesion: Lesion, day: dt.date) -> None:
    LesionImageFactory(lesion=lesion, visit=VisitFactory(patient=lesion.patient, date=day))


def test_a_follow_up_is_listed_from_two_weeks_before_it_is_due(patient: Patient) -> None:
    today = dt.date(2026, 12, 8)
    overdue = LesionFactory(patient=patient, label="overdue", followup_interval_months=3)
    _seen(overdue, dt.date(2026, 8, 1))  # due 2026-11-01
    soon = LesionFactory(patient=patient, label="soon", followup_interval_months=3)
    _seen(soon, dt.date(2026, 9, 20))  # due 2026-12-20, within 14 days
    later = LesionFactory(patient=patient, label="later", followup_interval_months=12)
    _seen(later, dt.date(2026, 8, 1))  # due 2027-08-01
    LesionFactory(patient=patient, label="no interval")
    excised = LesionFactory(patient=patient, label="excised", followup_interval_months=3, status="excised")
    _seen(excised, dt.date(2025, 1, 1))

    items = followups_due([patient.clinic], today=today)

    assert [(item.lesion.label, item.due, item.state) for item in items] == [
        ("overdue", dt.date(2026, 11, 1), "overdue"),
        ("soon", dt.date(2026, 12, 20), "due"),
    ]
    assert items[0].days_overdue == 37
    assert items[0].what == "3-month follow-up photo overdue by 37 days (last seen 2026-08-01)"


def test_the_last_visit_counts_not_the_first(patient: Patient) -> None:
    lesion = LesionFactory(patient=patient, followup_interval_months=3)
    _seen(lesion, dt.date(2026, 1, 10))
    _seen(lesion, dt.date(2026, 11, 30))

    assert followups_due([patient.clinic], today=dt.date(2026, 12, 8)) == []
    assert next_followup(lesion, last_seen=dt.date(2026, 11, 30)) == dt.date(2027, 2, 28)


def test_a_lesion_without_photos_is_due_from_when_it_was_recorded(patient: Patient) -> None:
    lesion = LesionFactory(patient=patient, followup_interval_months=1)
    recorded = lesion.created_at.date()

    items = followups_due([patient.clinic], today=add_months(recorded, 2))

    assert [(item.lesion, item.last_seen) for item in items] == [(lesion, recorded)]


def test_histology_is_pending_until_a_histopathology_result_is_recorded(patient: Patient) -> None:
    biopsied = LesionFactory(patient=patient, label="biopsied", status="biopsied")
    excised = LesionFactory(patient=patient, label="excised", status="excised")
    by_consensus = LesionFactory(
        patient=patient,
        label="consensus only",
        status="excised",
        diagnosis="nv",
        histopathology="naevus_unspecified",
        diagnosis_confirmation="consensus",
    )
    LesionFactory(
        patient=patient,
        label="done",
        status="excised",
        diagnosis="bcc",
        histopathology="basal_cell_carcinoma",
        diagnosis_confirmation="histo",
    )
    LesionFactory(patient=patient, label="monitored")

    assert {item.lesion for item in histology_pending([patient.clinic])} == {biopsied, excised, by_consensus}


def test_other_clinics_lesions_are_never_listed(patient: Patient, other_clinic: Any) -> None:
    theirs = LesionFactory(patient=PatientFactory(clinic=other_clinic), status="biopsied", followup_interval_months=1)
    _seen(theirs, dt.date(2020, 1, 1))

    assert histology_pending([patient.clinic]) == []
    assert followups_due([patient.clinic], today=dt.date(2026, 12, 8)) == []


# --- the page: lists that fill and empty ------------------------------------------------------------


def test_the_page_lists_a_due_follow_up_until_a_visit_is_recorded(clinician_client: Client, lesion: Lesion) -> None:
    Lesion.objects.filter(pk=lesion.pk).update(followup_interval_months=3)
    _seen(lesion, timezone.localdate() - dt.timedelta(days=120))
    url = reverse("clinic-worklists")

    page = clinician_client.get(url).content.decode()
    assert 'id="followups-due"' in page and f'data-lesion="{lesion.uuid}"' in page
    assert f"{reverse('visit-create', args=[lesion.patient.uuid])}?lesion={lesion.uuid}" in page  # where it is done

    clinician_client.post(
        reverse("visit-create", args=[lesion.patient.uuid]),
        visit_form_data({"lesion": str(lesion.uuid), "photo": sample_photo()}, date=timezone.localdate().isoformat()),
    )

    page = clinician_client.get(url).content.decode()
    assert 'id="followups-due"' not in page and "No follow-up is due." in page


def test_the_page_lists_histology_pending_until_the_result_is_entered(clinician_client: Client, lesion: Lesion) -> None:
    Lesion.objects.filter(pk=lesion.pk).update(status="biopsied")
    url = reverse("clinic-worklists")

    page = clinician_client.get(url).content.decode()
    assert 'id="histology-pending"' in page and reverse("lesion-histopathology", args=[lesion.uuid]) in page

    clinician_client.post(
        reverse("lesion-histopathology", args=[lesion.uuid]),
        {
            "histopathology": "dysplastic_naevus",
            "diagnosis_confirmation": "histo",
            "diagnosis_date": timezone.localdate().isoformat(),
            "status": "excised",
        },
    )

    page = clinician_client.get(url).content.decode()
    assert 'id="histology-pending"' not in page and "No histology result is awaited." in page


def test_the_page_shows_the_open_flags_of_the_flags_page(
    clinician_client: Client, clinician: Any, lesion_image: Any
) -> None:
    flag = LesionFlag.objects.create(
        lesion=lesion_image.lesion, photo=lesion_image, code="melanoma", title="Suspicious for melanoma", detail="x"
    )

    page = clinician_client.get(reverse("clinic-worklists")).content.decode()

    assert 'id="flags-awaiting-review"' in page and "Suspicious for melanoma" in page
    flag_review(flag=flag, reviewed_by=clinician, reason="benign on dermoscopy")
    assert "No flag awaits review." in clinician_client.get(reverse("clinic-worklists")).content.decode()


def test_the_navigation_links_the_worklists(clinician_client: Client) -> None:
    page = clinician_client.get(reverse("patient-list")).content.decode()

    assert f'href="{reverse("clinic-worklists")}"' in page
    assert 'class="nav-toggle"' in page and 'aria-expanded="false"' in page  # the phone menu button


def test_the_page_needs_a_login(client: Client) -> None:
    response = client.get(reverse("clinic-worklists"))

    assert response.status_code == 302 and "/accounts/login/" in response.url


# --- the API ------------------------------------------------------------------------------------------


def test_the_api_answers_the_three_lists_with_lesion_ids_and_urls(clinician: Any, patient: Patient) -> None:
    due = LesionFactory(patient=patient, label="due", followup_interval_months=3)
    _seen(due, timezone.localdate() - dt.timedelta(days=200))
    pending = LesionFactory(patient=patient, label="pending", status="biopsied")

    body = token_client(clinician).get(reverse("api-worklists")).json()

    assert set(body) == {"flags_awaiting_review", "followups_due", "histology_pending"}
    assert body["flags_awaiting_review"] == []
    [item] = body["followups_due"]
    assert item["id"] == str(due.uuid)
    assert item["url"].endswith(reverse("api-lesion-detail", kwargs={"uuid": due.uuid}))
    assert item["overdue"] is True and item["interval_months"] == 3
    assert item["patient"]["id"] == str(patient.uuid) and item["patient"]["name"] == patient.full_name
    assert "overdue" in item["what"] and item["due_date"]
    [item] = body["histology_pending"]
    assert item["id"] == str(pending.uuid) and item["status"] == "biopsied"
    assert item["action_url"].endswith(reverse("lesion-histopathology", args=[pending.uuid]))


def test_the_api_lists_nothing_of_other_clinics(outsider: Any, patient: Patient) -> None:
    LesionFactory(patient=patient, status="biopsied")

    body = token_client(outsider).get(reverse("api-worklists")).json()

    assert body == {"flags_awaiting_review": [], "followups_due": [], "histology_pending": []}


def test_the_api_needs_authentication() -> None:
    assert APIClient().get(reverse("api-worklists")).status_code == 401


def test_the_schema_documents_the_worklists(clinician: Any) -> None:
    schema = token_client(clinician).get(reverse("api-schema"), {"format": "json"}).json()

    operation = schema["paths"]["/api/v1/worklists/"]["get"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert set(schema["components"]["schemas"][ref]["properties"]) == {
        "flags_awaiting_review",
        "followups_due",
        "histology_pending",
    }
    lesion_fields = schema["components"]["schemas"]["Lesion"]["properties"]
    assert {"followup_interval_months", "histopathology", "breslow_thickness_mm", "ulceration"} <= set(lesion_fields)
