"""A lesion's place on the body map through the API: view, laterality, map_x, map_y, and body_site derived."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from rest_framework.test import APIClient

from lesions.models import Lesion, Patient
from tests.factories import LesionFactory


def _create(api: APIClient, patient: Patient, **body: Any) -> Any:
    return api.post(
        reverse("api-patient-lesions", args=[patient.uuid]), {"label": "Calf naevus", **body}, format="json"
    )


def test_a_point_on_the_back_of_the_left_calf_gives_the_site_and_side(api: APIClient, patient: Patient) -> None:
    response = _create(api, patient, view="posterior", map_x=0.36, map_y=0.8)

    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["view"], body["laterality"], body["body_site"]) == ("posterior", "left", "lower extremity")
    assert (body["map_x"], body["map_y"]) == (0.36, 0.8)
    lesion = Lesion.objects.get(uuid=body["id"])
    assert (lesion.body_site, lesion.laterality) == ("lower extremity", "left")


def test_a_side_contradicting_the_point_is_refused_and_nothing_stored(api: APIClient, patient: Patient) -> None:
    # The point is on the patient's right calf seen from behind (the viewer's right).
    response = _create(api, patient, view="posterior", laterality="left", map_x=0.64, map_y=0.8)

    assert response.status_code == 400
    assert "patient's right side of the posterior figure" in str(response.json())
    assert not Lesion.objects.exists()


def test_a_point_without_its_view_or_half_a_point_or_off_the_figure_is_a_400(api: APIClient, patient: Patient) -> None:
    no_view = _create(api, patient, map_x=0.3, map_y=0.5)
    half = _create(api, patient, view="anterior", map_x=0.3)
    outside = _create(api, patient, view="anterior", map_x=1.4, map_y=0.5)
    bad_view = _create(api, patient, view="sideways", map_x=0.3, map_y=0.5)
    nothing = _create(api, patient)

    assert [r.status_code for r in (no_view, half, outside, bad_view, nothing)] == [400] * 5
    assert "Say which figure the point is on" in str(no_view.json())
    assert "map_y" in str(half.json())
    assert "map_x" in str(outside.json())
    assert "body map" in str(nothing.json())
    assert not Lesion.objects.exists()


def test_a_site_without_a_point_is_drawn_at_its_centre_on_its_side(api: APIClient, patient: Patient) -> None:
    response = _create(api, patient, body_site="lower extremity", laterality="left", view="posterior")

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["view"] == "posterior"
    assert body["map_x"] < 0.5  # the patient's left is on the viewer's left from behind
    assert body["laterality"] == "left"


def test_moving_the_point_takes_the_site_and_side_from_the_new_point(api: APIClient, patient: Patient) -> None:
    lesion = Lesion.objects.get(uuid=_create(api, patient, view="posterior", map_x=0.36, map_y=0.8).json()["id"])

    response = api.patch(
        reverse("api-lesion-detail", args=[lesion.uuid]),
        {"view": "anterior", "map_x": 0.5, "map_y": 0.1},
        format="json",
    )

    assert response.status_code == 200, response.content
    assert (response.json()["body_site"], response.json()["laterality"]) == ("head/neck", "midline")


def test_a_given_site_wins_over_the_derived_one(api: APIClient, patient: Patient) -> None:
    # A lesion of the lip: the point is on the head, the clinician says oral.
    response = _create(api, patient, view="anterior", map_x=0.5, map_y=0.13, body_site="oral/genital")

    assert response.json()["body_site"] == "oral/genital"


def test_lesions_stored_before_the_map_had_points_are_listed_at_their_sites_centre(
    api: APIClient, patient: Patient
) -> None:
    old = LesionFactory(patient=patient, body_site=Lesion.BodySite.POSTERIOR_TORSO)

    body = api.get(reverse("api-lesion-detail", args=[old.uuid])).json()

    assert (body["body_site"], body["view"], body["laterality"]) == ("posterior torso", "", "")
    assert old.map_point.view == "posterior"


def test_the_migration_places_existing_lesions_at_their_sites_centre(patient: Patient) -> None:
    from importlib import import_module

    from django.apps import apps

    migration = import_module("lesions.migrations.0008_lesion_location_and_patient_search")
    old = LesionFactory(patient=patient, body_site=Lesion.BodySite.LOWER_EXTREMITY)
    Patient.objects.filter(pk=patient.pk).update(search_text="")

    migration.place_existing_lesions(apps, None)

    old.refresh_from_db()
    patient.refresh_from_db()
    assert (old.view, old.body_site, old.laterality) == ("anterior", "lower extremity", "")
    assert old.map_x is not None and old.map_y is not None
    assert patient.search_text == f"{patient.first_name} {patient.last_name} {patient.medical_record_number}".lower()
