"""The checklists and assessment in the API: shapes, scores, 400 on bad input, 409 once signed, 404 outside."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from assessment import services
from assessment.models import DermoscopyChecklist, VisitAssessment, VisitSigned
from lesions import services as lesion_services
from lesions.models import LesionImage, Patient
from tests.factories import LesionFactory, LesionImageFactory, LesionOutlineFactory, VisitFactory
from tests.helpers import photo_upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def photo(patient: Patient) -> LesionImage:
    image: LesionImage = LesionImageFactory(lesion=LesionFactory(patient=patient), visit=VisitFactory(patient=patient))
    LesionOutlineFactory(image=image)
    return image


def checklist_url(image: LesionImage) -> str:
    return reverse("api-image-checklist", args=[image.uuid])


def test_a_new_checklist_comes_pre_filled_and_marked(api_as: Callable[[str], APIClient], photo: LesionImage) -> None:
    body = api_as("clinician").get(checklist_url(photo)).json()

    assert body["abcd_asymmetry"] == 0 and body["abcd_border"] == 0 and body["abcd_colours"] == 1
    assert body["abcd_structures"] is None and body["total_dermoscopy_score"] is None
    assert body["prefilled"] == ["abcd_asymmetry", "abcd_border", "abcd_colours"]
    assert not DermoscopyChecklist.objects.exists()  # reading stores nothing


def test_put_stores_the_items_and_returns_the_scores(api_as: Callable[[str], APIClient], photo: LesionImage) -> None:
    response = api_as("clinician").put(
        checklist_url(photo),
        {"blue_white_veil": True, "irregular_dots": True, "abcd_structures": 4, "confirmed": ["abcd_asymmetry"]},
        format="json",
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["seven_point_score"] == 3 and body["seven_point_suggests_melanoma"] is True
    assert body["total_dermoscopy_score"] == pytest.approx(0.5 + 2.0)
    assert body["tds_band"] == "benign"
    assert body["prefilled"] == ["abcd_border", "abcd_colours"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"abcd_colours": 7}, "abcd_colours"),
        ({"abcd_border": -1}, "abcd_border"),
        ({"blue_white_veil": "maybe"}, "blue_white_veil"),
        ({"confirmed": ["abcd_structures"]}, "confirmed"),
    ],
)
def test_bad_items_are_a_400_naming_the_item(
    api_as: Callable[[str], APIClient], photo: LesionImage, payload: dict[str, Any], field: str
) -> None:
    response = api_as("clinician").put(checklist_url(photo), payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert not DermoscopyChecklist.objects.exists()


def test_half_an_abcd_rule_is_a_400(api_as: Callable[[str], APIClient], patient: Patient) -> None:
    image = LesionImageFactory(
        lesion=LesionFactory(patient=patient), visit=VisitFactory(patient=patient)
    )  # not outlined
    response = api_as("clinician").put(checklist_url(image), {"abcd_asymmetry": 1}, format="json")

    assert response.status_code == 400
    assert "missing: Border" in str(response.json())


def test_sign_then_changes_are_409_and_addenda_201(api_as: Callable[[str], APIClient], photo: LesionImage) -> None:
    client = api_as("clinician")
    visit = photo.visit
    url = reverse("api-visit-assessment", args=[visit.uuid])
    sign = reverse("api-visit-sign", args=[visit.uuid])

    assert client.post(sign).status_code == 400  # nothing to sign yet
    assert (
        client.put(url, {"impression": "Seborrhoeic keratosis", "plan": "discharge"}, format="json").status_code == 200
    )
    signed = client.post(sign)
    assert signed.status_code == 200
    assert signed.json()["signed"] is True and signed.json()["signed_by"]

    refused = client.put(url, {"plan": "excise"}, format="json")
    assert refused.status_code == 409 and "signed and read-only" in refused.json()["detail"]
    assert client.put(checklist_url(photo), {"regression": True}, format="json").status_code == 409
    assert client.post(sign).status_code == 409
    assert VisitAssessment.objects.get(visit=visit).plan == "discharge"

    added = client.post(reverse("api-visit-addenda", args=[visit.uuid]), {"text": "Patient called."}, format="json")
    assert added.status_code == 201
    assert [a["text"] for a in added.json()["addenda"]] == ["Patient called."]


def test_a_bad_plan_is_400(api_as: Callable[[str], APIClient], photo: LesionImage) -> None:
    url = reverse("api-visit-assessment", args=[photo.visit.uuid])
    response = api_as("clinician").put(url, {"plan": "wait"}, format="json")
    assert response.status_code == 400 and "plan" in response.json()


@pytest.mark.parametrize("caller", ["outsider", "anonymous"])
def test_others_cannot_read_or_write(api_as: Callable[[str], APIClient], photo: LesionImage, caller: str) -> None:
    client = api_as(caller)
    expected = 404 if caller == "outsider" else 401
    assert client.get(checklist_url(photo)).status_code == expected
    assert client.put(checklist_url(photo), {"regression": True}, format="json").status_code == expected
    assert client.get(reverse("api-visit-assessment", args=[photo.visit.uuid])).status_code == expected
    assert not DermoscopyChecklist.objects.exists()


def test_a_photo_for_a_signed_visit_is_409_and_today_s_next_photo_starts_a_new_visit(
    api_as: Callable[[str], APIClient], clinician: Any, patient: Patient
) -> None:
    from django.utils import timezone

    from lesions.models import Visit
    from tests.factories import make_jpeg
    from tests.helpers import upload

    client = api_as("clinician")
    lesion = LesionFactory(patient=patient)
    first = upload(client, lesion, make_jpeg())
    assert first.status_code == 201, first.json()
    visit = Visit.objects.get(uuid=first.json()["visit"])
    assert visit.date == timezone.localdate()
    services.assessment_save(visit=visit, user=clinician, impression="Naevus", plan="monitor")
    services.visit_sign(visit=visit, user=clinician)

    refused = upload(client, lesion, make_jpeg(), visit=str(visit.uuid))
    assert refused.status_code == 409 and "signed and read-only" in refused.json()["detail"]
    assert visit.images.count() == 1
    with pytest.raises(VisitSigned):  # the store itself refuses too, whoever calls it
        lesion_services.lesion_image_create(
            lesion=lesion,
            visit=visit,
            photo=lesion_services.photo_sanitize(photo_upload(make_jpeg())),
            image_type="dermoscopic",
            uploaded_by=clinician,
        )
    assert visit.images.count() == 1

    later = upload(client, lesion, make_jpeg())
    assert later.status_code == 201
    assert later.json()["visit"] != str(visit.uuid)  # a new visit, the signed one untouched


@pytest.mark.parametrize("path", ["checklist", "assessment", "assessment/sign", "assessment/addenda"])
def test_options_is_answered_not_a_500(api_as: Callable[[str], APIClient], photo: LesionImage, path: str) -> None:
    # schemathesis found OPTIONS on these routes raising inside DRF's metadata (a 500)
    owner = photo if path == "checklist" else photo.visit
    kind = "images" if path == "checklist" else "visits"
    response = api_as("clinician").options(f"/api/v1/{kind}/{owner.uuid}/{path}/")
    assert response.status_code in (200, 405)
