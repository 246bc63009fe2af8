"""The audit trail page: filters, plain wording, one entry per list page, CSV export, styled 403."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Callable
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clinic.audit_trail import safe_cell
from clinic.models import Clinic
from lesions import services
from lesions.models import Patient
from tests.factories import PatientFactory

Login = Callable[[Any], Client]


@pytest.fixture
def ada(clinician: Any) -> Any:
    clinician.first_name, clinician.last_name = "Ada", "Okafor"
    clinician.save()
    return clinician


@pytest.fixture
def oskar(clinic: Clinic) -> Patient:
    return PatientFactory(clinic=clinic, first_name="Oskar", last_name="Nyström", medical_record_number="RD-77")


def _csv(response: Any) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))


def test_entries_read_as_sentences(login: Login, clinic_admin: Any, ada: Any, oskar: Patient) -> None:
    login(ada).get(oskar.get_absolute_url())
    lesion = services.lesion_create(patient=oskar, label="Back mole", body_site="posterior torso")
    services.lesion_update(lesion=lesion, status="biopsied")

    html = login(clinic_admin).get(reverse("audit-trail")).content.decode()

    assert "Ada Okafor viewed patient Oskar Nyström (RD-77)" in html
    assert "System added lesion &#x27;Back mole&#x27; of Oskar Nyström (RD-77)" in html  # no request: no actor
    assert "changed lesion &#x27;Back mole&#x27; of Oskar Nyström (RD-77)" in html


def test_a_list_page_is_one_entry_however_many_rows(login: Login, clinic_admin: Any, ada: Any, clinic: Clinic) -> None:
    PatientFactory.create_batch(4, clinic=clinic)

    login(ada).get(reverse("patient-list"))

    lines = login(clinic_admin).get(reverse("audit-trail"), {"action": LogEntry.Action.ACCESS}).context["lines"]
    assert [line.sentence for line in lines] == ["Ada Okafor viewed the patient list (4 patients)"]


def test_the_patient_filter_finds_the_patients_own_entries_and_the_lists_that_showed_them(
    login: Login, clinic_admin: Any, ada: Any, oskar: Patient, clinic: Clinic
) -> None:
    other = PatientFactory(clinic=clinic, last_name="Other")
    client = login(ada)
    client.get(oskar.get_absolute_url())
    client.get(other.get_absolute_url())
    client.get(reverse("patient-list"), {"q": "other"})  # a list without Oskar
    client.get(reverse("patient-list"), {"q": "oskar"})  # a list with him

    response = login(clinic_admin).get(reverse("audit-trail"), {"patient": "rd-77", "action": LogEntry.Action.ACCESS})

    sentences = [line.sentence for line in response.context["lines"]]
    assert sentences == [
        "Ada Okafor viewed the patient list (1 patient)",
        "Ada Okafor viewed patient Oskar Nyström (RD-77)",
    ]
    by_uuid = login(clinic_admin).get(reverse("audit-trail"), {"patient": str(oskar.uuid)})
    assert len(by_uuid.context["lines"]) == 3  # and the patient's creation


def test_an_unknown_or_other_clinics_patient_is_a_400_naming_it(
    login: Login, clinic_admin: Any, other_clinic: Clinic
) -> None:
    PatientFactory(clinic=other_clinic, medical_record_number="ELSE-1")

    response = login(clinic_admin).get(reverse("audit-trail"), {"patient": "ELSE-1"})

    assert response.status_code == 400
    assert "No patient of your clinic has the record number or id &#x27;ELSE-1&#x27;." in response.content.decode()


def test_the_date_range_narrows_and_bad_dates_are_form_errors(
    login: Login, clinic_admin: Any, ada: Any, oskar: Patient
) -> None:
    login(ada).get(oskar.get_absolute_url())
    today = timezone.localdate()
    admin = login(clinic_admin)

    def count(**params: Any) -> int:
        return len(admin.get(reverse("audit-trail"), {"action": LogEntry.Action.ACCESS, **params}).context["lines"])

    assert count(date_from=today.isoformat(), date_to=today.isoformat()) == 1
    assert count(date_to=(today - dt.timedelta(days=1)).isoformat()) == 0
    assert count(date_from=(today + dt.timedelta(days=1)).isoformat()) == 0
    bad = admin.get(reverse("audit-trail"), {"date_from": "2026-02-30"})
    backwards = admin.get(reverse("audit-trail"), {"date_from": "2026-03-02", "date_to": "2026-03-01"})
    assert bad.status_code == backwards.status_code == 400
    assert "Enter a valid date." in bad.content.decode()
    assert "The end date 2026-03-01 is before the start date 2026-03-02." in backwards.content.decode()


def test_the_user_and_action_filters_combine(login: Login, clinic_admin: Any, ada: Any, oskar: Patient) -> None:
    login(ada).get(oskar.get_absolute_url())
    login(clinic_admin).get(oskar.get_absolute_url())

    response = login(clinic_admin).get(
        reverse("audit-trail"), {"actor": ada.username, "action": LogEntry.Action.ACCESS}
    )

    assert [line.who for line in response.context["lines"]] == ["Ada Okafor"]
    html = response.content.decode()
    assert f'<option value="{ada.username}">' in html  # the user box suggests the clinic's members
    assert 'name="actor"' in html and 'name="patient"' in html and 'name="date_from"' in html


def test_the_csv_export_has_the_pages_filters_and_cannot_run_formulas(
    login: Login, clinic_admin: Any, ada: Any, clinic: Clinic
) -> None:
    evil = PatientFactory(clinic=clinic, first_name='=HYPERLINK("http://x")', last_name="Evil")
    login(ada).get(evil.get_absolute_url())
    login(clinic_admin).get(evil.get_absolute_url())

    response = login(clinic_admin).get(reverse("audit-trail-csv"), {"actor": ada.username})

    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="audit-trail-')
    header, *rows = _csv(response)
    assert header[:5] == ["time (UTC)", "user", "username", "action", "entry"]
    assert len(rows) == 1
    assert rows[0][1:4] == ["Ada Okafor", ada.username, "viewed"]
    assert rows[0][4] == 'Ada Okafor viewed patient =HYPERLINK("http://x") Evil (' + evil.medical_record_number + ")"


def test_cells_that_a_spreadsheet_would_run_are_quoted() -> None:
    assert [safe_cell(v) for v in ("=1+1", "+1", "-2", "@SUM(A1)", "\tx", "plain", None)] == [
        "'=1+1",
        "'+1",
        "'-2",
        "'@SUM(A1)",
        "'\tx",
        "plain",
        "",
    ]


def test_a_csv_with_bad_filters_is_a_400_naming_them(login: Login, clinic_admin: Any) -> None:
    response = login(clinic_admin).get(reverse("audit-trail-csv"), {"date_to": "yesterday"})

    assert response.status_code == 400
    assert "To: Enter a valid date." in response.content.decode()


def test_a_clinician_gets_the_styled_403_for_the_trail_and_its_csv(login: Login, clinician: Any) -> None:
    page = login(clinician).get(reverse("audit-trail"))
    export = login(clinician).get(reverse("audit-trail-csv"))

    assert page.status_code == export.status_code == 403
    html = page.content.decode()
    assert "You do not have access to this page" in html
    assert "Only a clinic admin can read the audit trail." in html
    assert 'href="/static/css/app.css"' in html or "app.css" in html
    assert "topnav" in html  # the page has the site's navigation, not a bare "403 Forbidden"


def test_an_analysis_and_a_photo_are_named_by_their_lesion_and_patient(
    login: Login, clinic_admin: Any, prediction: Any
) -> None:
    image = prediction.image
    lesion, patient = image.lesion, image.lesion.patient

    sentences = [line.sentence for line in login(clinic_admin).get(reverse("audit-trail")).context["lines"]]

    photo = f"a photo of lesion '{lesion.label}' of {patient} ({image.visit.date:%Y-%m-%d})"
    assert f"System added {photo}" in sentences
    assert any(s.startswith("System added the ") and s.endswith(f" of {photo}") for s in sentences), sentences
