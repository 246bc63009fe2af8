"""The audit trail: reads and changes of patient data from pages, files and admin."""

from __future__ import annotations

import pytest
from auditlog.models import LogEntry
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse

from clinic.audit import AuditTrailIsAppendOnly
from lesions.models import LesionImage, Patient
from tests.factories import PatientFactory


def entries_for(instance, action: int) -> list[LogEntry]:
    return list(LogEntry.objects.get_for_object(instance).filter(action=action))


def test_opening_a_patient_page_is_recorded_with_user_and_address(clinician_client, clinician, patient):
    clinician_client.get(reverse("patient-detail", args=[patient.uuid]), REMOTE_ADDR="10.1.2.3")
    (entry,) = entries_for(patient, LogEntry.Action.ACCESS)
    assert entry.actor == clinician
    assert entry.remote_addr == "10.1.2.3"
    assert entry.additional_data == {"clinic_id": patient.clinic_id, "patient_id": patient.pk}


def test_the_patient_list_records_one_read_per_page_shown_naming_its_patients(clinician_client, clinician, clinic):
    shown = PatientFactory.create_batch(3, clinic=clinic)
    clinician_client.get(reverse("patient-list"))
    (entry,) = LogEntry.objects.filter(action=LogEntry.Action.ACCESS)
    assert entry.actor == clinician
    assert entry.object_repr == "Patient list (3 patients)"
    assert entry.additional_data["clinic_id"] == clinic.pk
    assert (
        entry.additional_data["patients"] == "," + ",".join(str(p.pk) for p in sorted(shown, key=lambda p: p.pk)) + ","
    )


def test_a_change_through_the_page_is_recorded_with_the_changed_fields(clinician_client, clinician, patient):
    clinician_client.post(
        reverse("patient-edit", args=[patient.uuid]),
        {
            "medical_record_number": patient.medical_record_number,
            "first_name": "Renamed",
            "last_name": patient.last_name,
            "sex": patient.sex,
        },
    )
    (entry,) = entries_for(patient, LogEntry.Action.UPDATE)
    assert entry.actor == clinician
    assert entry.changes_dict["first_name"][1] == "Renamed"


def test_a_photo_download_is_recorded(clinician_client, clinician, lesion_image):
    response = clinician_client.get(reverse("lesion-image-file", args=[lesion_image.uuid]))
    assert response.status_code == 200
    (entry,) = entries_for(lesion_image, LogEntry.Action.ACCESS)
    assert entry.actor == clinician


def test_an_outsiders_attempt_is_not_a_read(login, outsider, lesion_image):
    response = login(outsider).get(reverse("lesion-image-file", args=[lesion_image.uuid]))
    assert response.status_code == 404
    assert entries_for(lesion_image, LogEntry.Action.ACCESS) == []


def test_opening_a_record_in_the_admin_is_recorded(client, patient):
    admin_user = get_user_model().objects.create_superuser("root", "root@example.org", "pw-admin-1")
    client.force_login(admin_user)
    response = client.get(reverse("admin:lesions_patient_change", args=[patient.pk]))
    assert response.status_code == 200
    (entry,) = entries_for(patient, LogEntry.Action.ACCESS)
    assert entry.actor == admin_user


def test_entries_cannot_be_changed_or_deleted(clinician_client, patient):
    clinician_client.get(reverse("patient-detail", args=[patient.uuid]))
    entry = LogEntry.objects.get_for_object(patient).get(action=LogEntry.Action.ACCESS)
    entry.object_repr = "tampered"
    with pytest.raises(AuditTrailIsAppendOnly), transaction.atomic():
        entry.save()
    with pytest.raises(AuditTrailIsAppendOnly), transaction.atomic():
        entry.delete()
    assert LogEntry.objects.get(pk=entry.pk).object_repr != "tampered"


def test_a_clinic_admin_browses_their_clinics_trail_only(login, clinic_admin, clinician, outsider, patient):
    login(clinician).get(reverse("patient-detail", args=[patient.uuid]))
    elsewhere = PatientFactory(clinic=outsider.clinics.get(), last_name="Elsewhere")
    login(outsider).get(reverse("patient-detail", args=[elsewhere.uuid]))

    page = login(clinic_admin).get(reverse("audit-trail"))
    assert page.status_code == 200
    html = page.content.decode()
    assert str(patient) in html and clinician.username in html
    assert "Elsewhere" not in html


def test_a_clinician_cannot_browse_the_trail(login, clinician):
    assert login(clinician).get(reverse("audit-trail")).status_code == 403


def test_uploads_are_recorded_as_creations(clinician_client, clinician, lesion, photo_bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from tests.factories import visit_form_data

    clinician_client.post(
        reverse("visit-create", args=[lesion.patient.uuid]),
        visit_form_data({"lesion": lesion.uuid, "photo": SimpleUploadedFile("a.jpg", photo_bytes, "image/jpeg")}),
    )
    image = LesionImage.objects.get()
    (entry,) = entries_for(image, LogEntry.Action.CREATE)
    assert entry.actor == clinician
    assert Patient.objects.count() == 1


@pytest.mark.parametrize("forged", ["203.0.113.66", "not-an-ip<b>", "1.2.3.4, 5.6.7.8"])
def test_the_address_is_the_peers_not_a_forwarded_for_the_client_wrote(
    clinician_client, clinic_admin, patient, login, forged
):
    clinician_client.get(
        reverse("patient-detail", args=[patient.uuid]), REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR=forged
    )

    (entry,) = entries_for(patient, LogEntry.Action.ACCESS)
    assert entry.remote_addr == "10.1.2.3"
    trail = login(clinic_admin).get(reverse("audit-trail")).content.decode()
    assert "not-an-ip" not in trail and "203.0.113.66" not in trail


def test_behind_a_trusted_proxy_the_address_is_the_one_the_proxy_saw(clinician_client, patient, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    clinician_client.get(
        reverse("patient-detail", args=[patient.uuid]),
        REMOTE_ADDR="10.0.0.2",
        HTTP_X_FORWARDED_FOR="203.0.113.66, 198.51.100.7",
    )

    (entry,) = entries_for(patient, LogEntry.Action.ACCESS)
    assert entry.remote_addr == "198.51.100.7"


@pytest.mark.parametrize("action", ["%C2%B2", "99", "-1", "read", "1.0"])
def test_an_unknown_action_filter_is_a_400_with_a_message(login, clinic_admin, action):
    response = login(clinic_admin).get(reverse("audit-trail") + f"?action={action}")

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_an_overlong_actor_filter_is_a_400_with_a_message(login, clinic_admin):
    response = login(clinic_admin).get(reverse("audit-trail"), {"actor": "x" * 151})

    assert response.status_code == 400
    assert "at most 150 characters" in response.content.decode()


def test_the_filters_still_narrow_the_trail(login, clinic_admin, clinician, patient):
    login(clinician).get(reverse("patient-detail", args=[patient.uuid]))

    admin = login(clinic_admin)
    reads = admin.get(reverse("audit-trail"), {"action": LogEntry.Action.ACCESS, "actor": clinician.username})
    changes = admin.get(reverse("audit-trail"), {"action": LogEntry.Action.UPDATE, "actor": clinician.username})

    assert reads.status_code == changes.status_code == 200
    assert str(patient) in reads.content.decode()
    assert str(patient) not in changes.content.decode()
    assert f'value="{LogEntry.Action.ACCESS}" selected' in reads.content.decode()
