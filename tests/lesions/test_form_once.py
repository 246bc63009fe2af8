"""Forms that create records are carried out once per rendered form (``form_key``): a double click saves once."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from lesions.models import IdempotencyKey, Lesion, LesionImage, Patient, Visit
from tests.factories import NEW_LESION, NEW_PATIENT, visit_form_data
from tests.helpers import sample_photo


def _key_of(page: str) -> str:
    marker = 'name="form_key" value="'
    assert marker in page
    return page.split(marker, 1)[1].split('"', 1)[0]


def test_each_form_shown_carries_its_own_key(clinician_client: Client, patient: Patient) -> None:
    url = reverse("visit-create", args=[patient.uuid])

    first, second = (_key_of(clinician_client.get(url).content.decode()) for _ in range(2))

    assert first != second and len(first) == 32


def test_a_patient_form_sent_twice_adds_one_patient(clinician_client: Client, clinic: Any) -> None:
    url = reverse("patient-create")
    data = {**NEW_PATIENT, "clinic": clinic.pk, "form_key": _key_of(clinician_client.get(url).content.decode())}

    first = clinician_client.post(url, data)
    second = clinician_client.post(url, data, follow=True)

    assert Patient.objects.filter(medical_record_number="RD-5001").count() == 1
    assert second.redirect_chain[-1][0] == first.url
    assert "already been sent" in second.content.decode()


def test_a_lesion_form_sent_twice_adds_one_lesion(clinician_client: Client, patient: Patient) -> None:
    url = reverse("lesion-create", args=[patient.uuid])
    data = {**NEW_LESION, "form_key": _key_of(clinician_client.get(url).content.decode())}

    first, second = clinician_client.post(url, data), clinician_client.post(url, data)

    assert patient.lesions.count() == 1
    assert first.status_code == second.status_code == 302 and first.url == second.url


def test_a_visit_with_a_photo_sent_twice_is_one_visit_and_one_photo(clinician_client: Client, lesion: Lesion) -> None:
    url = reverse("visit-create", args=[lesion.patient.uuid])
    key = _key_of(clinician_client.get(url).content.decode())

    def send() -> Any:
        data = visit_form_data({"lesion": str(lesion.uuid), "photo": sample_photo()}, date="2026-11-01")
        return clinician_client.post(url, {**data, "form_key": key})

    first, second = send(), send()

    assert (Visit.objects.count(), LesionImage.objects.count()) == (1, 1)
    assert first.url == second.url == Visit.objects.get().get_absolute_url()


def test_a_visit_with_new_lesions_sent_twice_makes_each_lesion_once(clinician_client: Client, patient: Patient) -> None:
    url = reverse("visit-create", args=[patient.uuid])
    key = _key_of(clinician_client.get(url).content.decode())
    row = {"new_lesion_label": "Left calf", "new_lesion_body_site": "lower extremity"}

    for _ in range(2):
        clinician_client.post(url, {**visit_form_data({**row, "photo": sample_photo()}), "form_key": key})

    assert list(patient.lesions.values_list("label", flat=True)) == ["Left calf"]


def test_a_refused_form_leaves_its_key_unused(clinician_client: Client, patient: Patient) -> None:
    url = reverse("lesion-create", args=[patient.uuid])
    key = _key_of(clinician_client.get(url).content.decode())

    refused = clinician_client.post(url, {**NEW_LESION, "body_site": "", "form_key": key})
    accepted = clinician_client.post(url, {**NEW_LESION, "form_key": _key_of(refused.content.decode())})

    assert refused.status_code == 200 and _key_of(refused.content.decode()) == key  # shown again with its key
    assert accepted.status_code == 302 and patient.lesions.count() == 1


def test_a_saved_form_sent_again_with_other_content_is_refused(clinician_client: Client, patient: Patient) -> None:
    url = reverse("lesion-create", args=[patient.uuid])
    key = _key_of(clinician_client.get(url).content.decode())
    clinician_client.post(url, {**NEW_LESION, "form_key": key})

    again = clinician_client.post(url, {**NEW_LESION, "label": "Another one", "form_key": key})

    assert again.status_code == 200
    assert "already saved" in " ".join(again.context["form"].non_field_errors())
    assert patient.lesions.count() == 1


def test_a_form_without_a_key_still_works(clinician_client: Client, patient: Patient) -> None:
    response = clinician_client.post(reverse("lesion-create", args=[patient.uuid]), NEW_LESION)

    assert response.status_code == 302 and patient.lesions.count() == 1
    assert not IdempotencyKey.objects.exists()


def test_the_message_says_the_photos_are_stored_without_analysis_when_no_model_is_active(
    clinician_client: Client, lesion: Lesion
) -> None:
    response = clinician_client.post(
        reverse("visit-create", args=[lesion.patient.uuid]),
        visit_form_data({"lesion": str(lesion.uuid), "photo": sample_photo()}),
        follow=True,
    )

    page = response.content.decode()
    assert "saved with 1 photo(s)" in page and "No analysis model is active" in page
    assert "analysis has started" not in page


def test_the_photo_input_offers_the_camera_with_a_preview(clinician_client: Client, patient: Patient) -> None:
    page = clinician_client.get(reverse("visit-create", args=[patient.uuid])).content.decode()

    assert 'accept="image/*"' in page and 'capture="environment"' in page and "data-preview" in page
    assert "data-busy-form" in page and "js/capture.js" in page


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)  # the analysis runs when the visit's transaction commits, as in production
@pytest.mark.usefixtures("tiny_weights_dir")
def test_the_message_says_the_analysis_finished_when_it_ran_in_the_request(
    login: Any, clinician: Any, lesion: Lesion
) -> None:
    response = login(clinician).post(
        reverse("visit-create", args=[lesion.patient.uuid]),
        visit_form_data({"lesion": str(lesion.uuid), "photo": sample_photo()}),
        follow=True,
    )

    assert "Analysis finished for 1 photo(s)." in response.content.decode()


def test_the_message_says_the_analysis_is_queued_when_a_worker_will_run_it(
    clinician_client: Client, lesion: Lesion, tiny_weights_dir: Any
) -> None:
    # Inside the test's transaction nothing commits: the analysis stays queued, as with a Celery worker.
    response = clinician_client.post(
        reverse("visit-create", args=[lesion.patient.uuid]),
        visit_form_data({"lesion": str(lesion.uuid), "photo": sample_photo()}),
        follow=True,
    )

    assert "Analysis queued for 1 photo(s)" in response.content.decode()
