"""The checklists and assessment pages: pre-filled items, scores stored, sign-off, read-only, addenda."""

from __future__ import annotations

import re
from typing import Any

import pytest
from auditlog.models import LogEntry
from django.test import Client
from django.urls import reverse

from assessment.models import DermoscopyChecklist, VisitAddendum, VisitAssessment
from lesions.models import LesionImage, Patient
from tests.factories import LesionFactory, LesionImageFactory, LesionOutlineFactory, VisitFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def photo(patient: Patient) -> LesionImage:
    """An outlined photo: symmetric (0.01 / 0.01), compactness 1.02, one colour (the factory's outline)."""
    lesion = LesionFactory(patient=patient, label="Left calf naevus")
    image: LesionImage = LesionImageFactory(lesion=lesion, visit=VisitFactory(patient=patient))
    LesionOutlineFactory(image=image)
    return image


def checklist_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "atypical_network": "on",
        "regression": "on",
        "abcd_asymmetry": "0",
        "abcd_border": "0",
        "abcd_colours": "1",
        "abcd_structures": "2",
        "tp_asymmetry": "",
        "tp_atypical_network": "",
        "tp_blue_white": "",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_the_form_is_pre_filled_from_the_outline_and_says_so(clinician_client: Client, photo: LesionImage) -> None:
    response = clinician_client.get(reverse("checklist-edit", args=[photo.uuid]))

    assert response.status_code == 200
    body = response.content.decode()
    assert body.count("Pre-filled from the outline") == 3  # A, B and C; D is the clinician's
    assert 'name="abcd_colours" value="1"' in body
    assert "border compactness 1.02" in body


def test_saving_stores_the_scores_and_keeps_unconfirmed_suggestions_marked(
    clinician_client: Client, photo: LesionImage
) -> None:
    response = clinician_client.post(
        reverse("checklist-edit", args=[photo.uuid]), checklist_data(abcd_border="3", confirm_abcd_colours="on")
    )

    assert response.status_code == 302
    checklist = DermoscopyChecklist.objects.get(image=photo)
    assert checklist.seven_point_score == 3 and checklist.seven_point_suggests_melanoma
    assert checklist.total_dermoscopy_score == pytest.approx(0.3 + 0.5 + 1.0)
    assert checklist.tds_band == "benign"
    # border changed, colours confirmed: only asymmetry is still the outline's suggestion
    assert checklist.prefilled == ["abcd_asymmetry"]
    page = clinician_client.get(photo.visit.get_absolute_url()).content.decode()
    assert "7-point score <strong>3</strong>" in page and "TDS <strong>1.80</strong>" in page
    assert page.count("pre-filled from the outline") == 1


def test_an_item_out_of_range_is_a_form_error_and_nothing_is_stored(
    clinician_client: Client, photo: LesionImage
) -> None:
    response = clinician_client.post(reverse("checklist-edit", args=[photo.uuid]), checklist_data(abcd_border="9"))

    assert response.status_code == 400
    assert "less than or equal to 8" in response.content.decode()
    assert not DermoscopyChecklist.objects.exists()


def test_a_partial_abcd_rule_is_refused_naming_the_missing_item(clinician_client: Client, photo: LesionImage) -> None:
    response = clinician_client.post(reverse("checklist-edit", args=[photo.uuid]), checklist_data(abcd_structures=""))

    assert response.status_code == 400
    assert "missing: Differential structures" in response.content.decode()
    assert not DermoscopyChecklist.objects.exists()


def test_an_outsider_gets_404(login: Any, outsider: Any, photo: LesionImage) -> None:
    client = login(outsider)
    assert client.get(reverse("checklist-edit", args=[photo.uuid])).status_code == 404
    assert client.post(reverse("visit-sign", args=[photo.visit.uuid])).status_code == 404


def assess(client: Client, visit: Any, **changes: str) -> Any:
    data = {"impression": "Dysplastic naevus", "differential": "melanoma in situ", "plan": "excise", "notes": ""}
    data.update(changes)
    return client.post(reverse("visit-assessment", args=[visit.uuid]), data)


def test_signing_needs_an_impression_and_a_plan(clinician_client: Client, photo: LesionImage) -> None:
    visit = photo.visit
    response = clinician_client.post(reverse("visit-sign", args=[visit.uuid]))
    assert response.status_code == 400
    assert "Give the impression and the plan before signing" in response.content.decode()

    assert assess(clinician_client, visit, plan="").status_code == 302
    response = clinician_client.post(reverse("visit-sign", args=[visit.uuid]))
    assert response.status_code == 400 and "Give the plan" in response.content.decode()
    assert VisitAssessment.objects.get(visit=visit).signed_at is None


def test_a_bad_plan_is_a_form_error(clinician_client: Client, photo: LesionImage) -> None:
    response = assess(clinician_client, photo.visit, plan="amputate")
    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()
    assert not VisitAssessment.objects.exists()


def test_a_signed_visit_is_read_only_and_takes_addenda(
    clinician_client: Client, clinician: Any, photo: LesionImage
) -> None:
    visit = photo.visit
    assert assess(clinician_client, visit).status_code == 302
    assert clinician_client.post(reverse("checklist-edit", args=[photo.uuid]), checklist_data()).status_code == 302
    assert clinician_client.post(reverse("visit-sign", args=[visit.uuid])).status_code == 302

    assessment = VisitAssessment.objects.get(visit=visit)
    assert assessment.signed_by == clinician and assessment.signed_at is not None
    refused = assess(clinician_client, visit, impression="Changed my mind")
    assert refused.status_code == 409 and "signed and read-only" in refused.content.decode()
    assert clinician_client.post(reverse("checklist-edit", args=[photo.uuid]), checklist_data()).status_code == 409
    assert clinician_client.post(reverse("visit-sign", args=[visit.uuid])).status_code == 409
    assessment.refresh_from_db()
    assert assessment.impression == "Dysplastic naevus"

    response = clinician_client.post(reverse("visit-addendum", args=[visit.uuid]), {"text": "Histology requested."})
    assert response.status_code == 302
    addendum = VisitAddendum.objects.get(visit=visit)
    assert addendum.author == clinician
    assert LogEntry.objects.get_for_object(addendum).filter(action=LogEntry.Action.CREATE).exists()
    page = clinician_client.get(visit.get_absolute_url()).content.decode()
    assert "Histology requested." in page and "read-only" in page
    assert reverse("visit-assessment", args=[visit.uuid]) not in page  # no edit link left
    assert reverse("checklist-edit", args=[photo.uuid]) not in page


def test_an_addendum_sent_twice_from_one_form_is_added_once(clinician_client: Client, photo: LesionImage) -> None:
    visit = photo.visit
    assess(clinician_client, visit)
    clinician_client.post(reverse("visit-sign", args=[visit.uuid]))
    page = clinician_client.get(visit.get_absolute_url()).content.decode()
    key = re.search(r'name="form_key" value="([0-9a-f]+)"', page)
    assert key is not None  # the addendum form on the visit page carries its key
    sent = {"text": "Margins clear.", "form_key": key.group(1)}

    first = clinician_client.post(reverse("visit-addendum", args=[visit.uuid]), sent)
    again = clinician_client.post(reverse("visit-addendum", args=[visit.uuid]), sent)  # a double click
    other = clinician_client.post(reverse("visit-addendum", args=[visit.uuid]), {**sent, "text": "Changed"})

    assert first.status_code == 302 and again.status_code == 302 and again["Location"] == first["Location"]
    assert other.status_code == 400 and "already saved" in other.content.decode()
    assert list(VisitAddendum.objects.filter(visit=visit).values_list("text", flat=True)) == ["Margins clear."]


def test_an_empty_addendum_or_one_to_an_unsigned_visit_is_refused(clinician_client: Client, photo: LesionImage) -> None:
    visit = photo.visit
    response = clinician_client.post(reverse("visit-addendum", args=[visit.uuid]), {"text": "Too early"})
    assert response.status_code == 400 and "Only a signed visit takes addenda" in response.content.decode()
    assess(clinician_client, visit)
    clinician_client.post(reverse("visit-sign", args=[visit.uuid]))
    response = clinician_client.post(reverse("visit-addendum", args=[visit.uuid]), {"text": "   "})
    assert response.status_code == 400
    assert not VisitAddendum.objects.exists()


def test_the_lesion_history_shows_each_visit_s_scores(
    clinician_client: Client, photo: LesionImage, clinician: Any
) -> None:
    from assessment import services

    services.checklist_save(image=photo, user=clinician, values={"blue_white_veil": True, "abcd_structures": 3})

    page = clinician_client.get(photo.lesion.get_absolute_url()).content.decode()

    assert (
        '<span class="visit-checklist">7-point <strong>2</strong> · TDS <strong>2.00</strong> (benign)</span>' in page
    )
